// lesson-07-latent-diffusion, section 4: what the committed sweeps show and what they do not.
// Every claim is a row of a table computed from the sweeps (claim, the numbers, whether they
// bear it out), so a new sweep rewrites the answers; the prose around the table explains the
// mechanisms and does not depend on the run. Called from `Lesson.run()` in `main.swift`.

import Diffusion
import Foundation
import LessonKit

extension Lesson {
    // MARK: 4. What the measurements show

    func conclude(sweep: [Sweep]) {
        report.heading("4. What this shows, and what it does not")
        let summaries = sweep.map(SweepSummary.init)
        func f(_ x: Double?) -> String { x.map { String(format: "%.1f", $0) } ?? "–" }
        var rows: [[String]] = []
        for summary in summaries {
            let ea10 = summary.rank(of: "euler_ancestral", steps: 10)
            let ea5 = summary.rank(of: "euler_ancestral", steps: 5)
            rows.append([summary.sweep.family, f(summary.sweep.floor),
                         f(summary.median(stochastic: false, steps: 50)), f(summary.median(stochastic: true, steps: 50)),
                         summary.best(steps: 5).map { "\($0.sampler) \(f($0.fid))" } ?? "–",
                         summary.best(steps: 10).map { "\($0.sampler) \(f($0.fid))" } ?? "–",
                         "\(f(summary.sweep.fid("euler_ancestral", steps: 5))) (#\(ea5?.rank ?? 0)/\(ea5?.of ?? 0))",
                         "\(f(summary.sweep.fid("euler_ancestral", steps: 10))) (#\(ea10?.rank ?? 0)/\(ea10?.of ?? 0))",
                         f(summary.sweep.fid("euler_ancestral", steps: 50))])
        }
        report.table(headers: ["model", "floor", "median deterministic @50", "median stochastic @50", "best @5", "best @10",
                               "euler_ancestral @5 (rank)", "@10 (rank)", "@50"],
                     rows: rows, alignments: [.left, .right, .right, .right, .left, .left, .right, .right, .right])
        let twins = summaries.map { $0.largestTwinDifference() }.max() ?? 0
        report.paragraph(String(format: """
            A check first: `ddim` and `euler`, and `ddpm` and `euler_ancestral`, are the same algorithms written in \
            different variables (lesson 05 shows it step by step), and in both sweeps their FIDs agree to a relative \
            %.1e — the sweep measures samplers, not bookkeeping.
            """, twins))

        report.paragraph("""
            The folklore makes several claims at once. Each row below is one of them, with the FIDs that test it \
            (lower is better) and whether they bear it out for each model:
            """)
        report.table(headers: ["claim"] + summaries.map(\.sweep.family), rows: claims.map { claim in
            [claim.text] + summaries.map { claim.verdict($0) }
        }, alignments: [.left] + summaries.map { _ in .left })

        report.paragraph("""
            **Why a stochastic sampler can win.** The deterministic samplers all converge, as the steps grow, to one \
            answer: the solution of the probability-flow ODE for *this* network, which is only as good as the \
            network's denoiser at every noise level along the way. A stochastic sampler adds fresh noise at every \
            step and denoises again, which pulls the trajectory back to the noise levels the network was trained on \
            and washes out errors made earlier (Karras et al. 2022, §4: the noise "corrects errors made in earlier \
            sampling steps"). With few steps a deterministic Euler step of length σ → σ' moves toward the \
            denoiser's average guess D(x; σ), which is blurry; the ancestral step goes only to σ↓ and adds fresh \
            noise back up to σ', so every step ends on a noisy image the network knows how to treat, and its error \
            shows up as a different sample rather than a smeared one. The first rows of the table say how much \
            of that holds for these two networks; the last row compares it with samplers that spend the same \
            budget of one network call per step on a higher-order step (DPM-Solver++(2M) and its SDE variant, \
            Lu et al. 2022).
            """)
        report.paragraph("""
            **What the measurements do not show.** These are two small models trained for about an hour each on two \
            CPU cores; both are far from the floor (real images score \(summaries.map { f($0.sweep.floor) }.joined(separator: " and ")) \
            with the same number of images), and a better-trained network narrows the gap between its ODE solution \
            and the data, which shrinks the advantage of stochastic samplers. FID here uses a small classifier's \
            features, not Inception's, and \(summaries.first?.sweep.rows.first?.count ?? 0) images per point, so \
            differences of a few units are noise (section 3 measures how much). Every point uses the model's own \
            discrete timesteps; other schedules were not measured (Karras et al. 2022 report that their schedule \
            helps deterministic samplers at low step counts, so the low-step ranking may differ). \
            And Fashion-MNIST is not Stable Diffusion: the claim about SD itself still needs SD to test it.
            """)
    }

    /// The folklore's claims, each with the test the sweep answers it by.
    var claims: [SweepClaim] {
        [
            SweepClaim(text: "at 50 steps, stochastic samplers beat deterministic ones (median FID)") { s in
                (s.median(stochastic: true, steps: 50), s.median(stochastic: false, steps: 50), "stochastic", "deterministic")
            },
            SweepClaim(text: "`euler_ancestral` beats its deterministic twin `euler` at 10 steps") { s in
                (s.sweep.fid("euler_ancestral", steps: 10), s.sweep.fid("euler", steps: 10), "euler_ancestral", "euler")
            },
            SweepClaim(text: "… and at 5 steps") { s in
                (s.sweep.fid("euler_ancestral", steps: 5), s.sweep.fid("euler", steps: 5), "euler_ancestral", "euler")
            },
            SweepClaim(text: "`euler_ancestral` is the best sampler at 10 steps") { s in
                let rivals = s.sweep.rows.filter { $0.steps == 10 && $0.sampler != "euler_ancestral" }.min { $0.fid < $1.fid }
                return (s.sweep.fid("euler_ancestral", steps: 10), rivals?.fid, "euler_ancestral", rivals.map { "best other, \($0.sampler)" } ?? "best other")
            },
            SweepClaim(text: "`euler_ancestral` beats the multistep DPM-Solver++ samplers at 10 steps") { s in
                let multistep = ["dpmpp_2m", "dpmpp_2m_sde"].compactMap { name in s.sweep.fid(name, steps: 10).map { (name, $0) } }.min { $0.1 < $1.1 }
                return (s.sweep.fid("euler_ancestral", steps: 10), multistep?.1, "euler_ancestral", multistep?.0 ?? "dpmpp_2m")
            },
        ]
    }
}

/// A claim about samplers tested on a sweep: it holds when the FID of its subject is lower than
/// the FID it is compared with.
struct SweepClaim {
    /// The claim, as the folklore states it.
    let text: String
    /// (subject's FID, the other FID, the subject's name, the other's name) for one sweep.
    let measure: (SweepSummary) -> (Double?, Double?, String, String)

    init(text: String, measure: @escaping (SweepSummary) -> (Double?, Double?, String, String)) {
        self.text = text
        self.measure = measure
    }

    /// "yes: 60 against 120 (subject against other)", "no: …", or "not measured".
    func verdict(_ summary: SweepSummary) -> String {
        let (subject, other, subjectName, otherName) = measure(summary)
        guard let a = subject, let b = other else { return "not measured" }
        return "\(a < b ? "yes" : "no"): \(format(a, digits: 0)) (\(subjectName)) against \(format(b, digits: 0)) (\(otherName))"
    }
}
