// Contract: where ancestral and SDE samplers get their randomness. A sampler asks its
// `NoiseSource` for standard normal noise N(0, I) of a shape for the step from `sigma` to
// `sigmaNext` (k-diffusion's `noise_sampler(sigma, sigma_next)`), so a run is replayed
// exactly by replaying the source. Three sources: fresh seeded Gaussian noise per call, a
// Brownian tree (increments of one fixed Brownian path, consistent across step sizes), and a
// recorded list (for parity fixtures).

import Foundation
import Tensor

/// A supplier of standard normal noise for a sampler step from `sigma` to `sigmaNext`.
public protocol NoiseSource: AnyObject {
    /// Returns N(0, I) noise of `shape` for the step from `sigma` to `sigmaNext`.
    func noise(shape: [Int], sigma: Double, sigmaNext: Double) -> Tensor
}

/// A seedable source of uniform and standard normal Doubles.
public protocol NormalGenerator {
    /// A uniform value in [0, 1).
    mutating func uniform() -> Double
    /// A standard normal value.
    mutating func normal() -> Double
}

/// xoshiro256** (Blackman & Vigna 2018) seeded through SplitMix64, with Box–Muller normals.
/// Not PyTorch-compatible (use the Tensor module's `TorchGenerator` through `ClosureNoise` for
/// that); it is small, fast and identical on every platform.
public struct SeededGenerator: NormalGenerator, Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)
    private var spare: Double?

    /// Seeds the four state words from SplitMix64(seed).
    public init(seed: UInt64) {
        var z = seed
        func splitMix() -> UInt64 {
            z &+= 0x9E37_79B9_7F4A_7C15
            var r = z
            r = (r ^ (r >> 30)) &* 0xBF58_476D_1CE4_E5B9
            r = (r ^ (r >> 27)) &* 0x94D0_49BB_1331_11EB
            return r ^ (r >> 31)
        }
        s = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0; s.3 ^= s.1; s.1 ^= s.2; s.0 ^= s.3
        s.2 ^= t
        s.3 = s.3 << 45 | s.3 >> 19
        return result
    }

    /// 53 random bits scaled to [0, 1).
    public mutating func uniform() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Box–Muller: `sqrt(-2 log(1 - u1)) * (cos, sin)(2 pi u2)`, the second value kept for the next call.
    public mutating func normal() -> Double {
        if let v = spare { spare = nil; return v }
        let u1 = 1 - uniform(), u2 = uniform()
        let r = (-2 * Foundation.log(u1)).squareRoot()
        spare = r * Foundation.sin(2 * Double.pi * u2)
        return r * Foundation.cos(2 * Double.pi * u2)
    }

    /// A Float32 tensor of standard normals.
    public mutating func normalTensor(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, scalars: (0..<Tensor.elementCount(shape)).map { _ in Float(normal()) })
    }
}

/// Fresh seeded N(0, I) noise on every call, whatever the sigmas (k-diffusion's default
/// `torch.randn_like(x)` sampler).
public final class GaussianNoise: NoiseSource {
    /// The generator; its state advances with every call.
    public var generator: SeededGenerator

    /// A source seeded with `seed`.
    public init(seed: UInt64) { generator = SeededGenerator(seed: seed) }

    /// The next N(0, I) tensor.
    public func noise(shape: [Int], sigma: Double, sigmaNext: Double) -> Tensor { generator.normalTensor(shape) }
}

/// Noise from a closure, for example a PyTorch-compatible generator:
/// `ClosureNoise { shape, _, _ in torchGenerator.randn(shape) }`.
public final class ClosureNoise: NoiseSource {
    /// The closure called for every query.
    public let body: ([Int], Double, Double) -> Tensor
    /// Wraps `body(shape, sigma, sigmaNext)`.
    public init(_ body: @escaping ([Int], Double, Double) -> Tensor) { self.body = body }
    /// Calls the closure.
    public func noise(shape: [Int], sigma: Double, sigmaNext: Double) -> Tensor { body(shape, sigma, sigmaNext) }
}

/// A recorded sequence of noise tensors returned in call order, optionally checking that each
/// query comes at the recorded (sigma, sigmaNext). Used to replay k-diffusion/diffusers runs.
public final class RecordedNoise: NoiseSource {
    /// The noises, in the order they will be returned.
    public let noises: [Tensor]
    /// The (sigma, sigmaNext) each query is expected at, if known.
    public let queries: [(sigma: Double, sigmaNext: Double)]?
    /// How many noises have been returned.
    public private(set) var position = 0

    /// Replays `noises` in order; with `queries`, a query at other sigmas (relative difference
    /// above 1e-5) stops the program, since the sampler and the recording disagree.
    public init(_ noises: [Tensor], queries: [(sigma: Double, sigmaNext: Double)]? = nil) {
        self.noises = noises
        self.queries = queries
    }

    /// The next recorded tensor.
    public func noise(shape: [Int], sigma: Double, sigmaNext: Double) -> Tensor {
        precondition(position < noises.count, "RecordedNoise: query \(position) but only \(noises.count) recorded")
        if let q = queries?[position] {
            func close(_ a: Double, _ b: Double) -> Bool { Swift.abs(a - b) <= 1e-5 * Swift.max(Swift.abs(a), Swift.abs(b), 1e-12) }
            precondition(close(q.sigma, sigma) && close(q.sigmaNext, sigmaNext),
                         "RecordedNoise: query \(position) at (\(sigma), \(sigmaNext)), recorded at (\(q.sigma), \(q.sigmaNext))")
        }
        precondition(noises[position].shape == shape, "RecordedNoise: shape \(shape) but recorded \(noises[position].shape)")
        defer { position += 1 }
        return noises[position]
    }
}

