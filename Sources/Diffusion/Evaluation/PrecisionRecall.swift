// Contract: improved precision and recall (Kynkäänniemi et al. 2019, "Improved Precision and
// Recall Metric for Assessing Generative Models", §2, eq. 1-3), in the same feature space as
// the FID. Each set of feature vectors Φ approximates its manifold by the union of balls
// centred on its points, each of radius the distance to the point's k-th nearest neighbour
// within the set (itself excluded):
//   f(φ, Φ) = 1 if ‖φ − φ'‖ ≤ ‖φ' − NN_k(φ', Φ)‖ for at least one φ' ∈ Φ, else 0
//   precision = mean over generated φ_g of f(φ_g, Φ_real)   (samples that look real: quality)
//   recall    = mean over real φ_r of f(φ_r, Φ_gen)         (real variety covered: diversity)
// with k = 3, the paper's choice. Distances are Euclidean, computed in Double from the Float32
// features, exactly (no ‖a‖² + ‖b‖² − 2 a·b shortcut, whose cancellation would move points
// across ball boundaries). Cost O((N + M)² D); the two sets should have the same size (the
// metric's estimates depend on it; the paper uses equal sizes).

import Foundation
import Tensor

/// Improved precision and recall of a generated feature set against a real one.
public struct PrecisionRecall: Sendable, Equatable {
    /// Fraction of generated samples inside the real manifold estimate.
    public var precision: Double
    /// Fraction of real samples inside the generated manifold estimate.
    public var recall: Double

    /// Creates the pair.
    public init(precision: Double, recall: Double) {
        self.precision = precision
        self.recall = recall
    }

    /// Computes both for `real` [N, D] and `generated` [M, D] features with `k` nearest neighbours.
    /// - Throws: `FIDError.invalidCount` for k < 1 or a set of at most `k` rows (no k-th
    ///   neighbour), `FIDError.dimensionMismatch`, `FIDError.nonFiniteValues`.
    public init(real: Tensor, generated: Tensor, k: Int = 3) throws {
        guard k >= 1 else { throw FIDError.invalidCount("k = \(k): the nearest-neighbour count must be at least 1") }
        guard real.rank == 2, generated.rank == 2, real.shape[1] == generated.shape[1] else {
            throw FIDError.dimensionMismatch("feature matrices \(real.shape) and \(generated.shape) must be [N, D] with the same D")
        }
        for set in [real, generated] where set.shape[0] <= k {
            throw FIDError.invalidCount("precision and recall with k = \(k) need at least \(k + 1) images per set, got \(set.shape[0])")
        }
        let d = real.shape[1]
        let a = real.contiguous().scalars.map(Double.init), b = generated.contiguous().scalars.map(Double.init)
        guard a.allSatisfy(\.isFinite), b.allSatisfy(\.isFinite) else { throw FIDError.nonFiniteValues("features") }
        let realRadii = Self.kthNeighbourDistances(a, count: real.shape[0], dimension: d, k: k)
        let generatedRadii = Self.kthNeighbourDistances(b, count: generated.shape[0], dimension: d, k: k)
        precision = Self.coverage(of: b, count: generated.shape[0], by: a, radii: realRadii, dimension: d)
        recall = Self.coverage(of: a, count: real.shape[0], by: b, radii: generatedRadii, dimension: d)
    }

    /// The squared Euclidean distance between row `i` of `x` and row `j` of `y`.
    @inline(__always)
    static func squaredDistance(_ x: [Double], _ i: Int, _ y: [Double], _ j: Int, dimension d: Int) -> Double {
        var sum = 0.0
        for c in 0..<d {
            let e = x[i * d + c] - y[j * d + c]
            sum += e * e
        }
        return sum
    }

    /// For each row of `x` ([count, dimension]), the squared distance to its k-th nearest other row.
    static func kthNeighbourDistances(_ x: [Double], count: Int, dimension d: Int, k: Int) -> [Double] {
        var radii = [Double](repeating: 0, count: count)
        var nearest = [Double]()
        nearest.reserveCapacity(k + 1)
        for i in 0..<count {
            // The k smallest distances so far, ascending (insertion into a short sorted list).
            nearest.removeAll(keepingCapacity: true)
            for j in 0..<count where j != i {
                let s = squaredDistance(x, i, x, j, dimension: d)
                if nearest.count < k || s < nearest[k - 1] {
                    var position = nearest.count
                    while position > 0 && nearest[position - 1] > s { position -= 1 }
                    nearest.insert(s, at: position)
                    if nearest.count > k { nearest.removeLast() }
                }
            }
            radii[i] = nearest[k - 1]
        }
        return radii
    }

    /// The fraction of rows of `points` inside at least one ball (centre a row of `centres`,
    /// squared radius `radii`), boundaries included.
    static func coverage(of points: [Double], count: Int, by centres: [Double], radii: [Double], dimension d: Int) -> Double {
        var inside = 0
        for i in 0..<count {
            for j in 0..<radii.count where squaredDistance(points, i, centres, j, dimension: d) <= radii[j] {
                inside += 1
                break
            }
        }
        return Double(inside) / Double(count)
    }
}
