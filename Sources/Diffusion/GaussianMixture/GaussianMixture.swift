// Contract: an isotropic Gaussian mixture p(x0) = sum_k w_k N(mu_k, s_k^2 I) in any dimension,
// and its EXACT denoiser. With x = x0 + sigma * n, component k has the marginal
// N(mu_k, (s_k^2 + sigma^2) I), so by Bayes
//   r_k(x) = w_k N(x; mu_k, (s_k^2 + sigma^2) I) / sum_j (same)       (softmax of log terms)
//   E[x0 | x] = sum_k r_k (mu_k + s_k^2 / (s_k^2 + sigma^2) (x - mu_k))
// (the posterior of a Gaussian prior under Gaussian noise, Bishop PRML eq. 2.116, mixed by
// r_k). Responsibilities use log-sum-exp; all arithmetic is Double.

import Foundation
import Tensor

/// An isotropic Gaussian mixture `sum_k w_k N(mu_k, s_k^2 I)`.
public struct GaussianMixture: Sendable, Equatable, Codable {
    /// Mixture weights, normalized to sum to 1.
    public let weights: [Double]
    /// Component means, each of length `dimension`.
    public let means: [[Double]]
    /// Per-component standard deviations s_k > 0.
    public let stds: [Double]

    /// The weights accepted (before normalization): positive, and within 24 orders of
    /// magnitude of each other so that their sum and logarithms stay finite in Double.
    public static let weightRange = 1e-12...1e12
    /// The standard deviations accepted: squares and ratios stay finite in Double, and the
    /// probability-flow solver's switch point 1e-2 · min s_k stays well above underflow.
    public static let stdRange = 1e-6...1e6
    /// The largest |coordinate| of a mean: squared distances stay finite in Double.
    public static let meanLimit = 1e6

    /// The dimension of x.
    public var dimension: Int { means[0].count }
    /// The number of components.
    public var componentCount: Int { weights.count }

    /// Creates a mixture; weights are normalized. Throws on mismatched sizes, non-positive
    /// weights or stds, or means of different dimensions.
    public init(weights: [Double], means: [[Double]], stds: [Double]) throws {
        guard !weights.isEmpty else { throw DiffusionError.invalidMixture("no components") }
        guard means.count == weights.count, stds.count == weights.count else {
            throw DiffusionError.invalidMixture("\(weights.count) weights, \(means.count) means, \(stds.count) stds")
        }
        guard let d = means.first?.count, d > 0, means.allSatisfy({ $0.count == d }) else {
            throw DiffusionError.invalidMixture("means must all have the same positive dimension")
        }
        if let bad = weights.enumerated().first(where: { !Self.weightRange.contains($0.element) }) {
            throw DiffusionError.invalidMixture("weight \(bad.offset) is \(bad.element), outside \(Self.weightRange.lowerBound)...\(Self.weightRange.upperBound)")
        }
        if let bad = stds.enumerated().first(where: { !Self.stdRange.contains($0.element) }) {
            throw DiffusionError.invalidMixture("std \(bad.offset) is \(bad.element), outside \(Self.stdRange.lowerBound)...\(Self.stdRange.upperBound)")
        }
        if let bad = means.enumerated().first(where: { !$0.element.allSatisfy { $0.isFinite && Swift.abs($0) <= Self.meanLimit } }) {
            throw DiffusionError.invalidMixture("mean \(bad.offset) is \(bad.element); every coordinate must be finite with |x| <= \(Self.meanLimit)")
        }
        let total = weights.reduce(0, +)
        self.weights = weights.map { $0 / total }
        self.means = means
        self.stds = stds
    }

    private enum CodingKeys: String, CodingKey { case weights, means, stds }

