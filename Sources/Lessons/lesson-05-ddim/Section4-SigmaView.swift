// lesson-05-ddim, section 4: DDIM seen in sigma, as Euler's method on the probability-flow
// ODE. Called from `Lesson.run()` in `main.swift`, in page order.

import Diffusion
import Foundation
import LessonKit
import Tensor

extension Lesson {
    // MARK: 4. The sigma view

    func sigmaView(_ report: Report, model: DDPMModel, outDirectory: URL) throws {
        report.heading("4. The sigma view: DDIM is Euler's method")
        report.paragraph("""
            Rescale the state: x = x_t / sqrt(alphabar_t), sigma = sqrt((1 − alphabar_t)/alphabar_t). Then \
            x = x_0 + sigma·eps, and the network's x̂_0 is a denoiser D(x; sigma) = x − sigma·eps_theta \
            (evaluated on the network's own input x_t = x/sqrt(1 + sigma²)). Divide DDIM's eq. 12 with eta = 0 \
            by sqrt(a'):
            """)
        report.code("""
            x_t'/sqrt(a') = x̂_0 + sqrt((1 − a')/a')·eps                  that is   x' = D + sigma'·eps
            eps = (x − D)/sigma                                           so        x' = x + (sigma' − sigma)·(x − D(x; sigma))/sigma
            """)
        report.paragraph("""
            The last line is one step of Euler's method, from sigma to sigma', on the ordinary differential \
            equation dx/dsigma = (x − D(x; sigma))/sigma — the probability-flow ODE in the parameterization of \
            Karras et al. 2022 ("Elucidating the Design Space…", sec. 3 and Table 1); the DDIM paper itself makes \
            the same observation (Song, Meng & Ermon 2021, sec. 4.3, "Relevance to neural ODEs"). DDIM with eta = 0 is Euler on that ODE, exactly, step by step. Shown numerically: \
            DDIM's eq. 12 written out below in the paper's variables (x_t, alphabar, eps_theta), and the library's \
            `euler` sampler on x with the model's denoiser, over the same \(options.steps) noise levels (the model's \
            sigma_t at \(options.steps) integer timesteps from 999 to 0, then 0), the same \(options.checkCount) starting \
            noises, no clamping. After every step the Euler state is rescaled, x·sqrt(alphabar_t'), and compared with \
            DDIM's x_t'.
            """)
        let schedule = model.schedule
        let n = options.steps
        // Integer timesteps from 999 to 0, evenly spaced.
        let timesteps = (0..<n).map { i in Int((Double(schedule.trainingSteps - 1) * Double(n - 1 - i) / Double(n - 1)).rounded()) }
        let sigmas = timesteps.map { schedule.sigmas[$0] } + [0]
        var generator = TorchGenerator(seed: options.seed &+ 3)
        let xT = generator.randn([options.checkCount, 1, 32, 32])

        // DDIM, eq. 12 with eta = 0, in the paper's variables.
        let progress = ProgressBar(total: 2 * n, label: "DDIM vs Euler")
        var ddimStates: [Tensor] = []
        var x = xT
        for (i, t) in timesteps.enumerated() {
            let a = schedule.alphasCumprod[t]
            let aNext = i + 1 < n ? schedule.alphasCumprod[timesteps[i + 1]] : 1
            let eps = model.unet.predict(x, timestep: Double(t))
            let x0 = (x - eps * Float((1 - a).squareRoot())) / Float(a.squareRoot())
            x = x0 * Float(aNext.squareRoot()) + eps * Float((1 - aNext).squareRoot())
            ddimStates.append(x)
            progress.advance()
        }

        // Euler on dx/dsigma = (x - D)/sigma, on the rescaled state, with the library's sampler.
        var eulerStates: [Tensor] = []
        let a0 = schedule.alphasCumprod[timesteps[0]]
        var stepIndex = 0
        let eulerFinal = try EulerSampler().sample(model.denoiser(), x: xT / Float(a0.squareRoot()), sigmas: sigmas, seed: 0) { step in
            if step.index > 0 { eulerStates.append(step.x) }
            stepIndex = step.index
            progress.advance()
        }
        progress.finish()
        eulerStates.append(eulerFinal)
        precondition(stepIndex == n - 1 && eulerStates.count == n, "Euler made \(eulerStates.count) steps, expected \(n)")

        var differences: [Double] = [], magnitudes: [Double] = []
        var csv = CSVTable(header: ["step", "timestep_after", "sigma_after", "max_abs_difference", "max_abs_state"])
        for i in 0..<n {
            let aNext = i + 1 < n ? schedule.alphasCumprod[timesteps[i + 1]] : 1
            let rescaled = eulerStates[i] * Float(aNext.squareRoot())
            let dd = maxAbs(rescaled, ddimStates[i])
            differences.append(dd)
            magnitudes.append(maxAbs(ddimStates[i], ddimStates[i] * 0))
            csv.append([i + 1, i + 1 < n ? timesteps[i + 1] : -1, sigmas[i + 1], dd, magnitudes[i]])
        }
        try csv.write(to: outDirectory.appendingPathComponent("ddim_vs_euler.csv"))
        let shown = Array(Set([0, 1, 2, n / 4, n / 2, 3 * n / 4, n - 2, n - 1])).filter { $0 >= 0 && $0 < n }.sorted()
        report.table(
            headers: ["step", "from t", "to t", "sigma after", "max |DDIM x_t' − Euler x·sqrt(abar')|", "max |x_t'|"],
            rows: shown.map { i in
                [String(i + 1), String(timesteps[i]), i + 1 < n ? String(timesteps[i + 1]) : "x_0", format(sigmas[i + 1], digits: 4),
                 format(differences[i], digits: 2, scientific: true), format(magnitudes[i], digits: 2)]
            },
            alignments: Array(repeating: .right, count: 6))
        let perStep = differences.enumerated().map { "\(String(format: "%2d", $0.offset + 1)): \(format($0.element, digits: 1, scientific: true))" }
        let lines = stride(from: 0, to: perStep.count, by: 5).map { perStep[$0..<min($0 + 5, perStep.count)].joined(separator: "   ") }
        report.paragraph("Every step (step: max |difference|):")
        report.code(lines.joined(separator: "\n"))
        var plot = Plot(title: "DDIM (eq. 12) vs Euler on the probability-flow ODE, \(options.checkCount) images", xLabel: "step",
                        yLabel: "max abs difference of the states", logY: true, legend: .hidden)
        plot.line(x: differences.indices.map { Double($0 + 1) }, y: differences.map { max($0, 1e-9) }, color: Color.cycle[0], points: .circle)
        try report.figure(Figure(plot, width: 900, height: 380), name: "ddim-vs-euler",
                          caption: "The largest difference between DDIM's state and Euler's rescaled state after every step: Float32 rounding, not a difference of method.")
        let worst = differences.max() ?? 0
        report.paragraph("""
            The largest difference over all \(n) steps and \(options.checkCount * xT.count / options.checkCount) values \
            is \(format(worst, digits: 1, scientific: true)), on states of size up to \(format(magnitudes.max() ?? 0, digits: 1)) \
            (without the clamp, x̂_0 of this undertrained model leaves [−1, 1]) — a relative difference of \
            \(format(worst / max(magnitudes.max() ?? 1, 1e-30), digits: 1, scientific: true)), about \
            \(format(worst / max(magnitudes.max() ?? 1, 1e-30) / Double(Float.ulpOfOne), digits: 0)) times Float32's machine epsilon \
            after \(n) steps: the rounding of Float32 arithmetic done in a different order (the Euler side also passes x through \
            1/sqrt(1 + sigma²) and the timestep through log-sigma interpolation before the network sees them). \
            Two programs that look different — a rebuild from x̂_0 and eps in the variables of a variance-preserving \
            process, and a step of an ODE solver in the variables of a variance-exploding one — are one method.
            """)
        report.paragraph("""
            Why this matters: in the sigma view, a trained eps-network is just a denoiser D(x; sigma), and sampling is \
            solving one ODE from sigma_max to 0. Everything a numerical analyst knows about ODE solvers then applies: \
            take higher-order steps (Heun, DPM-Solver++, linear multistep), put the steps where the solution curves \
            (the Karras schedule), or add noise back (ancestral and SDE samplers, eta > 0). Lesson 06 measures them \
            all on a problem whose exact solution is known.
            """)
    }
}
