// The Fréchet distance and its parts against independent references: feature statistics and
// distances from numpy/scipy (`scipy.linalg.sqrtm`, pytorch-fid's formula; fixture written by
// tools/make_fid_fixtures.py), closed forms (equal statistics, one dimension, diagonal and
// commuting covariances), and the Jacobi eigensolver against the matrix it decomposes.
//
// Tolerances. Everything here is Double. The statistics sum N ≤ 96 products of float32 values:
// their error against numpy (also float64) is a few ulps of the sums, so 1e-12 relative to the
// largest entry. The distance is |μ₁−μ₂|² + tr Σ₁ + tr Σ₂ − 2 tr √M: each term carries roundoff of
// ~1e-14 relative to the traces (Jacobi is backward stable; sqrtm's Schur method likewise), and
// the subtraction can cancel, so the error bound is 1e-10 × (tr Σ₁ + tr Σ₂ + |μ₁−μ₂|²) — four
// orders above the expected error, many below any mistake in the formula (a wrong term moves the
// result by O(1) here).

import Diffusion
import Foundation
import Tensor
import Testing

struct FIDFixture: Decodable {
    struct FeatureCase: Decodable {
        let dimension: Int
        let features1: [Double], count1: Int
        let features2: [Double], count2: Int
        let mean1: [Double], covariance1: [Double]
        let mean2: [Double], covariance2: [Double]
        let distance: Double
    }
    struct CovarianceCase: Decodable {
        let dimension: Int
        let mean1: [Double], covariance1: [Double]
        let mean2: [Double], covariance2: [Double]
        let distance: Double
    }
    let featureCases: [FeatureCase]
    let covarianceCases: [CovarianceCase]

    static func load() throws -> FIDFixture { try Fixtures.load("frechet_distance.json", as: FIDFixture.self) }
}

/// The error scale of a distance (see the file header).
func distanceScale(_ a: FeatureStatistics, _ b: FeatureStatistics) -> Double {
    let n = a.dimension
    var scale = 0.0
    for i in 0..<n { scale += a.covariance[i * n + i] + b.covariance[i * n + i] + (a.mean[i] - b.mean[i]) * (a.mean[i] - b.mean[i]) }
    return scale
}

/// Q diag(values) Qᵀ for a random orthogonal Q (orthonormalized seeded Gaussian matrix).
func rotatedDiagonal(_ values: [Double], seed: UInt64) -> [Double] {
    let n = values.count
    var g = TorchGenerator(seed: seed)
    let raw = g.randn([n, n]).scalars.map(Double.init)
    var q = [[Double]]()
    for i in 0..<n {
        var v = Array(raw[(i * n)..<((i + 1) * n)])
        // Modified Gram–Schmidt, twice ("twice is enough"): Q is orthogonal to roundoff.
        for _ in 0..<2 {
            for u in q {
                let d = zip(u, v).reduce(0) { $0 + $1.0 * $1.1 }
                for k in 0..<n { v[k] -= d * u[k] }
            }
        }
        let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        q.append(v.map { $0 / norm })
    }
    var out = [Double](repeating: 0, count: n * n)
    for i in 0..<n { for j in 0..<n { for k in 0..<n { out[i * n + j] += q[k][i] * values[k] * q[k][j] } } }
    return out
}

@Suite struct FrechetDistanceTests {
    @Test(arguments: [0, 1, 2])
    func statisticsMatchNumpy(caseIndex: Int) throws {
        let c = try FIDFixture.load().featureCases[caseIndex]
        for (features, count, mean, covariance) in [(c.features1, c.count1, c.mean1, c.covariance1),
                                                    (c.features2, c.count2, c.mean2, c.covariance2)] {
            let stats = try FeatureStatistics(features: Tensor(shape: [count, c.dimension], scalars: features.map { Float($0) }))
            #expect(stats.count == count && stats.dimension == c.dimension)
            #expect(relativeError(stats.mean, mean) <= 1e-12)
            #expect(relativeError(stats.covariance, covariance) <= 1e-12)
        }
    }

    @Test(arguments: [0, 1, 2])
    func distanceOfFeaturesMatchesScipy(caseIndex: Int) throws {
        let c = try FIDFixture.load().featureCases[caseIndex]
        let a = try FeatureStatistics(features: Tensor(shape: [c.count1, c.dimension], scalars: c.features1.map { Float($0) }))
        let b = try FeatureStatistics(features: Tensor(shape: [c.count2, c.dimension], scalars: c.features2.map { Float($0) }))
        let d = try frechetDistance(a, b)
        #expect(abs(d - c.distance) <= 1e-10 * distanceScale(a, b), "D = \(c.dimension): \(d) vs scipy \(c.distance)")
    }

