// Xoshiro256StarStar: a fast, small, seedable generator for training and sampling.
//
// Contract: `Xoshiro256StarStar(seed:)` expands the seed with SplitMix64 into the 256-bit state
// (as the authors recommend) and `next()` returns the same 64-bit words as the reference C code
// `xoshiro256starstar.c` (D. Blackman and S. Vigna, "Scrambled linear pseudorandom number
// generators", ACM TOMS 47(4), 2021). Float uniforms take the top 24 bits of a word; normals
// use the Box-Muller transform (Box & Muller 1958) on pairs of uniforms with the same
// single-precision log/sin/cos as `TorchGenerator`, so results do not depend on the C library.
// The state is `Codable` for exact resumption. Not for cryptography.

/// The xoshiro256** generator: 256 bits of state, period 2^256 - 1, ~1 ns per word.
public struct Xoshiro256StarStar: RandomNumberGenerator, RandomTensorGenerator, Sendable, Equatable {
    /// The four 64-bit state words (never all zero).
    public struct State: Codable, Sendable, Equatable {
        /// The state words s0...s3 of the reference implementation.
        public var words: [UInt64]

        /// Creates a snapshot from the four state words.
        public init(words: [UInt64]) { self.words = words }
    }

    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    /// Seeds the state with four successive SplitMix64 outputs of `seed`.
    public init(seed: UInt64) {
        var splitMix = SplitMix64(seed: seed)
        s0 = splitMix.next(); s1 = splitMix.next(); s2 = splitMix.next(); s3 = splitMix.next()
    }

    /// Restores a saved state; throws if it does not hold four words or is all zero.
    public init(state: State) throws {
        guard state.words.count == 4, state.words.contains(where: { $0 != 0 }) else {
            throw RandomStateError.malformed("xoshiro256** needs four state words, not all zero; got \(state.words)")
        }
        s0 = state.words[0]; s1 = state.words[1]; s2 = state.words[2]; s3 = state.words[3]
    }

    /// The current state, for saving and exact resumption.
    public var state: State { State(words: [s0, s1, s2, s3]) }

    /// The next 64-bit word: `rotl(s1 * 5, 7) * 9`, then the xorshift state update.
    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = (s1 &* 5).rotatedLeft(7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = s3.rotatedLeft(45)
        return result
    }

    /// A uniform float in [0, 1) from the top 24 bits of one word.
    @inline(__always)
    public mutating func nextFloat() -> Float { Float(next() >> 40) * 0x1p-24 }

    /// Standard normal samples (Box-Muller: `r = sqrt(-2 log(1 - u1))`, `theta = 2 pi u2`; the
    /// pair `r cos theta, r sin theta` fills two consecutive elements). Each pair takes both
    /// 24-bit uniforms from one 64-bit word (bits 40-63 and 16-39).
    public mutating func randn(_ shape: [Int]) -> Tensor {
        let twoPi = Float(2 * Double.pi)
        return Tensor(shape: shape) { d in
            var i = 0
            while i < d.count {
                let word = next()
                let u1 = 1 - Float(word >> 40) * 0x1p-24                  // (0, 1]
                let u2 = Float((word >> 16) & 0xff_ffff) * 0x1p-24         // [0, 1)
                let r = (-2 * CephesFloat.log(u1)).squareRoot()
                let (sine, cosine) = CephesFloat.sinCos(twoPi * u2)
                d[i] = r * cosine
                if i + 1 < d.count { d[i + 1] = r * sine }
                i += 2
            }
        }
    }

    /// Uniform samples in [0, 1).
    public mutating func rand(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape) { d in
            for i in 0..<d.count { d[i] = nextFloat() }
        }
    }
}

extension UInt64 {
    @inline(__always)
    fileprivate func rotatedLeft(_ k: UInt64) -> UInt64 { (self << k) | (self >> (64 - k)) }
}
