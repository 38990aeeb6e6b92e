// TorchGenerator: PyTorch's CPU random generator, draw for draw.
//
// Contract: `TorchGenerator(seed: s)` then `randn(shape)` / `rand(shape)` returns what
// `torch.manual_seed(s)` then `torch.randn(shape)` / `torch.rand(shape)` returns on a CPU with
// AVX2 or AVX-512 (the dispatch every x86-64 machine of the last decade takes): the same
// Mersenne-Twister words, the same uniform values bit for bit, and normal values bit for bit as
// far as the fixtures show (bit-identical on the fixtures; the tests allow 1 ULP on the
// small-tensor path only, which goes through the C library's double log1p/sin/cos). Successive calls
// continue the same stream, including the cached second normal of the small-tensor path.
//
// How PyTorch draws (ATen `core/DistributionsHelper.h`, `native/cpu/DistributionTemplates.h`,
// `native/cpu/DistributionKernels.cpp`, `native/cpu/avx_mathfun.h`):
// - Float uniform: one 32-bit word, `(w & (2^24 - 1)) * 2^-24`.
// - Double uniform: a 64-bit draw `(w1 << 32) | w2` (first word high), `(v & (2^53 - 1)) * 2^-53`.
// - `randn` of 16 or more float elements: fill every element with a float uniform; then for each
//   block of 16, for j in 0..<8: `u1 = 1 - d[j]`, `u2 = d[j + 8]`, `r = sqrt(-2 log u1)`,
//   `theta = 2 pi u2`, `d[j] = r cos theta`, `d[j + 8] = r sin theta` (Box & Muller 1958); if the
//   size is not a multiple of 16, the last 16 positions are refilled with fresh uniforms and
//   transformed again. The log, sin and cos are the Cephes single-precision polynomials of
//   `avx_mathfun.h` (8 lanes at a time), ported here operation for operation (`CephesFloat`).
// - `randn` of fewer than 16 elements: one double-precision Box-Muller normal per element,
//   `u1, u2` double uniforms, `r = sqrt(-2 log1p(-u2))`, `theta = 2 pi u1`, value `r cos theta`,
//   and `r sin theta` cached in the generator for the next small-path normal.

import Foundation

/// A random generator reproducing `torch.manual_seed(s)` + `torch.randn` / `torch.rand` on CPU.
public struct TorchGenerator: RandomTensorGenerator, Sendable {
    /// Everything needed to resume a generator exactly (for checkpoints).
    public struct State: Codable, Sendable, Equatable {
        /// The seed the generator was created with (as `torch.initial_seed()` reports it).
        public var seed: UInt64
        /// The Mersenne-Twister state.
        public var mersenneTwister: MersenneTwister.State
        /// The cached second normal of the double-precision Box-Muller path, if any.
        public var cachedNormal: Double?

        /// Creates a snapshot from its parts.
        public init(seed: UInt64, mersenneTwister: MersenneTwister.State, cachedNormal: Double?) {
            self.seed = seed
            self.mersenneTwister = mersenneTwister
            self.cachedNormal = cachedNormal
        }
    }

    /// The seed the generator was created with.
    public private(set) var seed: UInt64
    private var engine: MersenneTwister
    private var cachedNormal: Double?

    /// Creates a generator in the state `torch.manual_seed(seed)` leaves PyTorch's CPU generator in.
    public init(seed: UInt64) {
        self.seed = seed
        engine = MersenneTwister(seed: seed)
        cachedNormal = nil
    }

    /// Restores a generator from a saved state; throws if the state is malformed.
    public init(state: State) throws {
        seed = state.seed
        engine = try MersenneTwister(state: state.mersenneTwister)
        cachedNormal = state.cachedNormal
    }

    /// The complete generator state. Setting a malformed state stops with a precondition
    /// failure; use `init(state:)` to validate states that come from files.
    public var state: State {
        get { State(seed: seed, mersenneTwister: engine.state, cachedNormal: cachedNormal) }
        set {
            do { self = try TorchGenerator(state: newValue) } catch { preconditionFailure("\(error)") }
        }
    }