/// Increments of ONE Brownian path W on [sigmaMin, sigmaMax], fixed by the seed, returned
/// normalized like k-diffusion's `BrownianTreeNoiseSampler`:
/// `noise(sigma, sigmaNext) = (W(sigmaNext) - W(sigma)) / sqrt(|sigmaNext - sigma|)`,
/// which is N(0, I) for any single query, and consistent between queries: the increments over
/// [s2, s1] and [s1, s0] sum (after un-normalizing) to the increment over [s2, s0]. So an SDE
/// sampler run with 10 or 100 steps sees the same underlying noise path (Kidger et al. 2021,
/// "Efficient and Accurate Gradients for Neural SDEs", the Brownian tree; torchsde).
///
/// W is built by Brownian-bridge bisection (Lévy's construction): W(a) = 0,
/// W(b) = sqrt(b - a) Z_1, and the midpoint of a node [l, h] is
/// `(W(l) + W(h)) / 2 + sqrt((h - l) / 4) Z_node` with Z_node drawn from a generator seeded by
/// (seed, node index), so any point is computed without state. Bisection stops at
/// `depth` levels (a resolution of (b - a) 2^-depth) and interpolates linearly inside the last
/// interval. It does not reproduce torchsde's bits (no Brownian tree does across libraries).
public final class BrownianTreeNoise: NoiseSource {
    /// The seed fixing the path.
    public let seed: UInt64
    /// The low end of the path's interval.
    public let sigmaMin: Double
    /// The high end of the path's interval.
    public let sigmaMax: Double
    /// Levels of bisection.
    public let depth: Int

    /// A Brownian path on [sigmaMin, sigmaMax] (sigmaMin may be 0). Queries must lie inside.
    public init(seed: UInt64, sigmaMin: Double = 0, sigmaMax: Double, depth: Int = 30) {
        precondition(sigmaMin >= 0 && sigmaMax > sigmaMin, "BrownianTreeNoise needs 0 <= sigmaMin < sigmaMax")
        self.seed = seed
        self.sigmaMin = sigmaMin
        self.sigmaMax = sigmaMax
        self.depth = depth
    }

    /// A path covering the positive sigmas of a schedule, as k-diffusion builds it from
    /// `sigmas[sigmas > 0].min()` and `sigmas.max()`; here from 0 to sqrt(2) max(sigmas), so the
    /// churned noise levels of Karras et al. (at most sqrt(2) sigma) fit too.
    public convenience init(seed: UInt64, sigmas: [Double]) {
        self.init(seed: seed, sigmaMin: 0, sigmaMax: (sigmas.max() ?? 1) * 2.0.squareRoot())
    }

    /// (W(sigmaNext) - W(sigma)) / sqrt(|sigmaNext - sigma|).
    public func noise(shape: [Int], sigma: Double, sigmaNext: Double) -> Tensor {
        let n = Tensor.elementCount(shape)
        let w0 = path(at: sigma, count: n), w1 = path(at: sigmaNext, count: n)
        let scale = 1 / Swift.abs(sigmaNext - sigma).squareRoot()
        return Tensor(shape: shape, scalars: (0..<n).map { Float((w1[$0] - w0[$0]) * scale) })
    }

    /// W(t), elementwise, for `count` independent paths.
    public func path(at t: Double, count: Int) -> [Double] {
        let tol = 1e-9 * (sigmaMax - sigmaMin)
        precondition(t >= sigmaMin - tol && t <= sigmaMax + tol,
                     "BrownianTreeNoise: sigma \(t) outside [\(sigmaMin), \(sigmaMax)]")
        let t = Swift.min(Swift.max(t, sigmaMin), sigmaMax)
        var lo = sigmaMin, hi = sigmaMax
        var wLo = [Double](repeating: 0, count: count)
        var wHi = normals(node: 0, count: count).map { $0 * (hi - lo).squareRoot() }
        var node: UInt64 = 1
        for _ in 0..<depth {
            if t == lo { return wLo }
            if t == hi { return wHi }
            let mid = (lo + hi) / 2
            let z = normals(node: node, count: count)
            let sd = ((hi - lo) / 4).squareRoot()
            let wMid = (0..<count).map { (wLo[$0] + wHi[$0]) / 2 + sd * z[$0] }
            if t < mid { hi = mid; wHi = wMid; node = 2 * node } else { lo = mid; wLo = wMid; node = 2 * node + 1 }
        }
        let w = (t - lo) / (hi - lo)
        return (0..<count).map { (1 - w) * wLo[$0] + w * wHi[$0] }
    }

    private func normals(node: UInt64, count: Int) -> [Double] {
        var g = SeededGenerator(seed: seed &* 0x9E37_79B9_7F4A_7C15 ^ (node &+ 0x632B_E59B_D9B4_E019))
        return (0..<count).map { _ in g.normal() }
    }
}

/// Fresh noise from any `RandomTensorGenerator` on every call, whatever the sigmas. With the
/// Tensor module's `TorchGenerator(seed: s)` this is k-diffusion's default noise sampler
/// (`torch.randn_like(x)`) after `torch.manual_seed(s)`, draw for draw, so a seed replays a
/// k-diffusion/AUTOMATIC1111 run (for float32 states; PyTorch draws float64 normals differently).
public final class GeneratorNoise<Generator: RandomTensorGenerator>: NoiseSource {
    /// The generator; its state advances with every call.
    public var generator: Generator

    /// Draws from `generator`.
    public init(_ generator: Generator) { self.generator = generator }

    /// `generator.randn(shape)`.
    public func noise(shape: [Int], sigma: Double, sigmaNext: Double) -> Tensor { generator.randn(shape) }
}
