// Contract: the Fréchet distance between two Gaussians fitted to feature vectors — the "FID" of
// Heusel et al. 2017 ("GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
// Equilibrium", §3 / eq. 6), a formula of Dowson & Landau 1982:
//
//     d²((μ₁, Σ₁), (μ₂, Σ₂)) = |μ₁ − μ₂|² + tr(Σ₁ + Σ₂ − 2 (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2})
//
// `FeatureStatistics` fits (μ, Σ) to a feature matrix [N, D] in Double, as pytorch-fid does
// (`np.mean(axis=0)`, `np.cov(rowvar=False)`: the unbiased N − 1 covariance). The matrix square
// roots come from `SymmetricEigendecomposition` (cyclic Jacobi, Double); no LAPACK. Checked
// against scipy's `sqrtm` in Tests/DiffusionTests/FrechetDistanceTests.swift.

import Tensor

/// The mean and covariance of a set of feature vectors (rows of an [N, D] matrix), in Double.
public struct FeatureStatistics: Equatable, Sendable {
    /// D, the feature dimension.
    public let dimension: Int
    /// N, the number of feature vectors the statistics were computed from.
    public let count: Int
    /// μ, D entries.
    public let mean: [Double]
    /// Σ, row-major D×D, the unbiased estimate Σᵢ (xᵢ − μ)(xᵢ − μ)ᵀ / (N − 1).
    public let covariance: [Double]

    /// Fits mean and covariance to the rows of `features` [N, D] (two passes in Double: the mean,
    /// then the centred products).
    /// - Throws: `FIDError.tooFewImages` when N < 2, `FIDError.nonFiniteValues` when a feature is
    ///   NaN or infinite.
    public init(features: Tensor) throws {
        precondition(features.rank == 2, "FeatureStatistics: features must be [N, D], got \(features.shape)")
        let (n, d) = (features.shape[0], features.shape[1])
        guard n >= 2 else { throw FIDError.tooFewImages(count: n) }
        let x = features.contiguous().scalars
        guard x.allSatisfy(\.isFinite) else { throw FIDError.nonFiniteValues("the features") }
        var mean = [Double](repeating: 0, count: d)
        for i in 0..<n { for j in 0..<d { mean[j] += Double(x[i * d + j]) } }
        for j in 0..<d { mean[j] /= Double(n) }
        var covariance = [Double](repeating: 0, count: d * d)
        var centred = [Double](repeating: 0, count: d)
        for i in 0..<n {
            for j in 0..<d { centred[j] = Double(x[i * d + j]) - mean[j] }
            // Upper triangle only; mirrored below.
            for j in 0..<d {
                let cj = centred[j]
                for k in j..<d { covariance[j * d + k] += cj * centred[k] }
            }
        }
        let scale = 1 / Double(n - 1)
        for j in 0..<d {
            for k in j..<d {
                covariance[j * d + k] *= scale
                covariance[k * d + j] = covariance[j * d + k]
            }
        }
        self.dimension = d
        self.count = n
        self.mean = mean
        self.covariance = covariance
    }

    /// Statistics given directly (for example from a file or a closed-form test case).
    /// - Throws: `FIDError.dimensionMismatch` unless `covariance` has `mean.count`² entries;
    ///   `FIDError.nonFiniteValues` for NaN or infinite entries.
    public init(mean: [Double], covariance: [Double], count: Int) throws {
        guard covariance.count == mean.count * mean.count, !mean.isEmpty else {
            throw FIDError.dimensionMismatch("a mean of \(mean.count) entries needs a covariance of \(mean.count * mean.count), got \(covariance.count)")
        }
        guard mean.allSatisfy(\.isFinite), covariance.allSatisfy(\.isFinite) else {
            throw FIDError.nonFiniteValues("the mean or covariance")
        }
        self.dimension = mean.count
        self.count = count
        self.mean = mean
        self.covariance = covariance
    }
}

/// The Fréchet distance d² between the Gaussians N(μ₁, Σ₁) and N(μ₂, Σ₂) fitted to two feature
/// sets (Heusel et al. 2017, §3; Dowson & Landau 1982) — the FID when the features come from
/// the evaluation network (here the lesson-03 classifier, see `FashionFeatureExtractor`):
///
///     d² = |μ₁ − μ₂|² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2}
///
/// Computed as: Σ₁ = V diag(λ) Vᵀ, Σ₁^{1/2} = V diag(√λ) Vᵀ; M = Σ₁^{1/2} Σ₂ Σ₁^{1/2} is
/// symmetric positive semi-definite, so tr M^{1/2} = Σₖ √μₖ over its eigenvalues μₖ. (M has the
/// eigenvalues of Σ₁Σ₂, which is why pytorch-fid's `tr sqrtm(Σ₁ Σ₂)` is the same number.)
/// - Returns: d² ≥ 0 (the squared distance, the number usually reported as "FID").
/// - Throws: `FIDError.dimensionMismatch` when the two feature dimensions differ.
public func frechetDistance(_ a: FeatureStatistics, _ b: FeatureStatistics) throws -> Double {
    guard a.dimension == b.dimension else {
        throw FIDError.dimensionMismatch("\(a.dimension) vs \(b.dimension) features")
    }
    let n = a.dimension
    var meanTerm = 0.0
    for i in 0..<n { meanTerm += (a.mean[i] - b.mean[i]) * (a.mean[i] - b.mean[i]) }
    var traces = 0.0
    for i in 0..<n { traces += a.covariance[i * n + i] + b.covariance[i * n + i] }

    // Covariances are positive semi-definite, but with fewer samples than dimensions (or nearly
    // dependent features) some eigenvalues are 0 and roundoff makes them −1e−17·‖Σ‖: clamp to 0
    // before the square root, as the mathematics says they are.
    let rootA = SymmetricEigendecomposition(symmetric: a.covariance, dimension: n).applying { $0 > 0 ? $0.squareRoot() : 0 }
    var m = multiply(multiply(rootA, b.covariance, n), rootA, n)
    // M is symmetric in exact arithmetic; average out the roundoff of the two products.
    for i in 0..<n {
        for j in (i + 1)..<n {
            let s = (m[i * n + j] + m[j * n + i]) / 2
            m[i * n + j] = s
            m[j * n + i] = s
        }
    }
    let eigenvalues = SymmetricEigendecomposition(symmetric: m, dimension: n).eigenvalues
    // Same clamp as above: M is PSD, negative eigenvalues are roundoff.
    let traceRoot = eigenvalues.reduce(0) { $0 + ($1 > 0 ? $1.squareRoot() : 0) }
    // d² ≥ 0; for equal statistics roundoff can leave −1e−13.
    return max(0, meanTerm + traces - 2 * traceRoot)
}

/// The product of two row-major n×n matrices in Double (n = 128 here: 2 M multiply-adds).
private func multiply(_ x: [Double], _ y: [Double], _ n: Int) -> [Double] {
    var out = [Double](repeating: 0, count: n * n)
    for i in 0..<n {
        for k in 0..<n {
            let xik = x[i * n + k]
            if xik == 0 { continue }
            for j in 0..<n { out[i * n + j] += xik * y[k * n + j] }
        }
    }
    return out
}
