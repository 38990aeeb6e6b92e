// The path a sampler takes: the state x_i at every sigma_i of its schedule, and what the denoiser
// said there, D(x_i, sigma_i). This is what the lesson's trajectory panels and `trajectories.csv`
// are drawn from.
//
// Contract: `record(step:sigma:x:denoised:)` is called by the sampler's per-step callback with
// steps 0, 1, ..., n − 1 in order (x_i is the state *before* step i, at sigma_i); `finish(x:)`
// adds the final state at sigma_n = 0, which has no denoised value. States are `[N, 2]` tensors
// (N starting points in the plane).
import Diffusion
import Foundation
import Tensor

/// The recorded path of one sampler from N starting points.
public struct Trajectory: Sendable {
    /// The sampler's name (the `sampler` column of the CSV).
    public var sampler: String
    /// sigma_i for every recorded state; the last is 0 once `finish(x:)` was called.
    public private(set) var sigmas: [Double] = []
    /// The states x_i, each `[N, 2]`.
    public private(set) var states: [[SIMD2<Double>]] = []
    /// D(x_i, sigma_i) for every state, `nil` for the final one at sigma 0.
    public private(set) var denoised: [[SIMD2<Double>]?] = []

    /// An empty trajectory for the named sampler.
    public init(sampler: String) { self.sampler = sampler }

    /// Records the state before step `step` (which must be the next index) at `sigma`.
    public mutating func record(step: Int, sigma: Double, x: Tensor, denoised: Tensor) {
        precondition(step == states.count, "Trajectory: step \(step) recorded after \(states.count) states")
        precondition(x.shape == denoised.shape, "Trajectory: x \(x.shape) and denoised \(denoised.shape) differ")
        sigmas.append(sigma)
        states.append(planarPoints(x))
        self.denoised.append(planarPoints(denoised))
    }

    /// Adds the final state at sigma 0.
    public mutating func finish(x: Tensor) {
        sigmas.append(0)
        states.append(planarPoints(x))
        denoised.append(nil)
    }

    /// The number of starting points N.
    public var sampleCount: Int { states.first?.count ?? 0 }

    /// The header of `trajectories.csv`.
    public static let csvHeader = ["sampler", "sample", "step", "sigma", "x", "y", "denoised_x", "denoised_y"]

    /// Appends this trajectory's rows to a table with `csvHeader`: one row per starting point and
    /// step, grouped by starting point, steps in order.
    public func appendRows(to table: inout CSVTable) {
        precondition(table.header == Self.csvHeader, "Trajectory: the table's header is \(table.header)")
        for sample in 0..<sampleCount {
            for step in states.indices {
                let x = states[step][sample]
                let d = denoised[step]?[sample]
                // States are Float32 in the samplers; write them as Float so the text is the
                // shortest one that reads back to the sampler's exact value.
                table.append([sampler, sample, step, sigmas[step], Float(x.x), Float(x.y), d.map { Float($0.x) }, d.map { Float($0.y) }])
            }
        }
    }

    /// A table with `csvHeader` holding all the given trajectories.
    public static func table(_ trajectories: [Trajectory]) -> CSVTable {
        var table = CSVTable(header: csvHeader)
        for trajectory in trajectories { trajectory.appendRows(to: &table) }
        return table
    }
}
