// lesson-04-ddpm, section 3: a small UNet trained live with `DDPMTrainer`, its loss compared
// with the shipped model's. Called from `Lesson.run()` in `main.swift`, in page order.

import Autograd
import Diffusion
import Foundation
import LessonKit
import Tensor

extension Lesson {
    // MARK: 3. Live training

    func trainLive(_ report: Report, model: DDPMModel, testImages: Tensor, outDirectory: URL) throws -> DDPMModel {
        report.heading("3. Training for a short while, live")
        let unet = UNet2DConfiguration(sampleSize: 32, inChannels: 1, outChannels: 1, blockOutChannels: options.channelList!,
                                       layersPerBlock: 1, attentionLevels: [], attentionHeadDim: nil, normNumGroups: 8,
                                       addAttention: false)
        let configuration = DDPMTrainingConfiguration(
            model: unet, prediction: .epsilon, betaSchedule: .linear, trainingTimesteps: 1000, batchSize: options.trainBatch,
            learningRate: 2e-3, warmupSteps: 20, weightDecay: 0, emaDecay: 0.99, maxGradientNorm: 1, labelDropout: 0,
            data: .fashionMNIST(folder: nil), seed: options.seed)
        let data = try configuration.data.load(limit: options.trainImages)
        let trainer = try DDPMTrainer(configuration: configuration, dataset: data)
        let parameters = trainer.model.parameters.reduce(0) { $0 + $1.value.count }
        report.paragraph("""
            Algorithm 1 with the library's `DDPMTrainer`: a smaller UNet than the shipped one (channels \
            \(unet.blockOutChannels.map(String.init).joined(separator: ", ")), one ResNet block per level, no \
            attention, \(parameters) parameters), \(options.trainSteps) AdamW steps of \(options.trainBatch) images from the first \
            \(options.trainImages) training images, learning rate \(format(Double(configuration.learningRate), digits: 3)) \
            after a \(configuration.warmupSteps)-step warmup, gradients clipped to norm 1, an EMA of the weights \
            with decay \(format(Double(configuration.emaDecay), digits: 2)) (warmed up), seed \(options.seed).
            """)
        let progress = ProgressBar(total: options.trainSteps, label: "training")
        let start = Date()
        for _ in 0..<options.trainSteps {
            let loss = try trainer.trainStep()
            progress.advance(message: "loss \(format(Double(loss), digits: 4))")
        }
        progress.finish()
        let seconds = Date().timeIntervalSince(start)
        let losses = trainer.losses.map(Double.init)
        let window = 20
        let smoothed = losses.indices.map { i in
            let lo = max(0, i - window + 1)
            return losses[lo...i].reduce(0, +) / Double(i - lo + 1)
        }
        var plot = Plot(title: "live training: loss per step (batch \(options.trainBatch), random t)", xLabel: "step", yLabel: "MSE(eps_theta, eps)",
                        logY: true, legend: .topRight)
        let steps = losses.indices.map { Double($0 + 1) }
        plot.line(x: steps, y: losses, title: "per step", color: "#b0b0b0", lineWidth: 1)
        plot.line(x: steps, y: smoothed, title: "mean of the last \(window)", color: Color.cycle[0])
        plot.line(x: [1, Double(losses.count)], y: [0.037, 0.037], title: "shipped model, end of training", color: "#808080", lineWidth: 1, dashType: 3)
        try report.figure(Figure(plot, width: 900, height: 420), name: "live-loss",
                          caption: "The loss of the live run, step by step and smoothed, against the shipped model's final training loss.")
        var csv = CSVTable(header: ["step", "loss"])
        for (i, l) in losses.enumerated() { csv.append([i + 1, l]) }
        try csv.write(to: outDirectory.appendingPathComponent("live_loss.csv"))
        let first = losses.prefix(10).reduce(0, +) / Double(min(10, losses.count))
        let last = smoothed.last!
        let small = try DDPMModel(trainer: trainer)
        // Both models on the same test images and noise at a few timesteps.
        let probe = [25, 100, 300, 600, 900]
        let batch = testImages.sliced(axis: 0, 0..<options.lossImages)
        var generator = TorchGenerator(seed: options.seed &+ 6)
        var comparison: [[String]] = []
        var ratios: [Double] = []
        for t in probe {
            let noise = generator.randn(batch.shape)
            let xt = DDPMTrainer.noised(batch, timesteps: Array(repeating: t, count: batch.shape[0]), noise: noise,
                                        schedule: model.schedule, prediction: .epsilon).input
            let smallLoss = mse(small.unet.predict(xt, timestep: Double(t)), noise)
            let shippedLoss = mse(model.unet.predict(xt, timestep: Double(t)), noise)
            ratios.append(smallLoss / shippedLoss)
            comparison.append([String(t), format(smallLoss, digits: 4), format(shippedLoss, digits: 4), format(smallLoss / shippedLoss, digits: 1)])
        }
        report.paragraph("""
            \(options.trainSteps) steps took \(format(seconds, digits: 1)) s \
            (\(format(Double(options.trainSteps * options.trainBatch) / seconds, digits: 0)) images/s, load average \(Timing.loadAverage())). \
            The loss falls from \(format(first, digits: 3)) (mean of the first 10 steps; predicting eps = 0 scores 1) \
            to \(format(last, digits: 4)) (mean of the last \(window)); the per-step loss stays noisy because each batch \
            draws its own timesteps and the loss differs a hundredfold between small and large t (section 2). \
            Where has the small model caught up? Its noise loss (EMA weights) next to the shipped model's, on the \
            same \(batch.shape[0]) test images and noise:
            """)
        report.table(headers: ["t", "small model, \(options.trainSteps) steps", "shipped model, 3000 steps", "ratio"], rows: comparison,
                     alignments: [.right, .right, .right, .right])
        let worstProbe = ratios.indices.max { ratios[$0] < ratios[$1] }!, bestProbe = ratios.indices.min { ratios[$0] < ratios[$1] }!
        report.paragraph("""
            The small model is furthest behind at t = \(probe[worstProbe]) (\(format(ratios[worstProbe], digits: 1)) times the shipped \
            model's loss) and closest at t = \(probe[bestProbe]) (\(format(ratios[bestProbe], digits: 1)) times).
            """)
        return small
    }
}
