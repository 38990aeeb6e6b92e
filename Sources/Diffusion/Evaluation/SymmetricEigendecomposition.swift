// Contract: the eigendecomposition A = V diag(λ) Vᵀ of a real symmetric matrix, in Double, by the
// cyclic Jacobi method (Jacobi 1846; Golub & Van Loan, "Matrix Computations", 4th ed., §8.5,
// Algorithms 8.5.1 "symSchur2" and 8.5.3 "cyclic Jacobi"). It is what the Fréchet distance
// needs for its matrix square roots, written here because the project uses no LAPACK.
//
// Matrices are row-major `[Double]` of n·n entries. Eigenvalues come back in ascending order,
// eigenvector k is column k of `eigenvectors`. Cost: about 6n³ flops per sweep and, because
// convergence is quadratic, some 6-10 sweeps (for n = 128, about 0.1 GFLOP in all).
// The method is accurate to a few units of roundoff relative to ‖A‖ for any symmetric input,
// including repeated eigenvalues (where any orthonormal basis of the eigenspace is returned).

/// The eigenvalues and orthonormal eigenvectors of a real symmetric matrix (cyclic Jacobi).
public struct SymmetricEigendecomposition: Sendable {
    /// n, the order of the matrix.
    public let dimension: Int
    /// The eigenvalues, ascending.
    public let eigenvalues: [Double]
    /// Row-major n×n; column k (`eigenvectors[i * n + k]` for i in 0..<n) is the unit
    /// eigenvector of `eigenvalues[k]`.
    public let eigenvectors: [Double]
    /// The number of Jacobi sweeps that were needed.
    public let sweeps: Int

    /// The most sweeps run; quadratic convergence reaches roundoff in about ten for the sizes
    /// used here, so this bound is never the reason the loop ends in practice.
    public static let maximumSweeps = 60

    /// Decomposes the symmetric matrix `matrix` (row-major, `dimension`² entries).
    ///
    /// Each step chooses the rotation J(p, q, θ) that zeroes a_pq in JᵀAJ (Golub & Van Loan,
    /// Alg. 8.5.1): τ = (a_qq − a_pp) / (2 a_pq), t = sign(τ) / (|τ| + √(1 + τ²)) (the smaller
    /// root of t² + 2τt − 1 = 0, so |θ| ≤ π/4), c = 1/√(1 + t²), s = t·c. A sweep visits every
    /// pair p < q once; sweeps stop when the off-diagonal Frobenius norm is below 10⁻¹⁵ ‖A‖_F.
    /// V accumulates the rotations, so A = V diag(λ) Vᵀ.
    /// - Precondition: `matrix.count == dimension²` and the matrix is symmetric (to 1e-9 relative);
    ///   a non-symmetric matrix is a programmer error.
    public init(symmetric matrix: [Double], dimension n: Int) {
        precondition(n >= 1 && matrix.count == n * n,
                     "SymmetricEigendecomposition: \(matrix.count) entries for a \(n)×\(n) matrix")
        var norm = 0.0
        for x in matrix { norm += x * x }
        norm = norm.squareRoot()
        for i in 0..<n {
            for j in (i + 1)..<n where abs(matrix[i * n + j] - matrix[j * n + i]) > 1e-9 * max(norm, 1e-300) {
                preconditionFailure("SymmetricEigendecomposition: the matrix is not symmetric at (\(i), \(j)): \(matrix[i * n + j]) vs \(matrix[j * n + i])")
            }
        }
        var a = matrix
        var v = [Double](repeating: 0, count: n * n)
        for i in 0..<n { v[i * n + i] = 1 }
        var sweep = 0
        while sweep < Self.maximumSweeps {
            var off = 0.0
            for p in 0..<n { for q in (p + 1)..<n { off += 2 * a[p * n + q] * a[p * n + q] } }
            if off.squareRoot() <= 1e-15 * norm { break }
            sweep += 1
            for p in 0..<(n - 1) {
                for q in (p + 1)..<n {
                    let apq = a[p * n + q]
                    if apq == 0 { continue }
                    let tau = (a[q * n + q] - a[p * n + p]) / (2 * apq)
                    // For huge τ, √(1 + τ²) would overflow; t ≈ 1/(2τ) there.
                    let t = abs(tau) > 1e150 ? 1 / (2 * tau)
                        : (tau >= 0 ? 1 : -1) / (abs(tau) + (1 + tau * tau).squareRoot())
                    let c = 1 / (1 + t * t).squareRoot(), s = t * c
                    // A ← A J: columns p and q.
                    for k in 0..<n {
                        let akp = a[k * n + p], akq = a[k * n + q]
                        a[k * n + p] = c * akp - s * akq
                        a[k * n + q] = s * akp + c * akq
                    }
                    // A ← Jᵀ A: rows p and q.
                    for k in 0..<n {
                        let apk = a[p * n + k], aqk = a[q * n + k]
                        a[p * n + k] = c * apk - s * aqk
                        a[q * n + k] = s * apk + c * aqk
                    }
                    // The rotation was chosen to make this pair zero; store it exactly.
                    a[p * n + q] = 0
                    a[q * n + p] = 0
                    // V ← V J.
                    for k in 0..<n {
                        let vkp = v[k * n + p], vkq = v[k * n + q]
                        v[k * n + p] = c * vkp - s * vkq
                        v[k * n + q] = s * vkp + c * vkq
                    }
                }
            }
        }
        let order = (0..<n).sorted { a[$0 * n + $0] < a[$1 * n + $1] }
        var vectors = [Double](repeating: 0, count: n * n)
        for (k, source) in order.enumerated() {
            for i in 0..<n { vectors[i * n + k] = v[i * n + source] }
        }
        dimension = n
        eigenvalues = order.map { a[$0 * n + $0] }
        eigenvectors = vectors
        sweeps = sweep
    }

    /// V diag(f(λ)) Vᵀ: the matrix function f applied through the eigenvalues (for example the
    /// square root of a positive semi-definite matrix).
    public func applying(_ f: (Double) -> Double) -> [Double] {
        let n = dimension
        let values = eigenvalues.map(f)
        var out = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in i..<n {
                var sum = 0.0
                for k in 0..<n { sum += eigenvectors[i * n + k] * values[k] * eigenvectors[j * n + k] }
                out[i * n + j] = sum
                out[j * n + i] = sum
            }
        }
        return out
    }
}
