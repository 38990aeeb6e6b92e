// 2-D convolution (NCHW) as matrix multiplication, its two backward passes, and the naive reference.
//
// Contract: `conv2d` computes PyTorch's `F.conv2d` (cross-correlation) for input [N, C, H, W]
// and weight [O, C/groups, kH, kW]:
//   out[n, o, y, x] = bias[o] + Σ_{c in group(o), i, j} in[n, c, y*s - p + i*d, x*s - p + j*d] * w[o, c, i, j]
// with zeros outside the input; output size (H + 2p - d(kH - 1) - 1) / s + 1 (rounded down).
// Per image and group this is one GEMM (Chellapilla et al., "High Performance Convolutional
// Neural Networks for Document Processing", 2006):
//   out_g [O/g, Ho*Wo] = W_g [O/g, C/g*kH*kW] · col_g [C/g*kH*kW, Ho*Wo]
// where col is the im2col matrix. The fast path never materializes col: the GEMM's packing
// routine reads it straight from the image (implicit GEMM), and a 1x1, stride-1, unpadded
// convolution reads the image itself as the B matrix. The backward passes are the transposed
// products: gradInput = col2im(Wᵀ · gradOut) and gradWeight = Σ_n gradOut · colᵀ.

/// The sizes of one convolution, checked once.
struct ConvolutionGeometry {
    let batch: Int, channels: Int, height: Int, width: Int
    let outChannels: Int, kernelHeight: Int, kernelWidth: Int
    let stride: Int, padding: Int, dilation: Int, groups: Int
    let outHeight: Int, outWidth: Int

    /// Input channels per group.
    var groupChannels: Int { channels / groups }
    /// Output channels per group.
    var groupOutChannels: Int { outChannels / groups }
    /// Rows of the im2col matrix: one per (input channel, kernel row, kernel column).
    var patchSize: Int { groupChannels * kernelHeight * kernelWidth }
    /// Columns of the im2col matrix: one per output position.
    var outPositions: Int { outHeight * outWidth }
    /// Whether the convolution is a plain matrix product of the weight and the image.
    var isPointwise: Bool { kernelHeight == 1 && kernelWidth == 1 && stride == 1 && padding == 0 }

    init(inputShape: [Int], weightShape: [Int], stride: Int, padding: Int, dilation: Int, groups: Int) {
        precondition(inputShape.count == 4, "conv2d: input must be [N, C, H, W], got \(inputShape)")
        precondition(weightShape.count == 4, "conv2d: weight must be [O, C/groups, kH, kW], got \(weightShape)")
        precondition(stride >= 1 && dilation >= 1 && padding >= 0 && groups >= 1,
                     "conv2d: need stride >= 1, dilation >= 1, padding >= 0, groups >= 1 (got \(stride), \(dilation), \(padding), \(groups))")
        batch = inputShape[0]; channels = inputShape[1]; height = inputShape[2]; width = inputShape[3]
        outChannels = weightShape[0]; kernelHeight = weightShape[2]; kernelWidth = weightShape[3]
        precondition(channels % groups == 0 && outChannels % groups == 0,
                     "conv2d: \(channels) input and \(outChannels) output channels must both divide into \(groups) groups")
        precondition(weightShape[1] == channels / groups,
                     "conv2d: weight \(weightShape) needs \(channels / groups) input channels per group for input \(inputShape)")
        self.stride = stride; self.padding = padding; self.dilation = dilation; self.groups = groups
        let spanH = dilation * (kernelHeight - 1) + 1, spanW = dilation * (kernelWidth - 1) + 1
        precondition(height + 2 * padding >= spanH && width + 2 * padding >= spanW,
                     "conv2d: kernel \(weightShape) (dilation \(dilation)) does not fit input \(inputShape) with padding \(padding)")
        outHeight = (height + 2 * padding - spanH) / stride + 1
        outWidth = (width + 2 * padding - spanW) / stride + 1
    }

