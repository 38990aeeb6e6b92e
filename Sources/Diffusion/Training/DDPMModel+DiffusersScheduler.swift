// Contract: sampling a `DDPMModel` with a diffusers scheduler class name as the sampler, so that
// `diffuse sample --model models/ddpm-fmnist --sampler DDIMScheduler --seed 0` gives the images
// of diffusers' `DDPMPipeline` with `DDIMScheduler.from_config(pipe.scheduler.config)` and
// `torch.Generator().manual_seed(0)`: the timesteps, sigmas, clipping and starting-noise scale
// of `DiffusersSchedulerPlan`, the starting noise and every later noise drawn from ONE
// PyTorch-compatible generator in diffusers' order.

import Tensor

extension DiffusersSchedulerConfiguration {
    /// The fields a project-written `DDPMScheduler` configuration has (the others absent).
    public init(_ scheduler: DDPMSchedulerConfiguration) {
        self.init()
        className = scheduler.className
        numTrainTimesteps = scheduler.numTrainTimesteps
        betaSchedule = scheduler.betaSchedule
        betaStart = scheduler.betaStart
        betaEnd = scheduler.betaEnd
        predictionType = scheduler.predictionType
        clipSample = scheduler.clipSample
    }
}

extension DDPMModel {
    /// `count` samples [count, C, H, W] as diffusers' `DDPMPipeline` (or the equivalent loop with
    /// `scale_model_input` and `init_noise_sigma` for the Euler family) makes them with the
    /// scheduler `className` built from this model's scheduler configuration and
    /// `torch.Generator().manual_seed(seed)`.
    /// - Throws: `DiffusersSchedulerPlan`'s errors; `TrainingError.invalidOption` for bad labels or size.
    public func sampleAsDiffusers(className: String, count: Int, steps: Int, seed: UInt64, classLabels: [Int]? = nil,
                                  guidanceScale: Double = 1, size: Int? = nil,
                                  callback: SamplerCallback? = nil) throws -> Tensor {
        let plan = try DiffusersSchedulerPlan(className: className, configuration: schedulerFile, steps: steps)
        let side = size ?? unet.configuration.sampleSize
        guard side > 0, side % unet.configuration.downsamplingFactor == 0 else {
            throw TrainingError.invalidOption("image size \(side) must be a positive multiple of \(unet.configuration.downsamplingFactor) for this UNet")
        }
        if let classLabels, let classes = classCount {
            guard classLabels.count == 1 || classLabels.count == count, classLabels.allSatisfy({ (0..<classes).contains($0) }) else {
                throw TrainingError.invalidOption("class labels must be one label or \(count) labels, each in 0..<\(classes)")
            }
        } else if classLabels != nil {
            throw TrainingError.invalidOption("class labels were given but the model is not class-conditional")
        }
        var denoiser = self.denoiser(classLabels: classLabels, guidanceScale: guidanceScale, modelTimesteps: plan.modelTimesteps)
        if let r = plan.clipDenoised {
            let inner = denoiser, lo = Float(-r), hi = Float(r)
            denoiser = ClosureDenoiser { x, sigma in try inner.denoise(x, sigma: sigma).map { Swift.min(Swift.max($0, lo), hi) } }
        }
        var generator = TorchGenerator(seed: seed)
        let x = generator.randn([count, unet.configuration.inChannels, side, side]) * Float(plan.initialNoiseScale)
        let out = try plan.sampler.sample(denoiser, x: x, sigmas: plan.sigmas, noise: GeneratorNoise(generator), callback: callback)
        return plan.outputScale == 1 ? out : out * Float(plan.outputScale)
    }
}
