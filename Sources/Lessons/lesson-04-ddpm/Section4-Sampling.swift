// lesson-04-ddpm, section 4: sampling the shipped model with ancestral sampling (Algorithm 2),
// written out in the paper's variables and checked against the library's `ddpm` sampler.
// Called from `Lesson.run()` in `main.swift`, in page order.

import Autograd
import Diffusion
import Foundation
import LessonKit
import Tensor

extension Lesson {
    // MARK: 4. Sampling

    func sample(_ report: Report, model: DDPMModel, small: DDPMModel, testImages: Tensor, outDirectory: URL) throws {
        report.heading("4. Sampling: undo one step at a time (Algorithm 2)")
        report.paragraph("""
            If the betas are small, each reverse step q(x_{t−1} | x_t) is nearly Gaussian, and given a guess of \
            x_0 its mean and variance are known in closed form (the posterior of eq. 6–7). Ancestral sampling \
            (Algorithm 2) starts from x_T ~ N(0, I) and walks back, using the network's x̂_0 in that posterior:
            """)
        report.code("""
            x_T ~ N(0, I)
            for t = T−1, …, 0:
                eps   = eps_theta(x_t, t)
                x̂_0  = (x_t − sqrt(1 − abar_t)·eps) / sqrt(abar_t)                  clamped to [−1, 1]
                mean  = sqrt(abar_{t−1})·beta_t/(1 − abar_t)·x̂_0
                      + sqrt(alpha_t)·(1 − abar_{t−1})/(1 − abar_t)·x_t            (eq. 7; abar_{−1} = 1)
                var   = (1 − abar_{t−1})/(1 − abar_t)·beta_t                        ("fixed small", beta~_t)
                x_{t−1} = mean + sqrt(var)·z,   z ~ N(0, I)  (z = 0 at the last step)
            return x_0
            """)
        report.paragraph("""
            Without the clamp, the mean is algebraically Algorithm 2's line 4, \
            (x_t − beta_t/sqrt(1 − abar_t)·eps)/sqrt(alpha_t). The clamp of x̂_0 to the data range is what Ho \
            et al.'s code and diffusers do for pixel models (`clip_sample`); Ho et al. report that the two \
            variance choices beta_t and beta~_t give similar results, and this code uses beta~_t. To jump from t \
            to an earlier t' that is not t − 1 ("skipped" DDPM, as diffusers' `DDPMScheduler` does with fewer \
            inference steps), the same lines hold with abar_{t−1} replaced by abar_t', alpha_t by \
            abar_t/abar_t' and beta_t by 1 − abar_t/abar_t'.
            """)

        let steps = options.sampleSteps, count = options.sampleCount
        let timesteps = evenlySpacedTimesteps(steps, trainingSteps: model.schedule.trainingSteps)
        let sigmas = timesteps.map { model.schedule.sigmas[$0] } + [0]
        // Algorithm 2 starts from x_T ~ N(0, I) in the VP variables; on the library's state x_t / sqrt(abar_t)
        // that is x_T · sqrt(1 + sigma_max²).
        let startScale = Float((1 + sigmas[0] * sigmas[0]).squareRoot())
        var startGenerator = TorchGenerator(seed: options.seed &+ 3)
        let xT = startGenerator.randn([count, 1, 32, 32])

        // The check: Algorithm 2 as written above against the library sampler, same start and noise draws.
        let checkCount = min(2, count)
        let checkStart = Date()
        let checkImages = xT.sliced(axis: 0, 0..<checkCount)
        let literal = algorithm2(small, xT: checkImages, timesteps: timesteps, noiseSeed: options.seed &+ 4)
        let library = try DDPMSampler().sample(clamped(small.denoiser()), x: checkImages * startScale, sigmas: sigmas,
                                               noise: GaussianNoise(seed: options.seed &+ 4), callback: nil)
        let checkSeconds = Date().timeIntervalSince(checkStart)
        let difference = maxAbs(literal, library)
        report.paragraph("""
            The library's `ddpm` sampler (`Sources/Diffusion/Samplers/DDPM.swift`) runs the same step written on \
            the state x_t / sqrt(abar_t), which lesson 05 explains. A check that the two agree: the loop above, \
            written out in this lesson in the paper's variables, against the library sampler, with the small \
            model of section 3 (the algorithm does not depend on which network), \(checkCount) images, \(steps) steps, the same \
            start and the same noise draws. The largest difference between the final images is \
            \(format(difference, digits: 2, scientific: true)) on values in [−1, 1] (\(format(checkSeconds, digits: 1)) s for both \
            runs): \(difference < 1e-3 ? "the same numbers up to Float32 rounding, computed in a different order — the same sampler" : "more than rounding alone would explain").
            """)

        // The shipped model.
        let snapshotTargets = [999, 900, 800, 700, 600, 500, 400, 300, 200, 100, 50, 0]
        let snapshotSteps = snapshotTargets.map { target in timesteps.indices.min { abs(timesteps[$0] - target) < abs(timesteps[$1] - target) }! }
        var states: [Int: (x: Tensor, denoised: Tensor, sigma: Double)] = [:]
        let progress = ProgressBar(total: steps, label: "DDPM sampling")
        let sampleStart = Date()
        let final = try DDPMSampler().sample(clamped(model.denoiser()), x: xT * startScale, sigmas: sigmas,
                                             noise: GaussianNoise(seed: options.seed &+ 5)) { step in
            if snapshotSteps.contains(step.index) { states[step.index] = (step.x, step.denoised, step.sigma) }
            progress.advance()
        }
        progress.finish()
        let sampleSeconds = Date().timeIntervalSince(sampleStart)
        let perStep = sampleSeconds / Double(steps)
        report.paragraph("""
            Now the shipped model: \(count) samples, \(steps) steps\(steps == model.schedule.trainingSteps ? " — every timestep, as in the paper" : " at timesteps \(timesteps.prefix(3).map(String.init).joined(separator: ", ")), …, \(timesteps.suffix(2).map(String.init).joined(separator: ", ")) (a skipped DDPM)"). \
            They took \(format(sampleSeconds, digits: 1)) s, \(format(perStep * 1000, digits: 0)) ms per step for the batch \
            of \(count)\(steps == model.schedule.trainingSteps ? "" : "; all 1000 timesteps would take about \(format(perStep * 1000, digits: 0)) s here, which is why this lesson skips timesteps by default (`--sample-steps 1000` runs the full Algorithm 2)"). \
            A network evaluation per timestep is what makes DDPM slow, and what lesson 05 attacks.
            """)
        let smallFinal = try DDPMSampler().sample(clamped(small.denoiser()), x: xT * startScale, sigmas: sigmas,
                                                  noise: GaussianNoise(seed: options.seed &+ 5), callback: nil)

        // Grid: for the first samples, x_t (as Algorithm 2 sees it) and x̂_0 at the snapshots, then the sample.
        let shownRows = min(3, count)
        var tiles: [Tensor] = []
        for image in 0..<shownRows {
            var xRow: [Tensor] = [], dRow: [Tensor] = []
            for step in snapshotSteps {
                guard let s = states[step] else { continue }
                xRow.append(s.x.sliced(axis: 0, image..<(image + 1)) * Float(DiscreteTimeDenoiser.inputScale(sigma: s.sigma)))
                dRow.append(s.denoised.sliced(axis: 0, image..<(image + 1)))
            }
            let sampleTile = final.sliced(axis: 0, image..<(image + 1))
            tiles += xRow + [sampleTile] + dRow + [sampleTile]
        }
        let shownTimesteps = snapshotSteps.map { timesteps[$0] }
        let grid = imageGridFromModelRange(Tensor.concatenate(tiles, axis: 0), columns: snapshotSteps.count + 1)
        try report.figure(Figure(Plot(image: grid, title: "t = \(shownTimesteps.map(String.init).joined(separator: ", ")), then the sample; rows: x_t, x̂_0 (alternating)"),
                                 width: 1300, height: 660),
                          name: "ddpm-trajectory", caption: "Ancestral sampling with the shipped model: for three samples, the state x_t (upper row of each pair) and the network's x̂_0 (lower row) at 12 timesteps, and the final sample (last column).",
                          showInTerminal: false)
        var distances: [String] = []
        for (k, step) in snapshotSteps.enumerated() {
            guard let s = states[step] else { continue }
            let shown = s.denoised.sliced(axis: 0, 0..<shownRows), ends = final.sliced(axis: 0, 0..<shownRows)
            distances.append("\(shownTimesteps[k]): \(format(meanAbs(shown - ends), digits: 3))")
        }
        report.paragraph("""
            Read each pair from left to right. The upper row is the state Algorithm 2 carries; the lower row is \
            what the network believes the final image will be. How far x̂_0 still is from the sample it ends in, \
            as the mean absolute pixel difference over these three samples (pixels span 2, from −1 to 1), at \
            t = \(distances.joined(separator: ", ")).
            """)
        let side = imageGridFromModelRange(Tensor.concatenate([smallFinal, final], axis: 0), columns: count)
        try report.figure(Figure(Plot(image: side, title: "same start and noise draws; top: the model trained live in section 3; bottom: the shipped model"),
                                 width: 1100, height: 320),
                          name: "samples", caption: "Samples from the small model trained in section 3 (top) and from the shipped checkpoint (bottom), same starting noise and draws, \(steps) ancestral steps.",
                          showInTerminal: false)
        func background(_ images: Tensor) -> String { format(100 * Double(images.scalars.filter { $0 < -0.9 }.count) / Double(images.count), digits: 0) + " %" }
        func meanValue(_ images: Tensor) -> String { format(Double(images.scalars.reduce(0, +)) / Double(images.count), digits: 2) }
        report.table(headers: ["images", "pixels below −0.9 (black background)", "mean pixel value"],
                     rows: [["small model, \(options.trainSteps) training steps", background(smallFinal), meanValue(smallFinal)],
                            ["shipped model", background(final), meanValue(final)],
                            ["\(testImages.shape[0]) test images", background(testImages), meanValue(testImages)]],
                     alignments: [.left, .right, .right])
        func blackFraction(_ images: Tensor) -> Double { Double(images.scalars.filter { $0 < -0.9 }.count) / Double(images.count) }
        let smallBlack = blackFraction(smallFinal), testBlack = blackFraction(testImages), shippedBlack = blackFraction(final)
        report.paragraph("""
            Black pixels (below −0.9) are the background of a Fashion-MNIST image: \(format(100 * testBlack, digits: 0)) % of \
            the test images' pixels. The small model's samples have \(format(100 * smallBlack, digits: 0)) %: the fewer, the \
            less it has learned that garments sit on black, and the more its samples are gray blobs. \
            The shipped model's samples have \(format(100 * shippedBlack, digits: 0)) % black pixels and the shapes of \
            garments, softer than real photographs.
            """)
    }