    /// The output shape [N, O, Ho, Wo].
    var outputShape: [Int] { [batch, outChannels, outHeight, outWidth] }
    /// The input shape [N, C, H, W].
    var inputShape: [Int] { [batch, channels, height, width] }
    /// The weight shape [O, C/groups, kH, kW].
    var weightShape: [Int] { [outChannels, groupChannels, kernelHeight, kernelWidth] }

    /// Splits `count` independent (image, group) products between threads: true when running
    /// them side by side (one thread each) keeps every thread busy; otherwise each product
    /// uses all threads inside its GEMM.
    func runsProductsInParallel(_ count: Int, threads: Int) -> Bool {
        threads > 1 && count >= threads && (count % threads == 0 || count >= 8 * threads)
    }
}

/// The im2col matrix of one image and group, read in place: entry (q, p) with
/// q = (c, i, j) and p = (y, x) is `image[c, y*s - pad + i*d, x*s - pad + j*d]`, or 0 in the padding.
struct Im2ColMatrix: GEMMPackableB, @unchecked Sendable {
    // @unchecked: the image is only read, and the caller keeps it alive for the call.
    /// The first channel of the group in one image: [C/groups, H, W] contiguous.
    let image: UnsafePointer<Float>
    /// The convolution's sizes.
    let geometry: ConvolutionGeometry

    func packB(depth: Range<Int>, columns: Range<Int>, into destination: UnsafeMutablePointer<Float>) {
        let g = geometry
        let kc = depth.count, width = GEMM.panelColumns
        let kernelArea = g.kernelHeight * g.kernelWidth
        var panel = destination
        var c0 = columns.lowerBound
        while c0 < columns.upperBound {
            let nr = Swift.min(width, columns.upperBound - c0)
            let firstY = c0 / g.outWidth, firstX = c0 % g.outWidth
            for step in 0..<kc {
                let q = depth.lowerBound + step
                let c = q / kernelArea, r = q % kernelArea
                let i = r / g.kernelWidth, j = r % g.kernelWidth
                let plane = image + c * g.height * g.width
                let d = panel + step * width
                var filled = 0, y = firstY, x = firstX
                // Walk the panel's output positions one output row (a contiguous run) at a time.
                while filled < nr {
                    let run = Swift.min(nr - filled, g.outWidth - x)
                    let iy = y * g.stride - g.padding + i * g.dilation
                    let out = d + filled
                    if iy < 0 || iy >= g.height {
                        out.update(repeating: 0, count: run)
                    } else {
                        let row = plane + iy * g.width
                        let ix0 = x * g.stride - g.padding + j * g.dilation
                        if g.stride == 1 {
                            let lo = Swift.min(run, Swift.max(0, -ix0))
                            let hi = Swift.max(lo, Swift.min(run, g.width - ix0))
                            if lo > 0 { out.update(repeating: 0, count: lo) }
                            if hi > lo { (out + lo).update(from: row + ix0 + lo, count: hi - lo) }
                            if run > hi { (out + hi).update(repeating: 0, count: run - hi) }
                        } else {
                            var ix = ix0
                            for t in 0..<run {
                                out[t] = ix >= 0 && ix < g.width ? row[ix] : 0
                                ix += g.stride
                            }
                        }
                    }
                    filled += run
                    x = 0
                    y += 1
                }
                if nr < width { (d + nr).update(repeating: 0, count: width - nr) }
            }
            panel += width * kc
            c0 += width
        }
    }