    /// Decodes `{"weights": [...], "means": [[...], ...], "stds": [...]}` and validates it.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(weights: c.decode([Double].self, forKey: .weights),
                      means: c.decode([[Double]].self, forKey: .means),
                      stds: c.decode([Double].self, forKey: .stds))
    }

    /// Posterior responsibilities r_k(x) at noise level sigma (sigma may be 0).
    public func responsibilities(_ x: [Double], sigma: Double) -> [Double] {
        precondition(x.count == dimension, "x has \(x.count) elements, mixture dimension is \(dimension)")
        let d = Double(dimension)
        var logits = [Double](repeating: 0, count: componentCount)
        for k in 0..<componentCount {
            let v = stds[k] * stds[k] + sigma * sigma
            var sq = 0.0
            for i in 0..<dimension { let e = x[i] - means[k][i]; sq += e * e }
            logits[k] = Foundation.log(weights[k]) - 0.5 * d * Foundation.log(v) - 0.5 * sq / v
        }
        let m = logits.max()!
        var sum = 0.0
        for k in 0..<componentCount { logits[k] = Foundation.exp(logits[k] - m); sum += logits[k] }
        return logits.map { $0 / sum }
    }

    /// The exact denoiser E[x0 | x_sigma = x] (see the file header).
    public func denoised(_ x: [Double], sigma: Double) -> [Double] {
        let r = responsibilities(x, sigma: sigma)
        var out = [Double](repeating: 0, count: dimension)
        for k in 0..<componentCount {
            let s2 = stds[k] * stds[k]
            let shrink = s2 / (s2 + sigma * sigma)
            for i in 0..<dimension { out[i] += r[k] * (means[k][i] + shrink * (x[i] - means[k][i])) }
        }
        return out
    }

    /// The probability-flow velocity dx/dsigma = (x - D(x, sigma)) / sigma, written without the
    /// division: `sum_k r_k (x - mu_k) sigma / (s_k^2 + sigma^2)`, which is exact, free of
    /// cancellation, and equal to 0 at sigma = 0.
    public func velocity(_ x: [Double], sigma: Double) -> [Double] {
        let r = responsibilities(x, sigma: sigma)
        var out = [Double](repeating: 0, count: dimension)
        for k in 0..<componentCount {
            let c = r[k] * sigma / (stds[k] * stds[k] + sigma * sigma)
            for i in 0..<dimension { out[i] += c * (x[i] - means[k][i]) }
        }
        return out
    }

    /// The log density of the noisy marginal, log p_sigma(x) = log sum_k w_k N(x; mu_k, (s_k^2 + sigma^2) I).
    public func logDensity(_ x: [Double], sigma: Double = 0) -> Double {
        let d = Double(dimension)
        var logits = [Double](repeating: 0, count: componentCount)
        for k in 0..<componentCount {
            let v = stds[k] * stds[k] + sigma * sigma
            var sq = 0.0
            for i in 0..<dimension { let e = x[i] - means[k][i]; sq += e * e }
            logits[k] = Foundation.log(weights[k]) - 0.5 * d * Foundation.log(2 * Double.pi * v) - 0.5 * sq / v
        }
        let m = logits.max()!
        return m + Foundation.log(logits.reduce(0) { $0 + Foundation.exp($1 - m) })
    }

    /// Draws `count` samples of x0 (or of x_sigma when sigma > 0) with `next()` giving standard
    /// normals and `uniform()` giving U[0, 1): for seeded, replayable test sets.
    public func samples(count: Int, sigma: Double = 0, using rng: inout some NormalGenerator) -> [[Double]] {
        (0..<count).map { _ in
            let u = rng.uniform()
            var k = 0, acc = weights[0]
            while u >= acc && k < componentCount - 1 { k += 1; acc += weights[k] }
            let s = (stds[k] * stds[k] + sigma * sigma).squareRoot()
            return means[k].map { $0 + s * rng.normal() }
        }
    }
}

/// The exact mixture denoiser as a `Denoiser` on tensors whose LAST axis is the mixture
/// dimension (`[B, D]` or `[D]`); every row is denoised independently, in Double.
extension GaussianMixture: Denoiser {
    /// E[x0 | x] row by row; the result is Float32 like the input.
    public func denoise(_ x: Tensor, sigma: Double) throws -> Tensor {
        let d = dimension
        precondition(x.shape.last == d, "x shape \(x.shape): last axis must be the mixture dimension \(d)")
        let flat = x.scalars
        var out = [Float](repeating: 0, count: flat.count)
        for row in 0..<(flat.count / d) {
            let xi = (0..<d).map { Double(flat[row * d + $0]) }
            let di = denoised(xi, sigma: sigma)
            for i in 0..<d { out[row * d + i] = Float(di[i]) }
        }
        return Tensor(shape: x.shape, scalars: out)
    }
}