    /// Timesteps from T − 1 down to 0, `count` of them, evenly spaced and rounded (all T when count = T).
    func evenlySpacedTimesteps(_ count: Int, trainingSteps: Int) -> [Int] {
        (0..<count).map { i in Int((Double(trainingSteps - 1) * Double(count - 1 - i) / Double(count - 1)).rounded()) }
    }

    /// Algorithm 2 of Ho et al. 2020 in the paper's variables x_t, with x̂_0 clamped and the
    /// "fixed small" variance, over `timesteps` (decreasing, ending at 0; between non-adjacent
    /// timesteps alpha = abar_t / abar_t' and beta = 1 − alpha, diffusers' skipped DDPM).
    func algorithm2(_ model: DDPMModel, xT: Tensor, timesteps: [Int], noiseSeed: UInt64) -> Tensor {
        let abar = model.schedule.alphasCumprod
        var noise = SeededGenerator(seed: noiseSeed)
        var x = xT
        for (i, t) in timesteps.enumerated() {
            let isLast = i == timesteps.count - 1
            let a = abar[t], aPrev = isLast ? 1 : abar[timesteps[i + 1]]
            let alpha = a / aPrev, beta = 1 - alpha
            let eps = model.unet.predict(x, timestep: Double(t))
            let x0 = ((x - eps * Float((1 - a).squareRoot())) / Float(a.squareRoot())).map { min(max($0, -1), 1) }
            let mean = x0 * Float(aPrev.squareRoot() * beta / (1 - a)) + x * Float(alpha.squareRoot() * (1 - aPrev) / (1 - a))
            if isLast {
                x = mean
            } else {
                let variance = (1 - aPrev) / (1 - a) * beta
                x = mean + noise.normalTensor(x.shape) * Float(variance.squareRoot())
            }
        }
        return x
    }

    func clamped(_ denoiser: any Denoiser) -> any Denoiser {
        ClosureDenoiser { x, sigma in try denoiser.denoise(x, sigma: sigma).map { min(max($0, -1), 1) } }
    }
}