    /// Writes the whole matrix ([patchSize, outPositions], row-major) to `destination`.
    func materialize(into destination: UnsafeMutablePointer<Float>) {
        let g = geometry
        for q in 0..<g.patchSize {
            let c = q / (g.kernelHeight * g.kernelWidth), r = q % (g.kernelHeight * g.kernelWidth)
            let i = r / g.kernelWidth, j = r % g.kernelWidth
            let plane = image + c * g.height * g.width
            var out = destination + q * g.outPositions
            for y in 0..<g.outHeight {
                let iy = y * g.stride - g.padding + i * g.dilation
                for x in 0..<g.outWidth {
                    let ix = x * g.stride - g.padding + j * g.dilation
                    out.pointee = iy >= 0 && iy < g.height && ix >= 0 && ix < g.width ? plane[iy * g.width + ix] : 0
                    out += 1
                }
            }
        }
    }
}

/// 2-D convolution of `input` [N, C, H, W] with `weight` [O, C/groups, kH, kW] plus an optional
/// `bias` [O], as PyTorch's `F.conv2d` (cross-correlation, zero padding), through the packed GEMM.
public func conv2d(_ input: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0,
                   dilation: Int = 1, groups: Int = 1) -> Tensor {
    let g = ConvolutionGeometry(inputShape: input.shape, weightShape: weight.shape, stride: stride,
                                padding: padding, dilation: dilation, groups: groups)
    if let bias { precondition(bias.shape == [g.outChannels], "conv2d: bias must be [\(g.outChannels)], got \(bias.shape)") }
    let x = input.contiguous(), w = weight.contiguous()
    let output = TensorStorage(uninitializedCount: Swift.max(1, Tensor.elementCount(g.outputShape)))
    let positions = g.outPositions
    if let bias {
        let b = bias.contiguous().scalars
        for n in 0..<g.batch {
            for o in 0..<g.outChannels {
                (output.pointer + (n * g.outChannels + o) * positions).update(repeating: b[o], count: positions)
            }
        }
    }
    let beta: Float = bias == nil ? 0 : 1
    // Pointers into storage the tensors `x`, `w` keep alive (see withExtendedLifetime below);
    // each (image, group) product writes only its own block of output channels.
    nonisolated(unsafe) let xp = x.storage.pointer + x.offset
    nonisolated(unsafe) let wp = w.storage.pointer + w.offset
    nonisolated(unsafe) let out = output.pointer
    let products = g.batch * g.groups
    let threads = Parallel.threadCount
    let parallelProducts = g.runsProductsInParallel(products, threads: threads)
    let product: @Sendable (Int, Int) -> Void = { index, innerThreads in
        let n = index / g.groups, group = index % g.groups
        let image = xp + (n * g.channels + group * g.groupChannels) * g.height * g.width
        let a = StridedMatrix(wp + group * g.groupOutChannels * g.patchSize, rowStride: g.patchSize, columnStride: 1)
        let c = out + (n * g.outChannels + group * g.groupOutChannels) * positions
        if g.isPointwise {
            GEMM.multiply(m: g.groupOutChannels, n: positions, k: g.patchSize, alpha: 1, a: a,
                          b: StridedMatrix(image, rowStride: g.height * g.width, columnStride: 1),
                          beta: beta, c: c, ldc: positions, threads: innerThreads)
        } else {
            GEMM.multiply(m: g.groupOutChannels, n: positions, k: g.patchSize, alpha: 1, a: a,
                          b: Im2ColMatrix(image: image, geometry: g),
                          beta: beta, c: c, ldc: positions, threads: innerThreads)
        }
    }
    withExtendedLifetime((x, w)) {
        if parallelProducts {
            parallelFor(products) { product($0, 1) }
        } else {
            for index in 0..<products { product(index, threads) }
        }
    }
    return Tensor(storage: output, shape: g.outputShape, strides: Tensor.contiguousStrides(g.outputShape))
}

