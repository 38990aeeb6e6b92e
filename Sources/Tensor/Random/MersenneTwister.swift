// MersenneTwister: the 32-bit mt19937 generator, seeded the way PyTorch seeds it.
//
// Contract: `MersenneTwister(seed:)` followed by `next()` returns the same 32-bit words as
// `std::mt19937(seed)`, numpy's `MT19937` with legacy seeding and PyTorch's CPU generator after
// `torch.manual_seed(seed)` (PyTorch keeps only the low 32 bits of the seed). The whole state is
// a `Codable` value, so a run can be saved and resumed word for word.
//
// Reference: M. Matsumoto and T. Nishimura, "Mersenne Twister: a 623-dimensionally
// equidistributed uniform pseudo-random number generator", ACM TOMACS 8(1), 1998
// (`init_genrand` seeding and the tempering transform); ATen `core/MT19937RNGEngine.h`.

/// The mt19937 pseudo-random generator producing 32-bit words.
public struct MersenneTwister: Sendable, Equatable {
    /// Number of 32-bit words in the state (the "n" of the paper).
    public static let stateSize = 624
    private static let shift = 397            // m
    private static let matrixA: UInt32 = 0x9908_b0df
    private static let upperMask: UInt32 = 0x8000_0000
    private static let lowerMask: UInt32 = 0x7fff_ffff

    /// A complete snapshot of the generator, enough to resume it exactly.
    public struct State: Codable, Sendable, Equatable {
        /// The 624 untempered words of the twister.
        public var words: [UInt32]
        /// The position of the next word to temper; 624 means the words must be twisted first.
        public var index: Int

        /// Creates a snapshot from its parts.
        public init(words: [UInt32], index: Int) {
            self.words = words
            self.index = index
        }
    }

    private var words: [UInt32]
    private var index: Int

    /// Seeds the generator with the low 32 bits of `seed` (`init_genrand`:
    /// `x[i] = 1812433253 * (x[i-1] ^ (x[i-1] >> 30)) + i`).
    public init(seed: UInt64) {
        var w = [UInt32](repeating: 0, count: Self.stateSize)
        w[0] = UInt32(truncatingIfNeeded: seed)
        for i in 1..<Self.stateSize {
            w[i] = 1_812_433_253 &* (w[i - 1] ^ (w[i - 1] >> 30)) &+ UInt32(i)
        }
        words = w
        index = Self.stateSize
    }

    /// Restores a generator from a snapshot; throws if the snapshot is malformed.
    public init(state: State) throws {
        guard state.words.count == Self.stateSize, (0...Self.stateSize).contains(state.index) else {
            throw RandomStateError.malformed(
                "mt19937 state needs \(Self.stateSize) words and an index in 0...\(Self.stateSize); "
                    + "got \(state.words.count) words and index \(state.index)")
        }
        words = state.words
        index = state.index
    }

    /// The current state, for saving and exact resumption.
    public var state: State { State(words: words, index: index) }

    /// Returns the next tempered 32-bit word.
    @inline(__always)
    public mutating func next() -> UInt32 {
        if index >= Self.stateSize { twist() }
        var y = words[index]
        index += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9d2c_5680
        y ^= (y << 15) & 0xefc6_0000
        y ^= y >> 18
        return y
    }

    /// Regenerates all 624 words (the recurrence of the paper, eq. 2.1).
    private mutating func twist() {
        let n = Self.stateSize, m = Self.shift
        words.withUnsafeMutableBufferPointer { x in
            for k in 0..<n {
                let y = (x[k] & Self.upperMask) | (x[(k + 1) % n] & Self.lowerMask)
                x[k] = x[(k + m) % n] ^ (y >> 1) ^ ((y & 1) == 0 ? 0 : Self.matrixA)
            }
        }
        index = 0
    }
}

/// A saved generator state that cannot be restored.
public enum RandomStateError: Error, CustomStringConvertible, Equatable {
    /// The state's fields are inconsistent (wrong word count, index out of range).
    case malformed(String)

    /// A sentence naming the problem.
    public var description: String {
        switch self {
        case .malformed(let why): return "Malformed random generator state: \(why)"
        }
    }
}
