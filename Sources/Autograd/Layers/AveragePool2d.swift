// Average pooling as a layer, as `torch.nn.AvgPool2d` (no padding).

import Tensor

/// Average pooling as a layer (`torch.nn.AvgPool2d(kernel, stride)`).
public final class AveragePool2d: Layer {
    /// The window size.
    public let kernel: Int
    /// The window step.
    public let stride: Int
    /// Creates the layer (stride defaults to the kernel size).
    public init(kernel: Int, stride: Int? = nil) { self.kernel = kernel; self.stride = stride ?? kernel }
    /// Averages each window.
    public func callAsFunction(_ x: Variable) -> Variable { x.averagePooled2d(kernel: kernel, stride: stride) }
}