/// The gradient of `conv2d` with respect to its input: `col2im(Wᵀ · gradOutput)` per image and group.
///
/// - Parameters:
///   - gradOutput: ∂L/∂out, [N, O, Ho, Wo].
///   - weight: the convolution's weight [O, C/groups, kH, kW].
///   - inputShape: the forward input's shape [N, C, H, W].
/// - Returns: ∂L/∂input with shape `inputShape`.
public func conv2dBackwardInput(_ gradOutput: Tensor, weight: Tensor, inputShape: [Int], stride: Int = 1,
                                padding: Int = 0, dilation: Int = 1, groups: Int = 1) -> Tensor {
    let g = ConvolutionGeometry(inputShape: inputShape, weightShape: weight.shape, stride: stride,
                                padding: padding, dilation: dilation, groups: groups)
    precondition(gradOutput.shape == g.outputShape,
                 "conv2dBackwardInput: gradOutput \(gradOutput.shape) should be \(g.outputShape)")
    let dy = gradOutput.contiguous(), w = weight.contiguous()
    let gradInput = TensorStorage(count: Swift.max(1, Tensor.elementCount(inputShape)), repeating: 0)
    // Read-only pointers kept alive by `dy`, `w`; each (image, group) writes its own input channels.
    nonisolated(unsafe) let dyp = dy.storage.pointer + dy.offset
    nonisolated(unsafe) let wp = w.storage.pointer + w.offset
    nonisolated(unsafe) let gip = gradInput.pointer
    let products = g.batch * g.groups
    let threads = Parallel.threadCount
    let parallelProducts = g.runsProductsInParallel(products, threads: threads)
    let plane = g.height * g.width
    let product: @Sendable (Int, Int) -> Void = { index, innerThreads in
        let n = index / g.groups, group = index % g.groups
        // Wᵀ_g: [patchSize, O/g], the weight block read with swapped strides.
        let a = StridedMatrix(wp + group * g.groupOutChannels * g.patchSize, rowStride: 1, columnStride: g.patchSize)
        let b = StridedMatrix(dyp + (n * g.outChannels + group * g.groupOutChannels) * g.outPositions,
                              rowStride: g.outPositions, columnStride: 1)
        let target = gip + (n * g.channels + group * g.groupChannels) * plane
        if g.isPointwise {
            GEMM.multiply(m: g.patchSize, n: g.outPositions, k: g.groupOutChannels, alpha: 1, a: a, b: b,
                          beta: 0, c: target, ldc: plane, threads: innerThreads)
            return
        }
        let columns = UnsafeMutablePointer<Float>.allocate(capacity: g.patchSize * g.outPositions)
        defer { columns.deallocate() }
        GEMM.multiply(m: g.patchSize, n: g.outPositions, k: g.groupOutChannels, alpha: 1, a: a, b: b,
                      beta: 0, c: columns, ldc: g.outPositions, threads: innerThreads)
        // col2im: add every column entry back to the input pixel it was read from.
        let kernelArea = g.kernelHeight * g.kernelWidth
        for q in 0..<g.patchSize {
            let c = q / kernelArea, r = q % kernelArea
            let i = r / g.kernelWidth, j = r % g.kernelWidth
            let destination = target + c * plane
            let source = columns + q * g.outPositions
            for y in 0..<g.outHeight {
                let iy = y * g.stride - g.padding + i * g.dilation
                if iy < 0 || iy >= g.height { continue }
                let row = destination + iy * g.width, sourceRow = source + y * g.outWidth
                for x in 0..<g.outWidth {
                    let ix = x * g.stride - g.padding + j * g.dilation
                    if ix >= 0 && ix < g.width { row[ix] += sourceRow[x] }
                }
            }
        }
    }
    withExtendedLifetime((dy, w)) {
        if parallelProducts {
            parallelFor(products) { product($0, 1) }
        } else {
            for index in 0..<products { product(index, threads) }
        }
    }
    return Tensor(storage: gradInput, shape: inputShape, strides: Tensor.contiguousStrides(inputShape))
}

