// SplitMix64 (Steele, Lea & Flood 2014; the seeding generator of xoshiro): a tiny, fast,
// seedable `RandomNumberGenerator` whose whole state is one UInt64, so it is trivially saved in
// a checkpoint. Used for shuffling data, dropout masks and test inputs; PyTorch-compatible
// normal/uniform tensors come from `TorchGenerator`. It also seeds `Xoshiro256StarStar`.


/// A seedable 64-bit generator with a one-word state (SplitMix64).
public struct SplitMix64: RandomNumberGenerator, Codable, Sendable, Equatable {
    /// The current state; saving and restoring it replays the same sequence.
    public var state: UInt64

    /// Creates a generator whose sequence is fixed by `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A tensor of independent uniform values in [low, high).
    public mutating func uniform(_ shape: [Int], low: Float = 0, high: Float = 1) -> Tensor {
        Tensor(shape: shape) { out in
            for i in 0..<out.count { out[i] = Float.random(in: low..<high, using: &self) }
        }
    }
}
