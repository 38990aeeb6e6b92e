// Convolutions whose kernel window, from every output position, covers the whole input: a 3x3,
// padding-1 convolution of a 2x2 (or 1x1) image, the lowest level of a small UNet.
//
// Contract: `wholeImageConv2d`, `wholeImageConv2dBackwardInput` and
// `wholeImageConv2dBackwardWeight` compute the same functions as `conv2d` and its two backward
// passes for the geometries `WholeImageConvolution.applies` accepts.
//
// When every output position p reads every input position q (through the tap
// t(p, q) = (qy - py + pad, qx - px + pad), always inside the kernel), the convolution is one
// dense matrix over (channel, position) pairs:
//   out[n, (o, p)] = Σ_(c, q) in[n, (c, q)] · T[(c, q), (o, p)],   T[(c, q), (o, p)] = w[o, c, t(p, q)]
// NCHW already stores the input as the matrix X [N, C·H·W] and the output as Y [N, O·Ho·Wo], so
// the forward pass is Y = X · T, the input gradient dX = dY · Tᵀ, and the weight gradient
// dT = Xᵀ · dY folded back onto the taps (dw[o, c, t] = Σ over the (p, q) with t(p, q) = t).
// Every entry of T is a real tap, so no multiply-add is wasted: at 2x2 the stacked layout would
// compute three positions for every valid one, and Winograd would transform a 4x4 tile around
// each image. The offset of T's entry in w separates into a part of the row and a part of the
// column, `w[rowPart[r] + columnPart[j]]`, which both the expansion and the fold use.

/// The dense-matrix form of convolutions that see the whole image from every output position.
enum WholeImageConvolution {
    /// Whether every output position reads every input position through a tap of the kernel
    /// (stride 1, no dilation, one group, not a plain 1x1 product): Ho <= pad + 1 and
    /// H <= kH - pad, the same across.
    static func applies(_ g: ConvolutionGeometry) -> Bool {
        g.stride == 1 && g.dilation == 1 && g.groups == 1 && !g.isPointwise
            && g.outHeight <= g.padding + 1 && g.outWidth <= g.padding + 1
            && g.height <= g.kernelHeight - g.padding && g.width <= g.kernelWidth - g.padding
    }

    /// The part of w's offset that depends on an input pair (c, q), for every c·H·W + q:
    /// c·kH·kW + qy·kW + qx.
    static func inputParts(_ g: ConvolutionGeometry) -> [Int] {
        let kernelArea = g.kernelHeight * g.kernelWidth
        var parts: [Int] = []
        parts.reserveCapacity(g.channels * g.height * g.width)
        for c in 0..<g.channels {
            for qy in 0..<g.height {
                for qx in 0..<g.width { parts.append(c * kernelArea + qy * g.kernelWidth + qx) }
            }
        }
        return parts
    }

    /// The part of w's offset that depends on an output pair (o, p), for every o·Ho·Wo + p:
    /// o·C·kH·kW + (pad - py)·kW + (pad - px). With `inputParts`, the tap t(p, q) is found.
    static func outputParts(_ g: ConvolutionGeometry) -> [Int] {
        let kernelArea = g.kernelHeight * g.kernelWidth
        var parts: [Int] = []
        parts.reserveCapacity(g.outChannels * g.outPositions)
        for o in 0..<g.outChannels {
            for py in 0..<g.outHeight {
                for px in 0..<g.outWidth {
                    parts.append(o * g.channels * kernelArea + (g.padding - py) * g.kernelWidth + (g.padding - px))
                }
            }
        }
        return parts
    }

    /// The matrix `w[rowParts[r] + columnParts[j]]` (T, or Tᵀ with the parts swapped) written
    /// straight into the GEMM's packed B panels (see `PackedMatrix`): 32-column panels holding
    /// every row, columns past the end zero. The caller deallocates the result.
    static func expandedPanels(_ w: UnsafePointer<Float>, rowParts: [Int], columnParts: [Int]) -> UnsafeMutablePointer<Float> {
        let width = GEMM.panelColumns
        let (rows, columns) = (rowParts.count, columnParts.count)
        let panelCount = (columns + width - 1) / width
        let panels = UnsafeMutablePointer<Float>.allocate(capacity: panelCount * rows * width)
        // Each panel writes only its own rows * 32 floats; the weight and the parts are read-only.
        nonisolated(unsafe) let destination = panels, weight = w
        rowParts.withUnsafeBufferPointer { rowBuffer in
            columnParts.withUnsafeBufferPointer { columnBuffer in
                nonisolated(unsafe) let rowPart = rowBuffer.baseAddress!, columnPart = columnBuffer.baseAddress!
                let fill: @Sendable (Int) -> Void = { panel in
                    let first = panel * width, count = Swift.min(width, columns - first)
                    var d = destination + panel * rows * width
                    for r in 0..<rows {
                        let source = weight + rowPart[r]
                        for lane in 0..<count { d[lane] = source[columnPart[first + lane]] }
                        for lane in count..<width { d[lane] = 0 }
                        d += width
                    }
                }
                // Threads pay off once the matrix is large (about 256 KiB and up).
                if rows * columns >= 1 << 16 { parallelFor(panelCount, fill) } else { (0..<panelCount).forEach(fill) }
            }
        }
        return panels
    }
}