/// The gradient of `conv2d` with respect to its weight: `Σ_n gradOutput_n · col_nᵀ` per group.
///
/// - Parameters:
///   - gradOutput: ∂L/∂out, [N, O, Ho, Wo].
///   - input: the forward input [N, C, H, W].
///   - weightShape: the weight's shape [O, C/groups, kH, kW].
/// - Returns: ∂L/∂weight with shape `weightShape`. (The bias gradient is `gradOutput` summed over N, H, W.)
public func conv2dBackwardWeight(_ gradOutput: Tensor, input: Tensor, weightShape: [Int], stride: Int = 1,
                                 padding: Int = 0, dilation: Int = 1, groups: Int = 1) -> Tensor {
    let g = ConvolutionGeometry(inputShape: input.shape, weightShape: weightShape, stride: stride,
                                padding: padding, dilation: dilation, groups: groups)
    precondition(gradOutput.shape == g.outputShape,
                 "conv2dBackwardWeight: gradOutput \(gradOutput.shape) should be \(g.outputShape)")
    let dy = gradOutput.contiguous(), x = input.contiguous()
    let gradWeight = TensorStorage(count: Swift.max(1, Tensor.elementCount(weightShape)), repeating: 0)
    let dyp = dy.storage.pointer + dy.offset, xp = x.storage.pointer + x.offset
    let plane = g.height * g.width
    let columns = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(1, g.patchSize * g.outPositions))
    defer { columns.deallocate() }
    withExtendedLifetime((dy, x)) {
        for group in 0..<g.groups {
            let target = gradWeight.pointer + group * g.groupOutChannels * g.patchSize
            for n in 0..<g.batch {
                let image = xp + (n * g.channels + group * g.groupChannels) * plane
                let a = StridedMatrix(dyp + (n * g.outChannels + group * g.groupOutChannels) * g.outPositions,
                                      rowStride: g.outPositions, columnStride: 1)
                // colᵀ: [outPositions, patchSize]; the image itself when the convolution is pointwise.
                let b: StridedMatrix
                if g.isPointwise {
                    b = StridedMatrix(image, rowStride: 1, columnStride: plane)
                } else {
                    Im2ColMatrix(image: image, geometry: g).materialize(into: columns)
                    b = StridedMatrix(columns, rowStride: 1, columnStride: g.outPositions)
                }
                GEMM.multiply(m: g.groupOutChannels, n: g.patchSize, k: g.outPositions, alpha: 1, a: a, b: b,
                              beta: n == 0 ? 0 : 1, c: target, ldc: g.patchSize, threads: Parallel.threadCount)
            }
        }
    }
    return Tensor(storage: gradWeight, shape: weightShape, strides: Tensor.contiguousStrides(weightShape))
}

/// The naive reference for `conv2d`: the defining sum evaluated directly, one output element at a
/// time, with a Double accumulator.
public func naiveConv2d(_ input: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0,
                        dilation: Int = 1, groups: Int = 1) -> Tensor {
    let g = ConvolutionGeometry(inputShape: input.shape, weightShape: weight.shape, stride: stride,
                                padding: padding, dilation: dilation, groups: groups)
    var values = [Float](repeating: 0, count: Tensor.elementCount(g.outputShape))
    var index = 0
    for n in 0..<g.batch {
        for o in 0..<g.outChannels {
            let group = o / g.groupOutChannels
            for y in 0..<g.outHeight {
                for x in 0..<g.outWidth {
                    var sum = Double(bias?[o] ?? 0)
                    for c in 0..<g.groupChannels {
                        for i in 0..<g.kernelHeight {
                            let iy = y * stride - padding + i * dilation
                            if iy < 0 || iy >= g.height { continue }
                            for j in 0..<g.kernelWidth {
                                let ix = x * stride - padding + j * dilation
                                if ix < 0 || ix >= g.width { continue }
                                sum += Double(input[n, group * g.groupChannels + c, iy, ix]) * Double(weight[o, c, i, j])
                            }
                        }
                    }
                    values[index] = Float(sum)
                    index += 1
                }
            }
        }
    }
    return Tensor(shape: g.outputShape, scalars: values)
}
