// lesson-04-ddpm, section 2: the training objective (Algorithm 1): what the shipped network
// sees and predicts, and its loss at every noise level on test images against a mean-image baseline. Called from `Lesson.run()` in `main.swift`, in page order.

import Autograd
import Diffusion
import Foundation
import LessonKit
import Tensor

extension Lesson {
    // MARK: 2. The training objective

    func objective(_ report: Report, model: DDPMModel, testImages: Tensor, outDirectory: URL) throws {
        report.heading("2. The training objective: predict the noise")
        report.paragraph("""
            Undoing a step would need q(x_{t−1} | x_t), which depends on the whole data distribution. Ho et al. \
            instead train a network eps_theta(x_t, t) to predict the noise that was added, with a plain squared \
            error (Algorithm 1, the "simple" loss of eq. 14):
            """)
        report.code("""
            repeat
                x_0 ~ data;   t ~ Uniform{0, …, T−1};   eps ~ N(0, I)
                x_t = sqrt(alphabar_t)·x_0 + sqrt(1 − alphabar_t)·eps
                take a gradient step on  ‖eps − eps_theta(x_t, t)‖²
            until converged
            """)
        report.paragraph("""
            Knowing eps is knowing the clean image: x_0 = (x_t − sqrt(1 − alphabar_t)·eps) / sqrt(alphabar_t). \
            So the network's prediction gives an estimate x̂_0 at every step. Here is what the shipped network \
            sees and returns for one test image at five noise levels (columns: x_0, the noise eps drawn for it, \
            the input x_t, the predicted noise, and the x̂_0 it implies; noise is shown divided by 3):
            """)
        let image = testImages.sliced(axis: 0, 1..<2)
        let shownTimesteps = [20, 100, 300, 600, 900]
        var generator = TorchGenerator(seed: options.seed &+ 1)
        let eps = generator.randn(image.shape)
        var tiles: [Tensor] = []
        var rows: [[String]] = []
        for t in shownTimesteps {
            let abar = model.schedule.alphasCumprod[t]
            let xt = DDPMTrainer.noised(image, timesteps: [t], noise: eps, schedule: model.schedule, prediction: .epsilon).input
            let predicted = model.unet.predict(xt, timestep: Double(t))
            let x0Hat = (xt - predicted * Float((1 - abar).squareRoot())) / Float(abar.squareRoot())
            tiles += [image, eps / 3, xt, predicted / 3, x0Hat]
            rows.append([String(t), format(abar, digits: 4), format(mse(predicted, eps), digits: 4),
                         format(mse(x0Hat, image), digits: 4)])
        }
        let grid = imageGridFromModelRange(Tensor.concatenate(tiles, axis: 0), columns: 5)
        var networkView = Plot(image: grid, title: "One test image at five noise levels")
        networkView.labelGrid(tileHeight: image.shape[2], tileWidth: image.shape[3], rows: shownTimesteps.map { "t = \($0)" },
                              columns: ["x_0", "noise eps / 3", "input x_t", "predicted eps / 3", "implied x̂_0"])
        try report.figure(Figure(networkView, width: 760, height: 700),
                          name: "network-view", caption: "What the network sees (x_t) and predicts (eps) at five timesteps, and the clean image its prediction implies.",
                          showInTerminal: false)
        report.table(headers: ["t", "alphabar_t", "MSE(eps_theta, eps)", "MSE(x̂_0, x_0)"], rows: rows,
                     alignments: [.right, .right, .right, .right])
        report.paragraph("""
            The noise error stays small at every t, but what it means for the image changes: x̂_0 = x_t/sqrt(abar) \
            − sigma_t·eps_theta with sigma_t = sqrt((1 − abar_t)/abar_t), so an error in the predicted noise \
            reaches the image multiplied by sigma_t, which is \(shownTimesteps.map { format(model.schedule.sigmas[$0], digits: 2) }.joined(separator: ", ")) \
            at these five timesteps. At t = \(shownTimesteps[0]) the input is nearly the clean image and x̂_0 nearly \
            exact; at t = \(shownTimesteps[3]) x̂_0 is a blurred garment; at t = \(shownTimesteps[4]) the tiny noise error \
            is amplified into speckle. Sampling clamps x̂_0 to [−1, 1] for this reason (section 4).
            """)

        // Loss per timestep.
        let timesteps = Array(stride(from: 0, to: 1000, by: 25)) + [999]
        let batch = testImages.sliced(axis: 0, 0..<options.lossImages)
        let b = options.lossImages
        let train = try FashionMNIST.load(.train, limit: 2000)
        let meanImage = ((train.inputs * 2 - 1).paddedImages(by: 2, value: -1)).mean(axes: [0], keepingDims: true)  // [1, 1, 32, 32]
        let meanBatch = Tensor.concatenate(Array(repeating: meanImage, count: b), axis: 0)
        let spread = mse(meanBatch, batch)  // E|x0 - mean|^2 per pixel
        report.paragraph("""
            Which timesteps are hard? The loss of the shipped network at \(timesteps.count) timesteps from 0 to 999, each \
            on the same \(b) test images (never seen in training) with fresh noise, next to a baseline that knows \
            no image at all and always guesses x̂_0 = the mean training image (its noise guess is then \
            (x_t − sqrt(alphabar_t)·mean)/sqrt(1 − alphabar_t)):
            """)
        var generatorLoss = TorchGenerator(seed: options.seed &+ 2)
        var modelLoss: [Double] = [], baselineLoss: [Double] = []
        let progress = ProgressBar(total: timesteps.count, label: "loss per timestep")
        for t in timesteps {
            let noise = generatorLoss.randn(batch.shape)
            let xt = DDPMTrainer.noised(batch, timesteps: Array(repeating: t, count: b), noise: noise, schedule: model.schedule,
                                        prediction: .epsilon).input
            let predicted = model.unet.predict(xt, timestep: Double(t))
            let abar = model.schedule.alphasCumprod[t]
            let baseline = (xt - meanBatch * Float(abar.squareRoot())) / Float((1 - abar).squareRoot())
            modelLoss.append(mse(predicted, noise))
            baselineLoss.append(mse(baseline, noise))
            progress.advance()
        }
        progress.finish()
        let sigmas2 = timesteps.map { (1 - model.schedule.alphasCumprod[$0]) / model.schedule.alphasCumprod[$0] }
        let tAxis = timesteps.map(Double.init)
        var epsPlot = Plot(title: "noise-prediction loss (what training minimizes)", xLabel: "t", yLabel: "MSE(eps_theta, eps)",
                           logY: true, legend: .topRight)
        epsPlot.line(x: tAxis, y: modelLoss, title: "shipped model", color: Color.cycle[0], points: .circle)
        epsPlot.line(x: tAxis, y: baselineLoss, title: "baseline: x̂_0 = mean image", color: "#808080", dashType: 2)
        var x0Plot = Plot(title: "the same error seen on x_0: sigma_t² × eps-loss", xLabel: "t", yLabel: "MSE(x̂_0, x_0)",
                          logY: true, legend: .bottomRight)
        x0Plot.line(x: tAxis, y: zip(modelLoss, sigmas2).map { $0 * $1 }, title: "shipped model", color: Color.cycle[0], points: .circle)
        x0Plot.line(x: tAxis, y: zip(baselineLoss, sigmas2).map { $0 * $1 }, title: "baseline: x̂_0 = mean image", color: "#808080", dashType: 2)
        try report.figure(Figure(rows: 1, columns: 2, width: 1400, height: 480, font: "sans,10", plots: [epsPlot, x0Plot]),
                          name: "loss-per-timestep", caption: "The shipped model's loss at each timestep on test images (left: the eps loss it was trained on; right: the same error expressed on x_0), against a baseline that always guesses the mean image.")
        var csv = CSVTable(header: ["t", "alphabar", "model_eps_mse", "baseline_eps_mse", "model_x0_mse", "baseline_x0_mse"])
        for (i, t) in timesteps.enumerated() {
            csv.append([t, model.schedule.alphasCumprod[t], modelLoss[i], baselineLoss[i], modelLoss[i] * sigmas2[i], baselineLoss[i] * sigmas2[i]])
        }
        try csv.write(to: outDirectory.appendingPathComponent("loss_per_timestep.csv"))
        let average = modelLoss.reduce(0, +) / Double(modelLoss.count)
        let x0Model = zip(modelLoss, sigmas2).map { $0 * $1 }, x0Baseline = zip(baselineLoss, sigmas2).map { $0 * $1 }
        let epsCrossing = timesteps.indices.first { baselineLoss[$0] < modelLoss[$0] }.map { timesteps[$0] }
        let x0Crossing = timesteps.indices.first { x0Model[$0] > x0Baseline[$0] }.map { timesteps[$0] }
        func at(_ t: Int) -> Int { timesteps.firstIndex(of: t) ?? 0 }
        report.paragraph("""
            The noise loss is largest at the smallest timesteps: \(format(modelLoss[at(0)], digits: 3)) at t = 0, \
            \(format(modelLoss[at(100)], digits: 3)) at t = 100, \(format(modelLoss[at(500)], digits: 4)) at t = 500 and \
            \(format(modelLoss.last!, digits: 4)) at t = 999. At small t the noise is a faint film over a sharp image \
            (sigma_0 = \(format(model.schedule.sigmas[0], digits: 3))): to find it the network must know, pixel by pixel, \
            what a clean garment looks like, and the baseline that knows nothing scores \(format(baselineLoss[0], digits: 0)) there. \
            At large t the input is almost all noise and "the noise is the input" is nearly right for anyone — so \
            nearly right that the mean-image baseline beats the network on the noise loss from t = \(epsCrossing.map(String.init) ?? "—") on \
            (\(format(baselineLoss.last!, digits: 1, scientific: true)) against \(format(modelLoss.last!, digits: 1, scientific: true)) at t = 999).
            """)
        report.paragraph("""
            Seen on x_0 (right), the picture turns over. The image error is sigma_t² times the noise error, and \
            sigma_t² grows from \(format(sigmas2[0], digits: 1, scientific: true)) at t = 0 to \(format(sigmas2.last!, digits: 0)) at \
            t = 999: the network's x̂_0 is nearly exact at small t, and from t = \(x0Crossing.map(String.init) ?? "—") on it is \
            *worse* than guessing the mean image (\(format(x0Model.last!, digits: 1)) against \(format(spread, digits: 3)) at \
            t = 999). A network trained to predict eps puts little effort where eps is easy, which is exactly where \
            x_0 is hard. This is why samplers clamp x̂_0 (lesson 06's image rows show the speckle at large sigma), \
            and why later work predicts v (Salimans & Ho 2022) or scales the network's input and output with sigma \
            (Karras et al. 2022). Averaged over the timesteps, the noise loss is \(format(average, digits: 4)); the \
            shipped run's training loss was about 0.037 at the end (`docs/training.md`: training images, raw rather \
            than EMA weights, one random timestep per image) — the same size.
            """)
    }
}
