// Stable Diffusion 1.5 at full size: one UNet call at batch 2 (classifier-free guidance) on a
// 64x64 latent with 77-token text states, one VAE decode of a 64x64 latent to 512x512, and the
// text encoder at batch 2 — on random weights with the real SD 1.5 configurations, stored in
// F16 as a diffusers folder (`tools/make_sd_fixtures.py --full-size DIR`; weights cannot be
// downloaded here). The folder comes from `$SWIFTDIFFUSION_SD15_RANDOM`; without it these cases
// are left out with a note. tools/bench_reference.py times diffusers/transformers in float32 on
// the same folder, inputs and threads, under the same names. Weights stay 16-bit in memory
// (widened where the kernels pack them), as `StableDiffusionCheckpoint` loads them by default.
//
// `bench --sd15-peak-memory` measures the peak resident memory (getrusage's ru_maxrss) of a
// fresh process that loads all three models from the F16 folder and runs one UNet call and one
// decode, and the same for diffusers (fp32) in a fresh Python process. As a pipeline does, the
// text encoder's mapped weights are released after encoding and the UNet's before decoding
// (`Module.releaseResidentWeights`); `--sd15-keep-weights-resident` keeps all three resident.

import Autograd
import Diffusion
import Foundation
import Tensor

/// The full-size random-weight SD 1.5 folder, or nil (with a note) when the variable is unset.
func stableDiffusionFolder() -> URL? {
    guard let path = ProcessInfo.processInfo.environment["SWIFTDIFFUSION_SD15_RANDOM"], !path.isEmpty else { return nil }
    return URL(fileURLWithPath: path)
}

/// Opens the full-size folder or stops with the fix.
private func openFullSizeCheckpoint() -> StableDiffusionCheckpoint {
    guard let folder = stableDiffusionFolder() else {
        fail("the sd15 cases need SWIFTDIFFUSION_SD15_RANDOM=DIR (build DIR with tools/make_sd_fixtures.py --full-size DIR)")
    }
    do { return try StableDiffusionCheckpoint(contentsOf: folder, variant: "fp16") } catch { fail("\(error)") }
}

/// The three full-size cases (empty, with a note, when the folder is not configured).
func stableDiffusionCases() -> [BenchCase] {
    guard stableDiffusionFolder() != nil else {
        return []
    }
    return [
        BenchCase(name: "sd15-unet-b2-64", shape: "UNet 860M, 2x4x64x64, 77x768 text, f16 weights", flops: 0) {
            let unet: UNet2DConditionModel
            do { unet = try openFullSizeCheckpoint().loadUNet() } catch { fail("\(error)") }
            let sample = Variable(benchTensor([2, 4, 64, 64], seed: 11)), states = Variable(benchTensor([2, 77, 768], seed: 12))
            return { _ = withoutGradients { unet(sample, timesteps: [981, 17.5], context: states) } }
        },
        BenchCase(name: "sd15-vae-decode-512", shape: "VAE decoder 1x4x64x64 -> 512x512, f16 weights", flops: 0) {
            let vae: AutoencoderKL
            do { vae = try openFullSizeCheckpoint().loadVAE() } catch { fail("\(error)") }
            let latent = benchTensor([1, 4, 64, 64], seed: 13)
            return { _ = vae.decode(latent) }
        },
        BenchCase(name: "sd15-text-encoder-b2", shape: "CLIP ViT-L/14 text, 2x77 ids, f16 weights", flops: 0) {
            let encoder: CLIPTextModel
            do { encoder = try openFullSizeCheckpoint().loadTextEncoder() } catch { fail("\(error)") }
            let ids = (0..<2).map { row in [49406] + (1..<76).map { (($0 * 7919 + row * 104_729) % 49_000) + 1 } + [49407] }
            return { _ = encoder(ids) }
        },
    ]
}

/// Peak resident memory of this process so far, in MB (ru_maxrss is in KiB on Linux).
func peakResidentMegabytes() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}

/// `bench --sd15-peak-memory`: loads the three models from the F16 folder, runs one UNet call
/// (batch 2, 64x64) and one decode, and prints the peak resident memory; then runs the
/// reference script's `--sd15-peak-memory` in its own process and prints its figure.
func measureStableDiffusionPeakMemory(_ options: Options) {
    let start = wallSeconds()
    let checkpoint = openFullSizeCheckpoint()
    let models: (CLIPTextModel, UNet2DConditionModel, AutoencoderKL)
    do {
        models = (try checkpoint.loadTextEncoder(), try checkpoint.loadUNet(), try checkpoint.loadVAE())
    } catch { fail("\(error)") }
    let afterLoad = peakResidentMegabytes()
    Parallel.threadCount = options.threads.max() ?? 2
    let ids = [[49406] + Array(repeating: 49407, count: 76), [49406, 320, 1125, 539, 320, 2368] + Array(repeating: 49407, count: 71)]
    let release = !options.sd15KeepWeightsResident
    let states = models.0(ids)
    if release { models.0.releaseResidentWeights() }
    let noise = Variable(benchTensor([2, 4, 64, 64], seed: 11))
    let afterText = peakResidentMegabytes()
    let prediction = withoutGradients { models.1(noise, timesteps: [981, 981], context: Variable(states)).value }
    if release { models.1.releaseResidentWeights() }
    let afterUNet = peakResidentMegabytes()
    _ = models.2.decode(prediction.sliced(axis: 0, start: 0, end: 1) * (1 / 0.18215))
    let ours = peakResidentMegabytes()
    let weights = release ? "idle models' weights released" : "all weights kept resident"
    print(String(format: "sd15-peak-memory  swift  threads %d  peak %.0f MB (after loading %.0f, text encoder %.0f, UNet call %.0f; ",
                 Parallel.threadCount, ours, afterLoad, afterText, afterUNet)
          + weights + String(format: "), %.1f s", wallSeconds() - start))
    guard options.reference else { return }
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../tools/bench_reference.py").standardizedFileURL
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [options.python, script.path, "--sd15-peak-memory", "--threads", String(Parallel.threadCount)]
    let output = Pipe()
    process.standardOutput = output
    do { try process.run() } catch { note("could not start \(options.python): \(error)"); return }
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    struct Reference: Decodable { var peakResidentMB: Double; var afterLoadResidentMB: Double; var seconds: Double }
    guard process.terminationStatus == 0,
          let line = String(decoding: data, as: UTF8.self).split(separator: "\n").last,
          let reference = try? JSONDecoder().decode(Reference.self, from: Data(line.utf8)) else {
        note("the reference's peak-memory run failed (status \(process.terminationStatus))")
        return
    }
    print(String(format: "sd15-peak-memory  torch  threads %d  peak %.0f MB (after loading %.0f MB), %.1f s;  ours/theirs %.2f",
                 Parallel.threadCount, reference.peakResidentMB, reference.afterLoadResidentMB, reference.seconds,
                 ours / reference.peakResidentMB))
}