    // MARK: - Scalars

    /// The next raw 32-bit Mersenne-Twister word (`CPUGeneratorImpl::random`).
    public mutating func nextWord() -> UInt32 { engine.next() }

    /// The next 64-bit draw: two words, the first one high (`CPUGeneratorImpl::random64`).
    public mutating func nextUInt64() -> UInt64 {
        let high = UInt64(engine.next())
        return high << 32 | UInt64(engine.next())
    }

    /// A float uniform in [0, 1) from one word: `(w & (2^24 - 1)) * 2^-24`.
    public mutating func nextFloat() -> Float {
        Float(engine.next() & 0xff_ffff) * 0x1p-24
    }

    /// A double uniform in [0, 1) from one 64-bit draw: `(v & (2^53 - 1)) * 2^-53`.
    public mutating func nextDouble() -> Double {
        Double(nextUInt64() & (1 << 53 - 1)) * 0x1p-53
    }

    /// One standard normal from the double-precision Box-Muller path (`at::normal_distribution<double>`).
    public mutating func nextNormal() -> Double {
        if let cached = cachedNormal {
            cachedNormal = nil
            return cached
        }
        let u1 = nextDouble()
        let u2 = nextDouble()
        let r = Foundation.sqrt(-2 * Foundation.log1p(-u2))
        let theta = 2 * Double.pi * u1
        cachedNormal = r * Foundation.sin(theta)
        return r * Foundation.cos(theta)
    }

    // MARK: - Tensors

    /// Standard normal samples, as `torch.randn(shape)` draws them after the same history.
    public mutating func randn(_ shape: [Int]) -> Tensor {
        let n = Tensor.elementCount(shape)
        return Tensor(shape: shape) { d in
            if n >= 16 {
                for i in 0..<n { d[i] = nextFloat() }
                var start = 0
                while start + 16 <= n {
                    TorchGenerator.boxMuller16(d.baseAddress! + start)
                    start += 16
                }
                if n % 16 != 0 {
                    // PyTorch recomputes the last 16 values from fresh uniforms.
                    for i in (n - 16)..<n { d[i] = nextFloat() }
                    TorchGenerator.boxMuller16(d.baseAddress! + n - 16)
                }
            } else {
                for i in 0..<n { d[i] = Float(nextNormal()) }
            }
        }
    }

    /// Uniform samples in [0, 1), as `torch.rand(shape)` draws them after the same history.
    public mutating func rand(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape) { d in
            for i in 0..<d.count { d[i] = nextFloat() }
        }
    }

    /// Turns 16 uniforms into 16 normals in place (`normal_fill_16_AVX2`): pairs (j, j + 8).
    private static func boxMuller16(_ d: UnsafeMutablePointer<Float>) {
        let twoPi = Float(2 * Double.pi)
        for j in 0..<8 {
            let u1 = 1 - d[j]
            let u2 = d[j + 8]
            let radius = (-2 * CephesFloat.log(u1)).squareRoot()
            let (sine, cosine) = CephesFloat.sinCos(twoPi * u2)
            // PyTorch stores fma(n, std, mean) with std 1 and mean 0, which is n + 0.
            d[j] = radius * cosine + 0
            d[j + 8] = radius * sine + 0
        }
    }
}

/// Single-precision `log` and `sincos` exactly as PyTorch's build of `avx_mathfun.h` (Julien
/// Pommier's port of Stephen L. Moshier's Cephes library) computes them, one lane at a time.
///
/// GCC compiles the header's separate `_mm256_mul_ps` / `_mm256_add_ps` into fused multiply-adds
/// wherever a product's only use is an addition (`-ffp-contract=fast`, its default), so the
/// port writes those places as `addingProduct` (one rounding) and keeps every other operation
/// separate, in the same order. With that, the results equal PyTorch's bit for bit.
enum CephesFloat {
    private static func f(_ x: Double) -> Float { Float(x) }   // the C source's double literals
    private static let sqrtHalf = f(0.707106781186547524)
    private static let logP: [Float] = [
        7.0376836292E-2, -1.1514610310E-1, 1.1676998740E-1, -1.2420140846E-1, 1.4249322787E-1,
        -1.6668057665E-1, 2.0000714765E-1, -2.4999993993E-1, 3.3333331174E-1,
    ].map(f)
    private static let logQ1 = f(-2.12194440e-4)
    private static let logQ2 = f(0.693359375)

