// Padding image batches (Fashion-MNIST 28×28 → 32×32).

import Tensor

extension Tensor {
    /// Images [N, C, H, W] padded with `value` by `amount` pixels on every side
    /// (Fashion-MNIST's 28×28 → 32×32 with `amount: 2`, so a UNet can halve it three times).
    public func paddedImages(by amount: Int, value: Float = 0) -> Tensor {
        precondition(rank == 4, "paddedImages: expects [N, C, H, W], got \(shape)")
        return padded([(0, 0), (0, 0), (amount, amount), (amount, amount)], value: value)
    }
}
