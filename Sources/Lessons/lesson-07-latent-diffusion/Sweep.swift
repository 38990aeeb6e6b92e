// lesson-07-latent-diffusion: the committed FID sweeps as data — reading `diffuse fid-sweep`
// CSV files and the medians and ranks the conclusion quotes. Plumbing, not narration: the
// lesson's sections are in `main.swift`.

import Diffusion
import Foundation
import Tensor

/// One row of a `diffuse fid-sweep` CSV file.
struct SweepRow {
    let sampler: String
    let steps: Int
    let evaluations: Int
    let count: Int
    let batchSize: Int
    let fid: Double
    let seconds: Double
}

/// The FID sweep of one model, read from its committed CSV file.
struct Sweep {
    let family: String
    let file: URL
    let rows: [SweepRow]
    /// FID of real training images against the test set with the same image count: the floor.
    let floor: Double?

    var samplers: [String] {
        var seen: [String] = []
        for row in rows where !seen.contains(row.sampler) { seen.append(row.sampler) }
        return seen
    }

    func fid(_ sampler: String, steps: Int) -> Double? {
        rows.first { $0.sampler == sampler && $0.steps == steps }?.fid
    }

    /// Reads a sweep CSV (header with at least sampler, steps, model_evaluations, count, batch_size,
    /// fid, seconds; the row whose sampler is `real-train` is the floor).
    static func read(_ url: URL, family: String) throws -> Sweep {
        let table: CSVTable
        do {
            table = try CSVTable(contentsOf: url)
        } catch {
            throw LessonError(description: "cannot read the sweep \(url.path) (\(error)): run `diffuse fid-sweep` (the command is in docs/data/) or restore the file from git")
        }
        func column(_ name: String) throws -> Int {
            guard let index = table.header.firstIndex(of: name) else {
                throw LessonError(description: "\(url.path) has no column \"\(name)\" (columns: \(table.header.joined(separator: ", ")))")
            }
            return index
        }
        let (s, n, e, c, f, t) = (try column("sampler"), try column("steps"), try column("model_evaluations"),
                                  try column("count"), try column("fid"), try column("seconds"))
        let b = try column("batch_size")
        var rows: [SweepRow] = []
        var floor: Double?
        for cells in table.rows {
            let malformed = LessonError(description: "\(url.path): malformed row \"\(cells.joined(separator: ","))\"")
            guard let fid = Double(cells[f]) else { throw malformed }
            if cells[s] == "real-train" { floor = fid; continue }
            guard let steps = Int(cells[n]), let evaluations = Int(cells[e]), let count = Int(cells[c]),
                  let batchSize = Int(cells[b]), let seconds = Double(cells[t]) else { throw malformed }
            rows.append(SweepRow(sampler: cells[s], steps: steps, evaluations: evaluations, count: count, batchSize: batchSize,
                                 fid: fid, seconds: seconds))
        }
        return Sweep(family: family, file: url, rows: rows, floor: floor)
    }
}

/// Medians and ranks the conclusion quotes, computed from one sweep.
struct SweepSummary {
    let sweep: Sweep

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return .nan }
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    /// The median FID at `steps` of the stochastic (or deterministic) samplers.
    func median(stochastic: Bool, steps: Int) -> Double {
        SweepSummary.median(sweep.rows.filter { $0.steps == steps && (SamplerName(rawValue: $0.sampler)?.isStochastic ?? false) == stochastic }.map(\.fid))
    }

    /// The rank (1 = best FID) of `sampler` among all samplers at `steps`, and how many there are.
    func rank(of sampler: String, steps: Int) -> (rank: Int, of: Int)? {
        let atSteps = sweep.rows.filter { $0.steps == steps }.sorted { $0.fid < $1.fid }
        guard let index = atSteps.firstIndex(where: { $0.sampler == sampler }) else { return nil }
        return (index + 1, atSteps.count)
    }

    /// The sampler with the lowest FID at `steps`.
    func best(steps: Int) -> SweepRow? { sweep.rows.filter { $0.steps == steps }.min { $0.fid < $1.fid } }

    /// The largest relative FID difference between two samplers that are the same algorithm in
    /// the sigma view (ddim = euler, ddpm = euler_ancestral), over all step counts.
    func largestTwinDifference() -> Double {
        var worst = 0.0
        for (a, b) in [("ddim", "euler"), ("ddpm", "euler_ancestral")] {
            for steps in Set(sweep.rows.map(\.steps)) {
                if let x = sweep.fid(a, steps: steps), let y = sweep.fid(b, steps: steps) {
                    worst = max(worst, abs(x - y) / max(abs(y), 1e-12))
                }
            }
        }
        return worst
    }
}