    /// Natural logarithm of a positive float (`log256_ps`): `x = m 2^e` with m in
    /// [sqrt(1/2), sqrt(2)), `log x = e log 2 + log m`, log m by a degree-9 polynomial in m - 1.
    static func log(_ input: Float) -> Float {
        if input <= 0 { return .nan }
        let bits = Swift.max(input, Float(bitPattern: 0x0080_0000)).bitPattern  // denormals cut off
        var e = Float(Int32(bitPattern: bits >> 23) - 0x7f) + 1
        var x = Float(bitPattern: (bits & ~0x7f80_0000) | Float(0.5).bitPattern)  // in [0.5, 1)
        let below = x < sqrtHalf
        let tmp: Float = below ? x : 0
        x = x - 1
        e = e - (below ? 1 : 0)
        x = x + tmp
        let z = x * x
        var y = logP[0]
        for k in 1..<9 { y = logP[k].addingProduct(y, x) }
        y = y * x
        y = (e * logQ1).addingProduct(y, z)
        y = y.addingProduct(-z, 0.5)
        x = x + y
        return x.addingProduct(e, logQ2)
    }

    private static let fourOverPi = f(1.27323954473516)
    private static let minusDP1 = f(-0.78515625)
    private static let minusDP2 = f(-2.4187564849853515625e-4)
    private static let minusDP3 = f(-3.77489497744594108e-8)
    private static let sinP0 = f(-1.9515295891E-4), sinP1 = f(8.3321608736E-3), sinP2 = f(-1.6666654611E-1)
    private static let cosP0 = f(2.443315711809948E-005), cosP1 = f(-1.388731625493765E-003)
    private static let cosP2 = f(4.166664568298827E-002)

    /// Sine and cosine (`sincos256_ps`): reduce by the nearest even multiple j of pi/4 in
    /// three parts (Cody-Waite), evaluate the sine and cosine polynomials on [-pi/4, pi/4] and
    /// pick and sign them by j. Accurate for |input| up to about 8192.
    static func sinCos(_ input: Float) -> (sin: Float, cos: Float) {
        var signSin = input.bitPattern & 0x8000_0000
        var x = Float(bitPattern: input.bitPattern & 0x7fff_ffff)
        var j = Int32(x * fourOverPi)                 // truncation toward zero (cvttps)
        j = (j &+ 1) & ~1
        let yj = Float(j)
        let swapSignSin = UInt32(bitPattern: (j & 4) << 29)
        let useFirst = (j & 2) == 0
        x = x.addingProduct(yj, minusDP1)
        x = x.addingProduct(yj, minusDP2)
        x = x.addingProduct(yj, minusDP3)
        let signCos = UInt32(bitPattern: (~(j &- 2) & 4) << 29)
        signSin ^= swapSignSin
        let z = x * x
        var y = cosP1.addingProduct(cosP0, z)       // cos: 1 - z/2 + z^2 (c0 z^2 + c1 z + c2)
        y = cosP2.addingProduct(y, z)
        y = y * z
        y = (-(z * 0.5)).addingProduct(y, z)
        y = y + 1
        var y2 = sinP1.addingProduct(sinP0, z)      // sin: x + x z (s0 z^2 + s1 z + s2)
        y2 = sinP2.addingProduct(y2, z)
        y2 = y2 * z
        y2 = x.addingProduct(y2, x)
        // Select the polynomials with masks, as the vector code does (adds of +0 included).
        let ySin2: Float = useFirst ? y2 : 0
        let ySin1: Float = useFirst ? 0 : y
        y2 = y2 - ySin2
        y = y - ySin1
        let s = ySin1 + ySin2
        let c = y + y2
        return (Float(bitPattern: s.bitPattern ^ signSin), Float(bitPattern: c.bitPattern ^ signCos))
    }
}
