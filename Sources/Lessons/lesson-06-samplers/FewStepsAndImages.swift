// Lesson 06, the end of section 5 and section 6: what few steps do to the samples, and the same
// samplers on a trained pixel model. Called from `main.swift` in page order.

import ArgumentParser
import Diffusion
import DiffusionStudies
import Foundation
import LessonKit
import Tensor

/// The samples at 5 steps, `euler_ancestral`'s few-step reputation and `dpmpp_3m_sde`'s failure, with the run's numbers.
func fewSteps(
    _ report: Report, options: Lesson06, mixture: GaussianMixture, schedule: SamplingSchedule,
    compared: [(name: SamplerName, sampler: any Sampler)], normals: Tensor,
    point: (SamplerName, Int) -> DistributionPoint?, outDirectory: URL
) throws {
    let shownSteps = 5
    let sigmas = try schedule.sigmas(steps: shownSteps)
    let window = Window.mixtureWindow(mixture)
    var generator = SeededGenerator(seed: options.seed &+ 3)
    let exactSamples = mixture.samples(count: normals.shape[0], using: &generator).map { SIMD2($0[0], $0[1]) }
    var panels = [samplesPanel("exact samples", points: exactSamples, color: "black", mixture: mixture, window: window)]
    var samplesTable = CSVTable(header: ["sampler", "steps", "sample", "x", "y"])
    let shown: [SamplerName] = [.euler, .heun, .dpmpp2M, .eulerAncestral, .dpmpp2SAncestral, .dpmpp2MSDE, .dpmppSDE, .dpmpp3MSDE]
    for (name, sampler) in compared where shown.contains(name) {
        let end = try sampler.sample(mixture, x: startingPoints(normals: normals, sigma: sigmas[0]), sigmas: sigmas,
                                     noise: defaultNoise(forSamplerNamed: sampler.name, sigmas: sigmas, seed: options.seed), callback: nil)
        let points = planarPoints(end)
        for (i, p) in points.enumerated() { samplesTable.append([name.rawValue, shownSteps, i, p.x, p.y]) }
        panels.append(samplesPanel("\(name.rawValue), \(shownSteps) steps", points: points, color: SamplerStyle.of(name.rawValue).color,
                                   mixture: mixture, window: window))
    }
    try samplesTable.write(to: outDirectory.appendingPathComponent("samples.csv"))
    let columns = min(3, panels.count), rows = (panels.count + columns - 1) / columns
    try report.figure(Figure(rows: rows, columns: columns, width: 480 * columns, height: 430 * rows,
                             title: "\(normals.shape[0]) samples after \(shownSteps) steps, over the true density", font: "sans,12", plots: panels),
                      name: "samples-5-steps", caption: "What few steps do to the samples: exact samples against deterministic and stochastic samplers at 5 steps.",
                      showInTerminal: false)

    report.heading("Why does `euler_ancestral` look good in 5–10 steps?", level: 3)
    if let ea5 = point(.eulerAncestral, 5), let e5 = point(.euler, 5), let ea10 = point(.eulerAncestral, 10), let e10 = point(.euler, 10) {
        report.paragraph("""
            Practitioners of Stable Diffusion report good images from `euler_ancestral` ("Euler a") in 5–10 steps. On the \
            exact test bed it strands \(percent(ea5.modes.offModeFraction)) of its samples between modes at 5 steps and \
            \(percent(ea10.modes.offModeFraction)) at 10, against \(percent(e5.modes.offModeFraction)) and \
            \(percent(e10.modes.offModeFraction)) for `euler` (sliced W1 \(format(ea5.distance, digits: 3)) and \
            \(format(ea10.distance, digits: 3)) against \(format(e5.distance, digits: 3)) and \(format(e10.distance, digits: 3))).
            """)
    }
    let ranked = compared.compactMap { c in point(c.name, 5).map { (c.name, $0) } }.sorted { $0.1.distance < $1.1.distance }
    if ranked.count >= 2 {
        report.paragraph("The closest at 5 steps are `\(ranked[0].0.rawValue)` (\(format(ranked[0].1.distance, digits: 3)), \(ranked[0].1.evaluations) NFE) and `\(ranked[1].0.rawValue)` (\(format(ranked[1].1.distance, digits: 3)), \(ranked[1].1.evaluations) NFE).")
    }
    let visited = sigmas.map { format(significant: $0) }.joined(separator: ", ")
    report.paragraph("""
        With the `\(schedule.kind.rawValue)` schedule, 5 steps visit sigma = \(visited): one step crosses, in one go, the \
        noise levels at which the modes separate. Euler's step there lands near D(x, sigma), the posterior mean at a noise \
        level where several modes are still plausible — a point between them. The ancestral step does not escape this: with \
        an exact denoiser its deterministic part lands on the exact conditional mean E[x_sigma' | x_sigma], and its noise \
        has the variance the step would have if x0 were known (DDPM's posterior, Ho et al. 2020); when the true law of \
        x_sigma' given x_sigma is split among modes, a Gaussian around its mean puts samples between them. Samplers that \
        evaluate the denoiser a second time inside the step (`dpmpp_2s_ancestral`, `dpmpp_sde`) commit to a mode there and do \
        better at the same number of steps, for twice the evaluations. So with an exact denoiser `euler_ancestral` is not a \
        good few-step sampler: its reputation must come from what this test bed leaves out — a trained denoiser's errors, \
        which fresh noise lets later steps correct (Karras et al. 2022, sec. 4), and what the eye rewards (section 6).
        """)

    // dpmpp_3m_sde: the same sampler without its noise (eta = 0) separates the extrapolation from the noise.
    guard compared.contains(where: { $0.name == .dpmpp3MSDE }), let p10 = point(.dpmpp3MSDE, 10) else { return }
    report.heading("What goes wrong with `dpmpp_3m_sde` at few steps?", level: 3)
    let tenSteps = try schedule.sigmas(steps: 10)
    var offMode: [String: Double] = [:]
    for (label, sampler) in [("3m_sde, eta 0", DPMPP3MSDESampler(eta: 0) as any Sampler), ("2m_sde, eta 0", DPMPP2MSDESampler(eta: 0))] {
        let end = try sampler.sample(mixture, x: startingPoints(normals: normals, sigma: tenSteps[0]), sigmas: tenSteps,
                                     noise: defaultNoise(forSamplerNamed: sampler.name, sigmas: tenSteps, seed: options.seed), callback: nil)
        offMode[label] = ModeStatistics(samples: planarPoints(end), mixture: mixture).offModeFraction
    }
    let trend = [5, 10, 20, 50].compactMap { s in point(.dpmpp3MSDE, s).map { "\(percent($0.modes.offModeFraction)) at \(s) steps" } }
    let twin = point(.dpmpp2MSDE, 10)
    report.paragraph("""
        `dpmpp_3m_sde` strands \(trend.joined(separator: ", ")), with modes \(format(p10.modes.spreadRatio, digits: 2)) times too \
        wide at 10 steps\(twin.map { ", where `dpmpp_2m_sde` strands \(percent($0.modes.offModeFraction))" } ?? ""). Taking the noise \
        away separates the two ingredients: with eta = 0 (the same third-order multistep rule, no noise) it strands \
        \(percent(offMode["3m_sde, eta 0"]!)) at 10 steps, and `dpmpp_2m_sde` with eta = 0 \(percent(offMode["2m_sde, eta 0"]!)). \
        \(offMode["3m_sde, eta 0"]! < 0.5 * p10.modes.offModeFraction
            ? "The failure needs both: the extrapolation D̂ is built from the last three denoised values, which the injected noise scatters, and with steps this long the third-order weights amplify that scatter instead of averaging it."
            : "The extrapolation alone fails: with steps this long the third-order weights on the last three denoised values overshoot, noise or not.") \
        k-diffusion's own `sample_dpmpp_3m_sde` does the same on this mixture (`tools/lesson06_kdiffusion_crosscheck.py`); \
        by 50 steps the sampler has recovered, so this is a few-step limitation, not an error.
        """)
}

