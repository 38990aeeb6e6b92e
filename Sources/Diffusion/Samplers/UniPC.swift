// Contract: `unipc` (diffusers `UniPCMultistepScheduler`, A1111 "UniPC", ComfyUI `uni_pc` /
// `uni_pc_bh2`): UniPC of Zhao et al. 2023 ("UniPC: A Unified Predictor-Corrector Framework for
// Fast Sampling of Diffusion Models"), the multistep predictor UniP-p and the corrector UniC-p
// in data-prediction form, B(h) variants bh1 and bh2, on the sigma grid of the project's samplers.

import Foundation
import Tensor

/// UniPC (Zhao et al. 2023, Alg. 2 and eq. 8-9, data prediction), in lambda = -log sigma with
/// h = lambda_{i+1} - lambda_i and D_i = D(x_i, sigma_i):
///
///     r_k = (lambda_{i-k} - lambda_i) / h,   D1_k = (D_{i-k} - D_i) / r_k        (k = 1 ..< p)
///     B(h) = h (bh1) or e^h - 1 (bh2);  phi_1 = 1 - e^{-h};  rho solves R rho = b with
///     R[m][k] = r_k^m and b_m = m! h phi_{m+1}(h) / B(h)                 (the order conditions)
///     UniP-p:  x_{i+1} = (sigma_{i+1} / sigma_i) x_i + phi_1 D_i + B(h) sum_k rho^p_k D1_k
///     UniC-p:  x^c_i   = (sigma_i / sigma_{i-1}) x^c_{i-1} + phi_1 D_{i-1}
///                          + B(h) (sum_k rho^c_k D1_k + rho^c_p (D_i - D_{i-1}))
///
/// (signs: diffusers writes hh = -h and e^{hh} - 1 = -phi_1). The corrector re-uses D_i, computed at
/// the predicted x_i, so UniC raises the order by one without a model call; the predictor then
/// starts from the corrected x^c_i. rho^p = 1/2 for p = 2 and rho^c = 1/2 for p = 1 (the paper's
/// simplified choice, as diffusers). Warm-up: order min(p, i + 1); `lowerOrderFinal` lowers the
/// last steps to the steps left. A step to sigma = 0 (h infinite) is D_i, first order; diffusers'
/// bh1 gives NaN there (B(h) = -inf times 0), so it is run with `final_sigmas_type="sigma_min"`.
/// 1 NFE per step; deterministic; order p + 1 with the corrector.
public struct UniPCSampler: Sampler {
    /// The choice of B(h) (Zhao et al. 2023, sec. 3.3).
    public enum Variant: String, Sendable, CaseIterable {
        /// B(h) = h.
        case bh1
        /// B(h) = e^h - 1.
        case bh2
    }

    /// B(h): bh1 (A1111 and ComfyUI `uni_pc`) or bh2 (diffusers' default).
    public var variant: Variant
    /// The predictor's order p, 1 to 3 (A1111 3, diffusers 2).
    public var order: Int
    /// Lower the order of the last steps to the number of steps left (diffusers `lower_order_final`).
    public var lowerOrderFinal: Bool
    /// Step indices whose corrector is skipped: the corrector that would refine the result of step k
    /// (diffusers `disable_corrector`).
    public var disableCorrector: Set<Int>
    /// `"unipc"`.
    public var name: String { "unipc" }

    /// Creates the sampler; the defaults are A1111's ("UniPC": bh1, order 3, lower order at the end).
    public init(variant: Variant = .bh1, order: Int = 3, lowerOrderFinal: Bool = true, disableCorrector: Set<Int> = []) {
        self.variant = variant
        self.order = order
        self.lowerOrderFinal = lowerOrderFinal
        self.disableCorrector = disableCorrector
    }

