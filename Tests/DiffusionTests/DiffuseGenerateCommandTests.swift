// `diffuse txt2img / img2img / inpaint` as a user runs them: the built executable on the tiny
// SD model, checking exit status and messages for each bad input the issue lists, overwrite
// protection, and that `--from-png` regenerates the same PNG from its `parameters` chunk.
// The executable is found beside the test bundle (`swift test` builds it); when it is absent
// (a build without products) the test says so and stops.

import Diffusion
import Foundation
import Tensor
import Testing

/// Runs diffuse with `arguments`; returns (status, standard error).
private func run(_ executable: URL, _ arguments: [String]) throws -> (status: Int32, stderr: String) {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    let err = Pipe()
    process.standardError = err
    process.standardOutput = Pipe()
    try process.run()
    let data = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

@Suite("diffuse txt2img / img2img / inpaint")
struct DiffuseGenerateCommandTests {
    @Test("runs, writes the parameters, regenerates from them, refuses bad input with exit 1")
    func commands() throws {
        guard let diffuse = builtExecutable("diffuse") else {
            Issue.record("the diffuse executable was not found beside the test bundle; build it (swift build -c release)")
            return
        }
        let model = TinySD.url("tiny-sd1").path
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("diffuse-generate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let out = folder.appendingPathComponent("a.png").path, again = folder.appendingPathComponent("b.png").path
        let base = ["txt2img", "--model", model, "--prompt", "a red fox, in the snow", "--negative-prompt", "blurry",
                    "--width", "64", "--height", "64", "--steps", "3", "--sampler", "DPM++ 2M", "--seed", "5"]

        let first = try run(diffuse, base + ["--out", out, "--latents-out", folder.appendingPathComponent("a.safetensors").path])
        #expect(first.status == 0, "\(first.stderr)")
        let parameters = try #require(try PNGText.read(Data(contentsOf: URL(fileURLWithPath: out)))["parameters"])
        #expect(parameters.hasPrefix("a red fox, in the snow\nNegative prompt: blurry\nSteps: 3, Sampler: DPM++ 2M, CFG scale: 7.5, Seed: 5, Size: 64x64"), "\(parameters)")
        let latents = try SafetensorsFileProbe.names(folder.appendingPathComponent("a.safetensors"))
        #expect(latents == ["latents"])
        let regenerated = try run(diffuse, ["txt2img", "--model", model, "--from-png", out, "--out", again])
        #expect(regenerated.status == 0, "\(regenerated.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == Data(contentsOf: URL(fileURLWithPath: again)))

        let image = TinySD.url("pipeline-init.png").path, mask = TinySD.url("pipeline-mask.png").path
        let inpainted = try run(diffuse, ["inpaint", "--model", model, "--prompt", "x", "--init-image", image, "--mask", mask,
                                          "--steps", "2", "--out", folder.appendingPathComponent("c.png").path])
        #expect(inpainted.status == 0, "an ordinary model inpaints by latent blending: \(inpainted.stderr)")
        let smallMask = folder.appendingPathComponent("mask32.png")
        try PNG.write(Tensor(shape: [1, 32, 32], repeating: 1), to: smallMask)
        let bad: [([String], String)] = [
            (base + ["--out", out], "exists; pass --overwrite"),
            (base + ["--out", again, "--overwrite", "--width", "62"], "multiples of 4"),
            (base + ["--out", again, "--overwrite", "--steps", "0"], "--steps must be at least 1"),
            (base + ["--out", again, "--overwrite", "--sampler", "no such"], "unknown sampler \"no such\"; accepted names: euler"),
            (["txt2img", "--model", folder.appendingPathComponent("none").path, "--prompt", "x"], "does not exist"),
            (["img2img", "--model", model, "--prompt", "x", "--init-image", image, "--strength", "0"], "--strength must be in (0, 1]"),
            (["img2img", "--model", model, "--prompt", "x", "--init-image", out + ".missing"], "does not exist"),
            (["img2img", "--model", model, "--prompt", "x", "--init-image", model + "/model_index.json"], "is not a readable PNG image"),
            (["inpaint", "--model", model, "--prompt", "x", "--init-image", image, "--mask", smallMask.path], "--mask is 32x32 but"),
        ]
        for (arguments, message) in bad {
            let result = try run(diffuse, arguments)
            #expect(result.status == 1 && result.stderr.contains(message), "\(arguments): status \(result.status), \(result.stderr)")
        }
    }
}

/// The tensor names of a safetensors file.
private enum SafetensorsFileProbe {
    static func names(_ url: URL) throws -> [String] { try SafetensorsFile(contentsOf: url).names.sorted() }
}
