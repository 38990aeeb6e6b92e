// Contract: `diffuse sample` — loads an exported model folder or a training checkpoint (EMA
// weights unless `--raw-weights`), samples `--count` images with any sampler and sigma schedule
// of the registry, and writes one PNG grid. Class-conditional models take `--class` labels and a
// classifier-free `--guidance` scale (`--class 0,1,2` alone samples three images; with `--count`
// the labels repeat in order). A folder with `vae/` is a latent model
// (`LatentDiffusionModel`): its samples are decoded by TAESD (weights from `vae/` or `--vae`).

import ArgumentParser
import Diffusion
import Foundation
import Tensor

struct SampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "Sample an image grid from a trained DDPM with any sampler and schedule.")

    @Option(help: "An exported model folder (unet/, scheduler/; with vae/: a latent model) or a training checkpoint folder.")
    var model: String
    @Option(help: "Latent models: a folder with taesd_decoder.safetensors, used when the model's vae/ has none.")
    var vae: String?
    @Option(help: "Sampler: a k-diffusion name (euler, dpmpp_2m, ...), an AUTOMATIC1111 label (\"DPM++ 2M Karras\") or a diffusers scheduler class.")
    var sampler: SamplerArgument = SamplerArgument(argument: "euler")!
    @OptionGroup var sampling: SamplingOptions
    @Option(parsing: .unconditional, help: "Ancestral/SDE samplers and ddim, dpm_fast, dpm_adaptive: the fraction of the DDPM noise each step adds (k-diffusion's eta, >= 0).")
    var eta: Double?
    @Option(name: .customLong("s-noise"), parsing: .unconditional, help: "Samplers that add noise (ancestral, SDE, churn, restart): scale of that noise (k-diffusion's s_noise, >= 0).")
    var sNoise: Double?
    @Option(parsing: .unconditional, help: "Number of images (default 64, or the number of --class labels when there are several).")
    var count: Int?
    @Option(parsing: .unconditional, help: "Images per row of the grid (default: square).")
    var columns: Int?
    @Option(help: "Class label(s) for class-conditional models, comma-separated: one for every image, or several that repeat in order (image i gets label i mod n).")
    var `class`: String?
    @Option(parsing: .unconditional, help: "Classifier-free guidance scale for class-conditional models.")
    var guidance: Double = 3
    @Flag(help: "Do not clamp the denoised estimates to [-1, 1] (by default they are clamped when the scheduler config says clip_sample, as diffusers' DDPM does).")
    var noClip = false
    @Flag(help: "From a training checkpoint, use the raw weights instead of the EMA weights.")
    var rawWeights = false
    @Option(name: .shortAndLong, help: "Output PNG file.")
    var output: String = "samples.png"

    func validate() throws {
        if let count, count < 1 { throw ValidationError("--count must be at least 1, got \(count)") }
        let choice = try SamplerRegistry.resolve(sampler.label)
        if choice.name.choosesOwnSteps && sampling.stepsGiven {
            throw ValidationError("\(choice.name.rawValue) chooses its own steps: drop --steps (its tolerances set the effort)")
        }
        do { _ = try choice.name.applying(SamplerOptions(eta: eta, sNoise: sNoise), to: choice.sampler) } catch {
            throw ValidationError("\(error)")
        }
        if let columns, columns < 1 { throw ValidationError("--columns must be at least 1, got \(columns)") }
        if !guidance.isFinite || abs(guidance) > 1000 { throw ValidationError("--guidance must be a finite scale in -1000...1000, got \(guidance)") }
    }

    /// Refuses, before sampling, a `--count` whose images cannot be held in memory: the whole
    /// batch runs at once, and the UNet's first level holds `blockOutChannels[0]` activations
    /// per pixel per image (a lower bound of what sampling needs); a latent model's decoded
    /// images are 8× the latent side.
    func checkMemory(_ unet: UNet2DConfiguration, latentImageChannels: Int?, count: Int) throws {
        let side = Double(unet.sampleSize)
        var bytesEach = 4 * side * side * Double(unet.blockOutChannels[0] + unet.inChannels)
        if let channels = latentImageChannels { bytesEach += 4 * 64 * side * side * Double(channels) }
        try ConfigurationLimits.checkMemory(count: count, bytesEach: bytesEach,
                                            what: "images of \(unet.inChannels)x\(unet.sampleSize)x\(unet.sampleSize) (with the UNet's first-level activations)",
                                            source: "--count")
    }

    func run() throws {
        try reportingErrors {
            let (sampler, steps, schedule, seed) = (sampler.label, sampling.steps, sampling.scheduleName, sampling.seed)
            let folder = URL(fileURLWithPath: model)
            let given = try `class`.map { try parseIntegers($0, option: "--class") }
            let count = self.count ?? ((given?.count ?? 0) > 1 ? given!.count : 64)
            // One label per image, built after the memory check has accepted `count`.
            func labels() -> [Int]? { given.map { list in list.count <= 1 ? list : (0..<count).map { list[$0 % list.count] } } }
            let clock = ContinuousClock()
            var start = clock.now
            let images: Tensor
            if LatentDiffusionModel.isLatentModel(at: folder) {
                let loaded = try LatentDiffusionModel.load(from: folder, taesdFolder: vae.map { URL(fileURLWithPath: $0) })
                try checkMemory(loaded.latentModel.unet.configuration, latentImageChannels: loaded.vae.outChannels, count: count)
                start = clock.now
                images = try loaded.sample(count: count, sampler: sampler, steps: steps, schedule: schedule, seed: seed,
                                           classLabels: labels(), guidanceScale: guidance,
                                           samplerOptions: SamplerOptions(eta: eta, sNoise: sNoise))
            } else {
                let loaded = try DDPMModel.load(from: folder, useEMA: !rawWeights)
                try checkMemory(loaded.unet.configuration, latentImageChannels: nil, count: count)
                start = clock.now
                images = try loaded.sample(count: count, sampler: sampler, steps: steps, schedule: schedule, seed: seed,
                                           classLabels: labels(), guidanceScale: guidance, clipDenoised: noClip ? false : nil,
                                           samplerOptions: SamplerOptions(eta: eta, sNoise: sNoise))
            }
            let seconds = (clock.now - start) / .seconds(1)
            let side = min(columns ?? Int(Double(count).squareRoot().rounded(.up)), count)
            try PNG.write(imageGridFromModelRange(images, columns: side), to: URL(fileURLWithPath: output))
            if try SamplerRegistry.resolve(sampler).name.choosesOwnSteps {
                print(String(format: "wrote %@: %d images, sampler %@ (its own steps), seed %llu, %.1f s", output, count, sampler, seed, seconds))
            } else {
                print(String(format: "wrote %@: %d images, sampler %@, %d steps, seed %llu, %.1f s (%.3f s per step)",
                             output, count, sampler, steps, seed, seconds, seconds / Double(steps)))
            }
        }
    }
}
