// Contract: `diffuse export` — writes a training checkpoint's EMA weights (or raw weights) with
// their configs as a diffusers DDPMPipeline folder (Float16 by default), the form models ship in.

import ArgumentParser
import Diffusion
import Foundation
import Tensor

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export a training checkpoint as a diffusers DDPMPipeline folder (unet/ + scheduler/).")

    @Option(help: "The training checkpoint folder (<run>/checkpoint).")
    var checkpoint: String
    @Option(name: .shortAndLong, help: "The folder to write.")
    var output: String
    @Flag(help: "Export the raw weights instead of the EMA weights.")
    var rawWeights = false
    @Flag(help: "Store Float32 instead of Float16.")
    var float32 = false

    func run() throws {
        try reportingErrors {
            let model = try DDPMModel.load(from: URL(fileURLWithPath: checkpoint), useEMA: !rawWeights)
            try model.export(to: URL(fileURLWithPath: output), dtype: float32 ? .f32 : .f16)
            print("exported \(model.unet.parameterCount) parameters (\(float32 ? "F32" : "F16")) to \(output)")
        }
    }
}