extension WholeImageConvolution {
    /// `c = a · M + beta · c` for the contiguous [N, rows] tensor `a` and the matrix
    /// M[r, j] = `w[rowParts[r] + columnParts[j]]` (T or Tᵀ), expanded into packed panels for the
    /// call; `c` is [N, columns] row-major. The forward pass and the input gradient are both this.
    static func multiply(_ a: Tensor, weight w: Tensor, rowParts: [Int], columnParts: [Int], beta: Float,
                         into c: UnsafeMutablePointer<Float>) {
        let (rows, columns) = (rowParts.count, columnParts.count)
        withExtendedLifetime((a, w)) {
            let panels = expandedPanels(w.storage.pointer + w.offset, rowParts: rowParts, columnParts: columnParts)
            defer { panels.deallocate() }
            GEMM.multiply(m: a.shape[0], n: columns, k: rows, alpha: 1,
                          a: StridedMatrix(a.storage.pointer + a.offset, rowStride: rows, columnStride: 1),
                          b: PackedMatrix(base: panels, depth: rows), beta: beta,
                          c: c, ldc: columns, threads: Parallel.threadCount)
        }
    }
}

/// `conv2d` of contiguous `x` and `w` as one product X · T (see the file comment).
func wholeImageConv2d(_ x: Tensor, weight w: Tensor, bias: Tensor?, geometry g: ConvolutionGeometry) -> Tensor {
    precondition(WholeImageConvolution.applies(g), "wholeImageConv2d: geometry does not apply")
    let output = TensorStorage(uninitializedCount: Swift.max(1, Tensor.elementCount(g.outputShape)))
    if let bias { g.fill(output.pointer, withBias: bias) }
    WholeImageConvolution.multiply(x, weight: w, rowParts: WholeImageConvolution.inputParts(g),
                                   columnParts: WholeImageConvolution.outputParts(g), beta: bias == nil ? 0 : 1,
                                   into: output.pointer)
    return Tensor(storage: output, shape: g.outputShape, strides: Tensor.contiguousStrides(g.outputShape))
}

/// The input gradient of a whole-image convolution: dX = dY · Tᵀ for contiguous `dy` and `w`.
func wholeImageConv2dBackwardInput(_ dy: Tensor, weight w: Tensor, geometry g: ConvolutionGeometry) -> Tensor {
    precondition(WholeImageConvolution.applies(g), "wholeImageConv2dBackwardInput: geometry does not apply")
    let inputs = g.channels * g.height * g.width
    let gradInput = TensorStorage(uninitializedCount: Swift.max(1, g.batch * inputs))
    WholeImageConvolution.multiply(dy, weight: w, rowParts: WholeImageConvolution.outputParts(g),
                                   columnParts: WholeImageConvolution.inputParts(g), beta: 0, into: gradInput.pointer)
    return Tensor(storage: gradInput, shape: g.inputShape, strides: Tensor.contiguousStrides(g.inputShape))
}

/// The weight gradient of a whole-image convolution: dT = Xᵀ · dY for contiguous `dy` and `x`,
/// each entry added to the tap it came from.
func wholeImageConv2dBackwardWeight(_ dy: Tensor, input x: Tensor, geometry g: ConvolutionGeometry) -> Tensor {
    precondition(WholeImageConvolution.applies(g), "wholeImageConv2dBackwardWeight: geometry does not apply")
    let (inputs, outputs) = (g.channels * g.height * g.width, g.outChannels * g.outPositions)
    let gradWeight = TensorStorage(count: Swift.max(1, Tensor.elementCount(g.weightShape)), repeating: 0)
    let dt = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(1, inputs * outputs))
    defer { dt.deallocate() }
    withExtendedLifetime((dy, x)) {
        GEMM.multiply(m: inputs, n: outputs, k: g.batch, alpha: 1,
                      a: StridedMatrix(x.storage.pointer + x.offset, rowStride: 1, columnStride: inputs),
                      b: StridedMatrix(dy.storage.pointer + dy.offset, rowStride: outputs, columnStride: 1),
                      beta: 0, c: dt, ldc: outputs, threads: Parallel.threadCount)
    }
    let rowParts = WholeImageConvolution.inputParts(g), columnParts = WholeImageConvolution.outputParts(g)
    // The fold: output channel o owns w[o, ...] (columns o·P ..< (o+1)·P of dT), so threads that
    // take disjoint ranges of output channels write disjoint parts of the gradient.
    nonisolated(unsafe) let target = gradWeight.pointer
    nonisolated(unsafe) let source = UnsafePointer(dt)
    rowParts.withUnsafeBufferPointer { rowBuffer in
        columnParts.withUnsafeBufferPointer { columnBuffer in
            nonisolated(unsafe) let rowPart = rowBuffer.baseAddress!, columnPart = columnBuffer.baseAddress!
            let positions = g.outPositions
            let fold: @Sendable (Range<Int>) -> Void = { channels in
                let columns = (channels.lowerBound * positions)..<(channels.upperBound * positions)
                for r in 0..<inputs {
                    let row = source + r * outputs, base = target + rowPart[r]
                    for j in columns { base[columnPart[j]] += row[j] }
                }
            }
            if inputs * outputs >= 1 << 16 {
                parallelFor(chunking: g.outChannels, fold)
            } else {
                fold(0..<g.outChannels)
            }
        }
    }
    return Tensor(storage: gradWeight, shape: g.weightShape, strides: Tensor.contiguousStrides(g.weightShape))
}