    @Test(arguments: [0, 1, 2])
    func distanceOfCovariancesMatchesScipy(caseIndex: Int) throws {
        let c = try FIDFixture.load().covarianceCases[caseIndex]
        let a = try FeatureStatistics(mean: c.mean1, covariance: c.covariance1, count: 0)
        let b = try FeatureStatistics(mean: c.mean2, covariance: c.covariance2, count: 0)
        let d = try frechetDistance(a, b)
        #expect(abs(d - c.distance) <= 1e-10 * distanceScale(a, b), "D = \(c.dimension): \(d) vs scipy \(c.distance)")
        // The distance is symmetric although the formula is not written symmetrically.
        #expect(abs(try frechetDistance(b, a) - c.distance) <= 1e-10 * distanceScale(a, b))
    }

    @Test func equalStatisticsAreAtDistanceZero() throws {
        let c = try FIDFixture.load().covarianceCases[2]
        let a = try FeatureStatistics(mean: c.mean2, covariance: c.covariance2, count: 0)
        #expect(try frechetDistance(a, a) <= 1e-10 * distanceScale(a, a))
    }

    @Test(arguments: [(0.5, 2.0, 1.0, 3.0), (-1.0, -1.0, 0.25, 0.25), (3.0, 0.0, 4.0, 0.0)])
    func oneDimensionIsMeanAndStdDifference(m1: Double, m2: Double, s1: Double, s2: Double) throws {
        // For 1-D Gaussians the 2-Wasserstein distance² is (m1 − m2)² + (s1 − s2)².
        let a = try FeatureStatistics(mean: [m1], covariance: [s1 * s1], count: 0)
        let b = try FeatureStatistics(mean: [m2], covariance: [s2 * s2], count: 0)
        let expected = (m1 - m2) * (m1 - m2) + (s1 - s2) * (s1 - s2)
        #expect(abs(try frechetDistance(a, b) - expected) <= 1e-12 * max(1, expected))
    }

    @Test func diagonalCovariancesGiveTheSumOverDimensions() throws {
        // Σ₁ = diag(a), Σ₂ = diag(b): d² = |μ₁ − μ₂|² + Σᵢ (√aᵢ − √bᵢ)². One zero variance checks
        // the clamp of a singular covariance.
        let a = [1.0, 4.0, 0.25, 9.0, 0.0], b = [4.0, 4.0, 1.0, 1.0, 2.0]
        let m1 = [0.0, 1.0, 2.0, -1.0, 0.5], m2 = [1.0, 1.0, 0.0, 0.0, 0.5]
        var expected = 0.0
        for i in 0..<5 { expected += (m1[i] - m2[i]) * (m1[i] - m2[i]) + (a[i].squareRoot() - b[i].squareRoot()) * (a[i].squareRoot() - b[i].squareRoot()) }
        func diagonal(_ v: [Double]) -> [Double] { (0..<25).map { $0 % 6 == 0 ? v[$0 / 6] : 0 } }
        let x = try FeatureStatistics(mean: m1, covariance: diagonal(a), count: 0)
        let y = try FeatureStatistics(mean: m2, covariance: diagonal(b), count: 0)
        #expect(abs(try frechetDistance(x, y) - expected) <= 1e-12 * expected)
    }

    @Test func commutingCovariancesInARandomBasis() throws {
        // Σ₁ = Q diag(a) Qᵀ and Σ₂ = Q diag(b) Qᵀ commute, so d² = Σᵢ (√aᵢ − √bᵢ)² (zero means):
        // the same closed form as the diagonal case, but every matrix entry is non-zero.
        let a: [Double] = (0..<12).map { 0.1 + Double($0) * 0.7 }
        let b: [Double] = (0..<12).map { 3.0 / (1 + Double($0)) }
        let expected = zip(a, b).reduce(0) { $0 + ($1.0.squareRoot() - $1.1.squareRoot()) * ($1.0.squareRoot() - $1.1.squareRoot()) }
        let zeros = [Double](repeating: 0, count: 12)
        let x = try FeatureStatistics(mean: zeros, covariance: rotatedDiagonal(a, seed: 5), count: 0)
        let y = try FeatureStatistics(mean: zeros, covariance: rotatedDiagonal(b, seed: 5), count: 0)
        #expect(abs(try frechetDistance(x, y) - expected) <= 1e-10 * distanceScale(x, y))
    }

