// Contract: `diffuse export` — writes a training checkpoint's EMA weights (or raw weights) with
// their configs as a diffusers DDPMPipeline folder (Float16 by default), the form models ship in.
// A checkpoint trained on latents is exported as a latent model (`LatentDiffusionModel`): the
// same folder plus `vae/config.json` with the latents file's `scaling_factor`; `--vae-weights`
// also copies TAESD's decoder weights (and its LICENSE) into `vae/`.

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
    @Option(help: "Latent runs: the latents file the run trained on (default: the path in the checkpoint), for its scaling_factor.")
    var latents: String?
    @Option(help: "Latent runs: copy this taesd_decoder.safetensors (and a LICENSE next to it) into vae/.")
    var vaeWeights: String?

    func run() throws {
        try reportingErrors {
            let checkpointURL = URL(fileURLWithPath: checkpoint)
            let model = try DDPMModel.load(from: checkpointURL, useEMA: !rawWeights)
            let dtype: SafetensorsDType = float32 ? .f32 : .f16
            var latentsPath = latents
            if latentsPath == nil, try DDPMTrainer.checkpointExists(at: checkpointURL),
               case .latents(let path) = try DDPMTrainer.storedConfiguration(at: checkpointURL).data {
                latentsPath = path
            }
            guard let latentsPath else {
                if vaeWeights != nil { throw ValidationError("--vae-weights is only for checkpoints trained on latents") }
                try model.export(to: URL(fileURLWithPath: output), dtype: dtype)
                print("exported \(model.unet.parameterCount) parameters (\(float32 ? "F32" : "F16")) to \(output)")
                return
            }
            let file = try SafetensorsFile(contentsOf: URL(fileURLWithPath: latentsPath))
            let factor = file.metadata["scaling_factor"].flatMap(Double.init) ?? 1
            try LatentDiffusionModel.export(latentModel: model, vae: TAESDConfiguration(scalingFactor: factor),
                                            to: URL(fileURLWithPath: output), dtype: dtype,
                                            decoderWeights: vaeWeights.map { URL(fileURLWithPath: $0) })
            print("exported a latent model: \(model.unet.parameterCount) UNet parameters (\(float32 ? "F32" : "F16")), "
                + "scaling_factor \(factor) from \(latentsPath)\(vaeWeights == nil ? "" : ", TAESD decoder copied") to \(output)")
        }
    }
}
