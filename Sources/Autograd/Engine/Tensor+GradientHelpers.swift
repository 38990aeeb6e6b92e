// Tensor helpers used by backward rules: reducing a broadcast gradient back to an operand's
// shape, and writing a gradient into a region of a zero tensor (the adjoint of taking a view).

import Tensor

extension Tensor {
    /// The sum of this tensor over the axes that broadcasting added or stretched to turn
    /// `shape` into `self.shape` — the adjoint of `expanded(to:)` (NumPy broadcasting rules).
    ///
    /// Gradient of `z = x + y` with `x: [3, 1]`, `y: [4]`, `z: [3, 4]`:
    /// `dx = dz.summedToShape([3, 1])`, `dy = dz.summedToShape([4])`.
    public func summedToShape(_ target: [Int]) -> Tensor {
        if target == shape { return self }
        precondition(target.count <= rank, "summedToShape: \(target) has more axes than \(shape)")
        let lead = rank - target.count
        var axes = Array(0..<lead)
        for axis in 0..<target.count where target[axis] != shape[lead + axis] {
            precondition(target[axis] == 1, "summedToShape: \(target) does not broadcast to \(shape)")
            axes.append(lead + axis)
        }
        return sum(axes: axes, keepingDims: true).reshaped(target)
    }

    /// A zero tensor of shape `shape` whose region selected by `view` holds `values`:
    /// the adjoint of a view such as `sliced(axis:start:end:step:)`.
    ///
    /// - Parameters:
    ///   - shape: the shape of the tensor the view was taken from.
    ///   - values: the gradient of the view (shape of the view).
    ///   - view: given a contiguous zero tensor of `shape`, returns the view into its storage.
    public static func scattering(_ values: Tensor, into shape: [Int], view: (Tensor) -> Tensor) -> Tensor {
        let base = Tensor(shape: shape, repeating: 0)
        let region = view(base)
        precondition(region.storage === base.storage && region.shape == values.shape,
                     "scattering: the view must share storage and have the values' shape \(values.shape)")
        let dst = base.storage.pointer, src = values.storage.pointer
        Tensor.forEachOffset(shape: values.shape, region.strides, region.offset, values.strides, values.offset) { _, d, s in
            dst[d] += src[s]
        }
        return base
    }
}