    @Test func errorsAreNamed() throws {
        #expect(throws: FIDError.tooFewImages(count: 1)) { _ = try FeatureStatistics(features: Tensor(shape: [1, 4], repeating: 0)) }
        #expect(throws: FIDError.nonFiniteValues("the features")) {
            _ = try FeatureStatistics(features: Tensor(shape: [2, 2], scalars: [0, 1, .nan, 2]))
        }
        #expect(throws: FIDError.dimensionMismatch("a mean of 2 entries needs a covariance of 4, got 3")) {
            _ = try FeatureStatistics(mean: [0, 0], covariance: [1, 0, 0], count: 2)
        }
        let a = try FeatureStatistics(mean: [0], covariance: [1], count: 2)
        let b = try FeatureStatistics(mean: [0, 0], covariance: [1, 0, 0, 1], count: 2)
        #expect(throws: FIDError.dimensionMismatch("1 vs 2 features")) { _ = try frechetDistance(a, b) }
    }
}

@Suite struct SymmetricEigendecompositionTests {
    /// max |(V diag(λ) Vᵀ − A)ᵢⱼ| / max |Aᵢⱼ| and max |(VᵀV − I)ᵢⱼ|.
    static func errors(_ matrix: [Double], _ e: SymmetricEigendecomposition) -> (reconstruction: Double, orthogonality: Double) {
        let n = e.dimension
        var reconstruction = 0.0, orthogonality = 0.0
        let scale = matrix.map(abs).max() ?? 1
        for i in 0..<n {
            for j in 0..<n {
                var a = 0.0, o = 0.0
                for k in 0..<n {
                    a += e.eigenvectors[i * n + k] * e.eigenvalues[k] * e.eigenvectors[j * n + k]
                    o += e.eigenvectors[k * n + i] * e.eigenvectors[k * n + j]
                }
                reconstruction = max(reconstruction, abs(a - matrix[i * n + j]) / scale)
                orthogonality = max(orthogonality, abs(o - (i == j ? 1 : 0)))
            }
        }
        return (reconstruction, orthogonality)
    }

    @Test(arguments: [1, 2, 7, 40])
    func reconstructsARandomSymmetricMatrix(n: Int) {
        var g = TorchGenerator(seed: UInt64(n))
        let r = g.randn([n, n]).scalars.map(Double.init)
        var a = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { a[i * n + j] = r[i * n + j] + r[j * n + i] } }
        let e = SymmetricEigendecomposition(symmetric: a, dimension: n)
        let (reconstruction, orthogonality) = Self.errors(a, e)
        #expect(reconstruction <= 1e-13 * Double(n), "n = \(n)")
        #expect(orthogonality <= 1e-13 * Double(n), "n = \(n)")
        #expect(e.eigenvalues == e.eigenvalues.sorted())
        // tr A = Σ λ.
        let trace = (0..<n).reduce(0) { $0 + a[$1 * n + $1] }
        #expect(abs(e.eigenvalues.reduce(0, +) - trace) <= 1e-12 * max(1, a.map(abs).max()!) * Double(n))
    }

    @Test func findsKnownEigenvaluesIncludingRepeatedOnes() {
        let values: [Double] = [-2, 0, 0, 1e-3, 1, 1, 1, 5, 1e4]
        let a = rotatedDiagonal(values, seed: 11)
        let e = SymmetricEigendecomposition(symmetric: a, dimension: values.count)
        #expect(relativeError(e.eigenvalues, values) <= 1e-13)
        let (reconstruction, orthogonality) = Self.errors(a, e)
        #expect(reconstruction <= 1e-13 && orthogonality <= 1e-13)
    }

    @Test func diagonalInputNeedsNoSweep() {
        let e = SymmetricEigendecomposition(symmetric: [3, 0, 0, 0, -1, 0, 0, 0, 2], dimension: 3)
        #expect(e.sweeps == 0)
        #expect(e.eigenvalues == [-1, 2, 3])
    }

    @Test func squareRootSquaresBack() {
        // (A^{1/2})² = A for a positive definite A built from known eigenvalues.
        let n = 10
        let a = rotatedDiagonal((0..<n).map { 0.5 + Double($0) }, seed: 3)
        let root = SymmetricEigendecomposition(symmetric: a, dimension: n).applying { $0.squareRoot() }
        var worst = 0.0
        for i in 0..<n {
            for j in 0..<n {
                var s = 0.0
                for k in 0..<n { s += root[i * n + k] * root[k * n + j] }
                worst = max(worst, abs(s - a[i * n + j]))
            }
        }
        #expect(worst <= 1e-12 * a.map(abs).max()!)
    }
}