/// The samplers on a trained pixel DDPM: the denoised prediction at every step, and how rough the samples come out.
func images(_ report: Report, options: Lesson06) throws {
    report.heading("6. The same samplers on images")
    let model: DDPMModel
    do {
        model = try DDPMModel.load(from: URL(fileURLWithPath: options.ddpmCheckpoint))
    } catch {
        report.paragraph("No trained pixel DDPM could be loaded from `\(options.ddpmCheckpoint)` (\(error)); the image part is skipped. `diffuse train` and `diffuse export` make one (docs/training.md).")
        return
    }
    guard model.unet.configuration.inChannels == 1, model.unet.configuration.sampleSize == 32 else {
        throw ValidationError("--ddpm \(options.ddpmCheckpoint) is a model of \(model.unet.configuration.inChannels)-channel \(model.unet.configuration.sampleSize)x\(model.unet.configuration.sampleSize) images; the image part needs a pixel DDPM of 1-channel 32x32 images (such as models/ddpm-fmnist)")
    }
    let names = ["euler", "ddim", "heun", "dpmpp_2m", "euler_ancestral", "dpmpp_2m_sde"]
    let steps = 8, count = 8, shown = 2
    var rows: [Tensor] = []
    var roughnessRows: [[String]] = []
    var roughnessOf: [String: Double] = [:]
    for name in names {
        var predictions: [Tensor] = []
        let final = try model.sample(count: count, sampler: name, steps: steps, schedule: "karras", seed: options.seed) { step in
            predictions.append(step.denoised)
        }
        for image in 0..<shown {
            let column = predictions.map { $0.sliced(axis: 0, image..<(image + 1)) } + [final.sliced(axis: 0, image..<(image + 1))]
            rows.append(Tensor.concatenate(column, axis: 0))
        }
        roughnessOf[name] = roughness(final)
        roughnessRows.append(["`\(name)`", format(roughnessOf[name]!, digits: 3), format(roughness(predictions[steps / 2]), digits: 3)])
    }
    report.paragraph("""
        The same question on a trained model: the small pixel-space DDPM on Fashion-MNIST shipped in `\(options.ddpmCheckpoint)` \
        (an epsilon-predicting UNet wrapped as a denoiser exactly as above). Each row is one sampler and one starting noise \
        (seed \(options.seed), the same for every sampler), \(steps) steps on the `karras` schedule; the columns are the \
        denoised predictions D(x_i, sigma_i) at steps 0 to \(steps - 1) and, last, the final sample.
        """)
    let grid = imageGridFromModelRange(Tensor.concatenate(rows, axis: 0), columns: steps + 1)
    var picture = Plot(image: grid, title: "Denoised prediction D(x, sigma) at each step, then the final sample")
    let sigmas = try model.sigmas(steps: steps, schedule: "karras")
    picture.labelGrid(tileHeight: rows[0].shape[2], tileWidth: rows[0].shape[3],
                      rows: names.flatMap { Array(repeating: $0, count: shown) },
                      columns: sigmas.dropLast().map { "σ " + format(significant: $0, 3) } + ["sample"])
    try report.figure(Figure(rows: 1, columns: 1, width: 1100, height: 1080, font: "sans,12", plots: [picture]),
                      name: "images", caption: "A trained pixel DDPM sampled by six samplers from the same noise: D(x_i, sigma_i) at each of \(steps) steps, then the final sample (two rows per sampler).",
                      showInTerminal: false)
    report.paragraph("Roughness — the mean absolute difference between neighbouring pixels, on the [−1, 1] scale, over \(count) samples per sampler — measures the speckle the eye sees:")
    report.table(headers: ["sampler", "roughness of the samples", "roughness of D at step \(steps / 2)"], rows: roughnessRows,
                 alignments: [.left, .right, .right])
    let deterministic = ["euler", "ddim", "heun", "dpmpp_2m"].compactMap { roughnessOf[$0] }
    guard let ancestral = roughnessOf["euler_ancestral"], let most = deterministic.max(), let least = deterministic.min() else { return }
    report.paragraph("""
        The deterministic samplers end at roughness \(format(least, digits: 3))–\(format(most, digits: 3)), `euler_ancestral` at \
        \(format(ancestral, digits: 3)); `euler` and `ddim` give the same pictures, as they take the same steps. \
        \(ancestral < least
            ? "Here the ancestral sampler is the smooth one, the opposite of the exact test bed, where it was no better at few steps: the network predicts the noise, and D = x − sigma·eps multiplies its errors by sigma, so a deterministic sampler carries the network's early errors to the end as speckle, while fresh noise at each step replaces part of the state and lets later, more accurate steps wash them out (the correction Karras et al. 2022, sec. 4, credit to stochastic sampling; lesson 05 measures the same with DDIM's eta). This is the model error the exact test bed cannot show, and one reason `euler_ancestral` looks good in few steps."
            : "Here the ancestral sampler is not smoother than the deterministic ones, so this model does not show the speckle that fresh noise would wash out.")
        """)
}

