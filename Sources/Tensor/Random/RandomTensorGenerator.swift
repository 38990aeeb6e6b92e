// RandomTensorGenerator: the common interface of the seedable tensor generators.
//
// Contract: a conforming generator is a value; copying it forks the stream (both copies then
// produce the same numbers). `randn` fills a contiguous tensor with standard normal samples and
// `rand` with uniform samples in [0, 1), in row-major order.

/// A seedable source of random tensors.
public protocol RandomTensorGenerator {
    /// A contiguous tensor of the given shape filled with independent N(0, 1) samples.
    mutating func randn(_ shape: [Int]) -> Tensor
    /// A contiguous tensor of the given shape filled with independent uniform samples in [0, 1).
    mutating func rand(_ shape: [Int]) -> Tensor
}

extension RandomTensorGenerator {
    /// Standard normal samples shaped like `tensor`.
    public mutating func randn(like tensor: Tensor) -> Tensor { randn(tensor.shape) }
    /// Uniform samples in [0, 1) shaped like `tensor`.
    public mutating func rand(like tensor: Tensor) -> Tensor { rand(tensor.shape) }
}