    /// Runs the loop described above.
    /// - Throws: `DiffusionError.invalidParameter` for an order outside 1...3.
    public func sample(_ denoiser: any Denoiser, x: Tensor, sigmas: [Double], noise: any NoiseSource,
                       callback: SamplerCallback?) throws -> Tensor {
        try SamplerMath.validate(sigmas)
        guard (1...3).contains(order) else {
            throw DiffusionError.invalidParameter("unipc order \(order) is not supported: use 1, 2 or 3")
        }
        let n = sigmas.count - 1
        var x = x
        var history: [Tensor] = []  // D_{i-1}, D_{i-2}, ... (most recent first), at most `order`
        var previous: (x: Tensor, order: Int)?
        for i in 0..<n {
            let denoised = try denoiser.denoise(x, sigma: sigmas[i])
            try callback?(SamplerStep(index: i, sigma: sigmas[i], sigmaHat: sigmas[i], x: x, denoised: denoised))
            if case let (last, p)? = previous, !disableCorrector.contains(i - 1) {
                // UniC-p from x^c_{i-1} at sigma_{i-1} to sigma_i, with D_i as the new point.
                let h = log(sigmas[i - 1] / sigmas[i])
                let rks = (1..<p).map { k in log(sigmas[i - 1] / sigmas[i - 1 - k]) / h } + [1]
                let (R, b, phi1, bh) = Self.conditions(h: h, rks: rks, variant: variant)
                let rho = p == 1 ? [0.5] : Self.solve(R, b)
                var terms: [(Double, Tensor)] = [(sigmas[i] / sigmas[i - 1], last), (phi1, history[0])]
                for k in 1..<p {
                    terms += [(bh * rho[k - 1] / rks[k - 1], history[k]), (-bh * rho[k - 1] / rks[k - 1], history[0])]
                }
                terms += [(bh * rho[p - 1], denoised), (-bh * rho[p - 1], history[0])]
                x = Self.sum(terms)
            }
            history.insert(denoised, at: 0)
            if history.count > order { history.removeLast() }
            var p = lowerOrderFinal ? Swift.min(order, n - i) : order
            p = Swift.min(p, i + 1)
            previous = (x, p)
            if sigmas[i + 1] == 0 {
                x = denoised  // UniP-1 with h = inf: sigma_{i+1} / sigma_i = 0 and phi_1 = 1
                continue
            }
            // UniP-p from x^c_i at sigma_i to sigma_{i+1}.
            let h = log(sigmas[i] / sigmas[i + 1])
            let rks = (1..<p).map { k in log(sigmas[i] / sigmas[i - k]) / h } + [1]
            let (R, b, phi1, bh) = Self.conditions(h: h, rks: rks, variant: variant)
            var terms: [(Double, Tensor)] = [(sigmas[i + 1] / sigmas[i], x), (phi1, denoised)]
            if p > 1 {
                let rho = p == 2 ? [0.5] : Self.solve(R.dropLast().map { Array($0.dropLast()) }, Array(b.dropLast()))
                for k in 1..<p {
                    terms += [(bh * rho[k - 1] / rks[k - 1], history[k]), (-bh * rho[k - 1] / rks[k - 1], denoised)]
                }
            }
            x = Self.sum(terms)
        }
        return x
    }

    /// The order conditions of UniPC for step size h and ratios r_k (last r = 1):
    /// R[m][k] = r_k^m, b_m = m! h phi_{m+1}(h) / B(h) with h phi_1(h) = 1 - e^{-h} (diffusers'
    /// recursion on h_phi_k), and phi_1 and B(h) themselves.
    static func conditions(h: Double, rks: [Double], variant: Variant) -> (R: [[Double]], b: [Double], phi1: Double, bh: Double) {
        let hh = -h
        let hPhi1 = expm1(hh)
        var hPhiK = hPhi1 / hh - 1
        var factorial = 1.0
        let bh = variant == .bh1 ? hh : expm1(hh)
        var R: [[Double]] = [], b: [Double] = []
        for m in 1...rks.count {
            R.append(rks.map { pow($0, Double(m - 1)) })
            b.append(hPhiK * factorial / bh)
            factorial *= Double(m + 1)
            hPhiK = hPhiK / hh - 1 / factorial
        }
        // diffusers: x_t = (s_t/s_0) x - hPhi1 m0 - B_h(...) with hh = -h; here as + phi1 and + B(h) with B(h) = -B_h.
        return (R, b, -hPhi1, -bh)
    }

    /// Solves the small system R x = b (Gaussian elimination with partial pivoting).
    static func solve(_ R: [[Double]], _ b: [Double]) -> [Double] {
        var a = R, y = b
        let n = y.count
        for c in 0..<n {
            let p = (c..<n).max { abs(a[$0][c]) < abs(a[$1][c]) }!
            a.swapAt(c, p); y.swapAt(c, p)
            for r in (c + 1)..<n {
                let f = a[r][c] / a[c][c]
                for k in c..<n { a[r][k] -= f * a[c][k] }
                y[r] -= f * y[c]
            }
        }
        var x = [Double](repeating: 0, count: n)
        for r in stride(from: n - 1, through: 0, by: -1) {
            var s = y[r]
            for k in (r + 1)..<n { s -= a[r][k] * x[k] }
            x[r] = s / a[r][r]
        }
        return x
    }

    /// sum_j c_j t_j, elementwise.
    static func sum(_ terms: [(Double, Tensor)]) -> Tensor {
        var out = SamplerMath.combine(terms[0].0, terms[0].1, terms[1].0, terms[1].1)
        for (c, t) in terms.dropFirst(2) { out = SamplerMath.combine(1, out, c, t) }
        return out
    }
}