/// Section 3's particle figure: 600 points carried from noise to data by euler and two stochastic samplers.
func particleFlow(_ report: Report, names: [SamplerName], compared: [(name: SamplerName, sampler: any Sampler)],
                  mixture: GaussianMixture, schedule: SamplingSchedule, steps: Int, seed: UInt64) throws {
    let flowSamplers = [SamplerName.euler, .eulerAncestral, .dpmpp2MSDE].filter(names.contains)
    if !flowSamplers.isEmpty {
        report.paragraph("""
            The same as a flow of particles: 600 points from noise, \(steps) steps of the schedule, shown at six of the \
            steps over the density of x_sigma at that sigma (the data blurred by noise of that size). At every sigma the \
            particles of a good sampler fill the shading they sit on; the deterministic flow moves them there along the \
            straight lines and bends of the ODE, the stochastic ones by jumps.
            """)
        let particleNormals = { var g = SeededGenerator(seed: seed &+ 4); return g.normalTensor([600, 2]) }()
        let sigmas = try schedule.sigmas(steps: steps)
        var flow: [Plot] = []
        for name in flowSamplers {
            let sampler = compared.first { $0.name == name }!.sampler
            let trajectory = try SamplerStudies.trajectory(of: sampler, mixture: mixture, start: startingPoints(normals: particleNormals, sigma: sigmas[0]),
                                                           sigmas: sigmas, seed: seed)
            flow += particleRow(name, trajectory: trajectory, mixture: mixture, columns: 6)
        }
        try report.figure(Figure(rows: flowSamplers.count, columns: 6, width: 1800, height: 330 * flowSamplers.count,
                                 title: "600 particles from noise to data (each panel zoomed to its sigma)", font: "sans,12", plots: flow),
                          name: "particles", caption: "Particles of the 2-D mixture carried from noise to data by a deterministic and two stochastic samplers, over the density of x_sigma at each shown sigma.",
                          showInTerminal: false)
    }
}
