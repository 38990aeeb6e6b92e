// Finiteness of a tensor's values: the check that stands between a diverged computation (a
// learning rate too high, an overflowing sampler step, a corrupt file) and a NaN written to
// disk or turned into a black image. One pass over the values, no allocation for contiguous
// tensors.

extension Tensor {
    /// The number of values that are NaN or ±infinity (0 for a tensor safe to save or sample with).
    public var nonFiniteCount: Int {
        contiguous().withUnsafeBufferPointer { values in
            var count = 0
            for value in values where !value.isFinite { count += 1 }
            return count
        }
    }

    /// True when every value is finite (no NaN, no ±infinity).
    public var isFinite: Bool { nonFiniteCount == 0 }
}
