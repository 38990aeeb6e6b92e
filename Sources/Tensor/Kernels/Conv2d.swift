// 2-D convolution (NCHW) as matrix multiplication, and its two backward passes.
//
// Contract: `conv2d` computes PyTorch's `F.conv2d` (cross-correlation) for input [N, C, H, W]
// and weight [O, C/groups, kH, kW]:
//   out[n, o, y, x] = bias[o] + Σ_{c in group(o), i, j} in[n, c, y*s - p + i*d, x*s - p + j*d] * w[o, c, i, j]
// with zeros outside the input; output size (H + 2p - d(kH - 1) - 1) / s + 1 (rounded down).
// Per image and group this is one GEMM (Chellapilla et al., "High Performance Convolutional
// Neural Networks for Document Processing", 2006):
//   out_g [O/g, Ho*Wo] = W_g [O/g, C/g*kH*kW] · col_g [C/g*kH*kW, Ho*Wo]
// where col is the im2col matrix. The forward pass never materializes col: the GEMM's packing
// routine reads it straight from the image (implicit GEMM). Stride 1 reads rows of zero-padded
// copies of the images stacked into one tall image (`StackedPaddedImages`), in place: the direct
// micro-kernels load each step's 32 positions straight from the shifted row, so nothing is
// packed but the weight (one product per run of images); larger strides without dilation read
// the same way from the images split into phases (space-to-depth, `init(phasesOf:...)` in
// Conv2d+Phases.swift); dilated strided convolutions gather (`Im2ColMatrix`);
// a 1x1, stride-1, unpadded convolution reads the image itself as the B matrix. The backward
// passes are the transposed products: gradInput = col2im(Wᵀ · gradOut) and gradWeight =
// Σ_n gradOut · colᵀ. Without dilation or at stride 1 both avoid col as well: gradInput is the
// forward convolution of gradOut with the flipped, transposed weight (per phase at stride > 1,
// `phaseConv2dBackwardInput`), and gradWeight one product per run of stacked images (or phases)
// whose operands both run along the positions, so it is computed as row-by-row dot products with
// nothing packed (`GEMM.multiplyRowsByRows`; so is a 1x1 convolution's, image by image). Dilated
// strided convolutions materialize col per image. 3x3 convolutions with many channels use
// Winograd's F(2x2, 3x3) instead (Conv2d+Winograd.swift; Conv2d+WinogradImages.swift for outputs
// up to 8x8 in large batches), or F(4x4, 3x3) on wide outputs (Conv2d+Winograd4x4.swift), and kernels that cover the whole image from every output position (3x3 on 2x2) one
// dense product over (channel, position) pairs (Conv2d+WholeImage.swift).
//
// Reference: `Reference.conv2d`, `Reference.conv2dBackwardInput` and
// `Reference.conv2dBackwardWeight` (Reference/Reference+Conv2d.swift) evaluate the three defining
// sums above directly; every path here is tested against them, and in
// `Kernels.mode == .reference` the three public functions below return them.

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

    /// Writes `bias[o]` to every position of output channel o of every image of `output`
    /// ([N, O, Ho, Wo], contiguous), for products that then add to it (beta 1).
    func fill(_ output: UnsafeMutablePointer<Float>, withBias bias: Tensor) {
        let b = bias.contiguous().scalars
        for n in 0..<batch {
            for o in 0..<outChannels {
                (output + (n * outChannels + o) * outPositions).update(repeating: b[o], count: outPositions)
            }
        }
    }

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
            // (c, i, j) of the current step, advanced like an odometer (no divisions per step).
            var c = depth.lowerBound / kernelArea
            var i = depth.lowerBound % kernelArea / g.kernelWidth
            var j = depth.lowerBound % g.kernelWidth
            for step in 0..<kc {
                defer {
                    j += 1
                    if j == g.kernelWidth { j = 0; i += 1; if i == g.kernelHeight { i = 0; c += 1 } }
                }
                let plane = image + c * g.height * g.width
                let d = panel + step * width
                var filled = 0, y = firstY, x = firstX
                // Walk the panel's output positions one output row (a contiguous run) at a time.
                while filled < nr {
                    let run = Swift.min(nr - filled, g.outWidth - x)
                    let iy = y * g.stride - g.padding + i * g.dilation
                    let out = d + filled
                    if iy < 0 || iy >= g.height {
                        for t in 0..<run { out[t] = 0 }
                    } else {
                        let row = plane + iy * g.width
                        let ix0 = x * g.stride - g.padding + j * g.dilation
                        if g.stride == 1 {
                            let lo = Swift.min(run, Swift.max(0, -ix0))
                            let hi = Swift.max(lo, Swift.min(run, g.width - ix0))
                            // Short runs: plain loops and vector moves beat memmove/memset calls here.
                            for t in 0..<lo { out[t] = 0 }
                            GEMM.packStep(row + (ix0 + lo), count: hi - lo, width: run - lo, into: out + lo)
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
                for t in nr..<width { d[t] = 0 }
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

/// The im2col matrix of a stride-1 convolution over zero-padded images stacked into one tall
/// image (`StackedPaddedImages`), computed for every stacked position: entry (q, p) with
/// q = (c, i, j) is `padded[rowOffsets[q] + p]`, where `rowOffsets[q] = c * plane + i * d * P
/// + j * d`. Each row is a contiguous run of the padded images, so packing is plain vector
/// copies; the outputs at positions between images' rows are computed and discarded.
struct ShiftedRowsMatrix: GEMMPackableB, @unchecked Sendable {
    // @unchecked: both buffers are only read, and the caller keeps them alive for the call.
    /// The stacked zero-padded images of one group (see `StackedPaddedImages`).
    let padded: UnsafePointer<Float>
    /// The start of each row of the matrix in `padded`.
    let rowOffsets: UnsafePointer<Int>

    func packB(depth: Range<Int>, columns: Range<Int>, into destination: UnsafeMutablePointer<Float>) {
        let kc = depth.count, width = GEMM.panelColumns
        var panel = destination
        var c0 = columns.lowerBound
        while c0 < columns.upperBound {
            let nr = Swift.min(width, columns.upperBound - c0)
            for step in 0..<kc {
                GEMM.packStep(padded + rowOffsets[depth.lowerBound + step] + c0, count: nr, width: width,
                              into: panel + step * width)
            }
            panel += width * kc
            c0 += width
        }
    }
}

/// The im2col matrix of a stacked run of images (`StackedPaddedImages`) restricted to the valid
/// output positions: column p = (image, y, x) of the run, in output order, is stacked position
/// `rowStarts[image * Ho + y] + x`, and entry (q, p) is `padded[rowOffsets[q] + rowStarts[·] + x]`.
/// Unlike the direct kernels over every stacked position (`stackedConv2d`) it computes no
/// discarded positions (at 3x3, padding 1: 36% fewer columns at 4x4, 21% at 8x8); each packed
/// step is a few copies of Wo contiguous floats (one vector move per output row when Wo is 4 or 8).
struct CompactStackedMatrix: GEMMPackableB, @unchecked Sendable {
    // @unchecked: the buffers are only read, and the caller keeps them alive for the call.
    /// The stacked zero-padded images of one group.
    let padded: UnsafePointer<Float>
    /// The start of each row q of the matrix in `padded` (as for `ShiftedRowsMatrix`).
    let rowOffsets: UnsafePointer<Int>
    /// The stacked position of output (image, y, 0), indexed by image * Ho + y.
    let rowStarts: UnsafePointer<Int>
    /// Output columns per output row (Wo).
    let outWidth: Int

    /// Used with more than 32 output channels per group and output rows that tile a 32-wide
    /// panel exactly (Wo = 1, 2, 4, 8): the widths and channel counts where it beat the direct
    /// kernels (docs/benchmarks.md, "Design measurements").
    static func applies(_ g: ConvolutionGeometry) -> Bool {
        g.groupOutChannels > 32 && g.outWidth <= 8 && GEMM.panelColumns % g.outWidth == 0
    }

    func packB(depth: Range<Int>, columns: Range<Int>, into destination: UnsafeMutablePointer<Float>) {
        let kc = depth.count, width = GEMM.panelColumns
        // One panel's columns as segments of one output row each: (panel offset, stacked position, length).
        // A 32-wide panel of outputs at least 1 wide has at most 32 segments.
        var segments = [(Int, Int, Int)]()
        segments.reserveCapacity(width)
        var panel = destination
        var c0 = columns.lowerBound
        while c0 < columns.upperBound {
            let nr = Swift.min(width, columns.upperBound - c0)
            segments.removeAll(keepingCapacity: true)
            var filled = 0, row = c0 / outWidth, x = c0 % outWidth
            while filled < nr {
                let run = Swift.min(nr - filled, outWidth - x)
                segments.append((filled, rowStarts[row] + x, run))
                filled += run
                x = 0
                row += 1
            }
            for step in 0..<kc {
                let source = padded + rowOffsets[depth.lowerBound + step]
                let d = panel + step * width
                for (offset, start, run) in segments { GEMM.copyFloats(source + start, to: d + offset, count: run) }
                for t in nr..<width { d[t] = 0 }
            }
            panel += width * kc
            c0 += width
        }
    }
}

/// A run of images of one group, zero-padded and stacked vertically per channel, for the
/// stride-1 paths. Neighbouring images and neighbouring rows share their zero padding: every
/// row is p zeros then the W pixels (pitch P = W + p), every image is H such rows then p zero
/// rows, and the stack starts with p zero rows, so pixel (n, iy, ix) of the run sits at
/// `pointer + c * plane + (p + n * (H + p) + iy) * P + p + ix`. A stride-1 convolution of the run
/// is then one product over this single tall image (`stackedConv2d`): output (n, y, x) is
/// stacked position (n * (H + p) + y) * P + x, whose window reads exactly the right pixels or
/// zeros (the p zeros before a row also serve as the p zeros after the previous one). The
/// positions between outputs (P - Wo per row, H + p - Ho rows per image) are computed and
/// discarded: at 3x3, padding 1, that is 6% at 32x32 and 36% at 4x4 (with separate padding for
/// every image and row, 13% and 125%). It needs p <= (k - 1) * d in both directions, so outputs
/// fit within one pitch and one image block (`StackedPaddedImages.applies`).
/// Stacking several small images into one product packs the weight once per run instead of
/// once per image (the 4x4 and 8x8 levels of a small UNet spent more time packing the weight
/// than multiplying); runs stay small (`imagesPerRun`) so their buffers are reused from cache.
struct StackedPaddedImages {
    /// The stacked buffer (owned; call `deallocate()`).
    let pointer: UnsafeMutablePointer<Float>
    /// Floats from one stacked row to the next: P = W + p.
    let pitch: Int
    /// Stacked rows from one image to the next: H + p.
    let blockRows: Int
    /// Floats per stacked channel: (p + count * (H + p)) * P.
    let plane: Int
    /// Stacked output rows (count - 1) * (H + p) + Ho: every output row of every image, plus the discarded ones.
    let outputRows: Int
    /// The convolution's sizes (for `offset(channel:row:column:)`).
    let geometry: ConvolutionGeometry

    /// Whether the stacked layout can compute this convolution: stride 1 (not a plain 1x1
    /// product, padding at most the kernel's reach), or any larger stride without dilation
    /// (split into phases, see `init(phasesOf:images:group:geometry:)`).
    static func applies(_ g: ConvolutionGeometry) -> Bool {
        if g.stride > 1 { return g.dilation == 1 }
        return !g.isPointwise && g.padding <= (g.kernelHeight - 1) * g.dilation
            && g.padding <= (g.kernelWidth - 1) * g.dilation
    }

    /// The offset in the buffer of the input pixel that kernel tap (`row`, `column`) of channel
    /// `channel` reads for stacked output position 0; position p reads it at offset + p.
    /// At stride 1 that is c * plane + i * d * P + j * d; with phases (stride s) tap (i, j) is tap
    /// (i / s, j / s) of phase (i % s, j % s).
    @inline(__always)
    func offset(channel: Int, row i: Int, column j: Int) -> Int {
        let g = geometry
        if g.stride == 1 { return channel * plane + i * g.dilation * pitch + j * g.dilation }
        let s = g.stride
        let phase = (i % s) * Swift.min(s, g.kernelWidth) + j % s
        return (phase * g.groupChannels + channel) * plane + (i / s) * pitch + j / s
    }

    /// How many images one run holds: about 2048 stacked positions (at least one image).
    static func imagesPerRun(_ g: ConvolutionGeometry) -> Int {
        if g.stride > 1 {
            let s = g.stride
            let phaseHeight = g.outHeight + (g.kernelHeight + s - 1) / s - 1
            let phaseWidth = g.outWidth + (g.kernelWidth + s - 1) / s - 1
            return Swift.max(1, 2048 / (phaseHeight * phaseWidth))
        }
        return Swift.max(1, 2048 / ((g.height + g.padding) * (g.width + g.padding)))
    }

    /// Pads and stacks channels `group * C/groups ..< (group + 1) * C/groups` of images `images`
    /// of `input` (contiguous [N, C, H, W]), on the calling thread.
    /// At stride 1 the padded layout above, at larger strides the phase layout (`init(phasesOf:images:group:geometry:)`).
    init(_ input: UnsafePointer<Float>, images: Range<Int>, group: Int, geometry g: ConvolutionGeometry) {
        if g.stride > 1 {
            self.init(phasesOf: input, images: images, group: group, geometry: g)
        } else {
            self.init(paddedOf: input, images: images, group: group, geometry: g)
        }
    }

    /// The stride-1 padded layout described above.
    init(paddedOf input: UnsafePointer<Float>, images: Range<Int>, group: Int, geometry g: ConvolutionGeometry) {
        geometry = g
        let p = g.padding
        pitch = g.width + p
        blockRows = g.height + p
        plane = (p + images.count * blockRows) * pitch
        outputRows = (images.count - 1) * blockRows + g.outHeight
        // 48 floats past the last row read: `GEMM.multiplyRowsByRows` reads whole vectors, the
        // direct kernels whole blocks of 32 positions.
        let count = g.groupChannels * plane + (g.kernelWidth - 1) * g.dilation + 48
        pointer = UnsafeMutablePointer<Float>.allocate(capacity: count)
        (pointer + g.groupChannels * plane).initialize(repeating: 0, count: count - g.groupChannels * plane)
        for ch in 0..<g.groupChannels {
            let channel = pointer + ch * plane
            channel.initialize(repeating: 0, count: p * pitch)
            for (slot, n) in images.enumerated() {
                let block = channel + (p + slot * blockRows) * pitch
                let image = input + ((n * g.channels + group * g.groupChannels + ch) * g.height) * g.width
                for y in 0..<g.height {
                    let row = block + y * pitch
                    for t in 0..<p { row[t] = 0 }
                    // Inline vector moves: rows of 4-16 floats made memmove calls a tenth of a
                    // 4x4 convolution's time.
                    GEMM.copyFloats(image + y * g.width, to: row + p, count: g.width)
                }
                (block + g.height * pitch).initialize(repeating: 0, count: p * pitch)
            }
        }
    }

    /// Frees the buffer.
    func deallocate() { pointer.deallocate() }
}

/// Runs `body(images, innerThreads)` over the batch in runs of `StackedPaddedImages.imagesPerRun`
/// images: with at least as many images as threads, each thread takes a contiguous share of the
/// runs (`body` then gets 1 inner thread and the index of its share); otherwise the runs go one
/// after the other, each using every thread inside its product.
func forEachStackedRun(_ g: ConvolutionGeometry, _ body: @Sendable (_ images: Range<Int>, _ innerThreads: Int, _ share: Int) -> Void) -> Int {
    let perRun = StackedPaddedImages.imagesPerRun(g)
    let threads = Parallel.threadCount
    if threads > 1 && g.batch >= threads {
        let shares = threads
        parallelFor(shares) { share in
            let first = share * g.batch / shares, last = (share + 1) * g.batch / shares
            var start = first
            while start < last {
                let end = Swift.min(last, start + perRun)
                body(start..<end, 1, share)
                start = end
            }
        }
        return shares
    }
    var start = 0
    while start < g.batch {
        let end = Swift.min(g.batch, start + perRun)
        body(start..<end, threads, 0)
        start = end
    }
    return 1
}

/// `conv2d` with a 16-bit `weight` [O, C/groups, kH, kW] (a model loaded in Float16/BFloat16),
/// equal bit for bit to `conv2d(input, weight: weight.widened(), ...)`. The Winograd paths
/// (F(4x4, 3x3) and F(2x2, 3x3) per image) read the 16-bit filters as stored, widening one panel
/// of 12 filters at a time inside their weight transform, so no Float32 copy of the weight is
/// made; every other path takes the widened weight.
public func conv2d(_ input: Tensor, halfPrecisionWeight weight: HalfPrecisionTensor, bias: Tensor? = nil, stride: Int = 1,
                   padding: Int = 0, dilation: Int = 1, groups: Int = 1) -> Tensor {
    let g = ConvolutionGeometry(inputShape: input.shape, weightShape: weight.shape, stride: stride,
                                padding: padding, dilation: dilation, groups: groups)
    if let bias { precondition(bias.shape == [g.outChannels], "conv2d: bias must be [\(g.outChannels)], got \(bias.shape)") }
    // The same choice of path as `conv2d(_:weight:...)`, whose checks come first there.
    if !Kernels.useReference && !WholeImageConvolution.applies(g) && !WinogradF2x3.appliesAcrossImages(g) {
        if WinogradF4x3.applies(g) { return winograd4x4Conv2d(input.contiguous(), weight: .halfPrecision(weight), bias: bias, geometry: g) }
        if WinogradF2x3.applies(g) { return winogradConv2d(input.contiguous(), weight: .halfPrecision(weight), bias: bias, geometry: g) }
    }
    return conv2d(input, weight: weight.widened(), bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
}

/// 2-D convolution of `input` [N, C, H, W] with `weight` [O, C/groups, kH, kW] plus an optional
/// `bias` [O], as PyTorch's `F.conv2d` (cross-correlation, zero padding), through the packed GEMM.
public func conv2d(_ input: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0,
                   dilation: Int = 1, groups: Int = 1) -> Tensor {
    let g = ConvolutionGeometry(inputShape: input.shape, weightShape: weight.shape, stride: stride,
                                padding: padding, dilation: dilation, groups: groups)
    if let bias { precondition(bias.shape == [g.outChannels], "conv2d: bias must be [\(g.outChannels)], got \(bias.shape)") }
    if Kernels.useReference {
        return Reference.conv2d(input, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }
    let x = input.contiguous(), w = weight.contiguous()
    if WholeImageConvolution.applies(g) { return wholeImageConv2d(x, weight: w, bias: bias, geometry: g) }
    if WinogradF2x3.appliesAcrossImages(g) { return winogradImagesConv2d(x, weight: w, bias: bias, geometry: g) }
    if WinogradF4x3.applies(g) { return winograd4x4Conv2d(x, weight: .float(w), bias: bias, geometry: g) }
    if WinogradF2x3.applies(g) { return winogradConv2d(x, weight: .float(w), bias: bias, geometry: g) }
    if StackedPaddedImages.applies(g) { return stackedConv2d(x, weight: w, bias: bias, geometry: g) }
    let output = TensorStorage(uninitializedCount: Swift.max(1, Tensor.elementCount(g.outputShape)))
    let positions = g.outPositions
    if let bias { g.fill(output.pointer, withBias: bias) }
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
    if Kernels.useReference {
        return Reference.conv2dBackwardInput(gradOutput, weight: weight, inputShape: inputShape, stride: stride,
                                             padding: padding, dilation: dilation, groups: groups)
    }
    if WholeImageConvolution.applies(g) {
        return wholeImageConv2dBackwardInput(gradOutput.contiguous(), weight: weight.contiguous(), geometry: g)
    }
    // Stride 1: the input gradient is itself a stride-1 convolution (see flippedConv2dBackwardInput).
    let transposedPadding = dilation * (g.kernelHeight - 1) - padding
    if stride == 1 && !g.isPointwise && g.kernelHeight == g.kernelWidth && transposedPadding >= 0 {
        return flippedConv2dBackwardInput(gradOutput, weight: weight, geometry: g)
    }
    // Larger strides without dilation: stride-1 products per phase (see phaseConv2dBackwardInput).
    if stride > 1 && dilation == 1 { return phaseConv2dBackwardInput(gradOutput, weight: weight, geometry: g) }
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
    if Kernels.useReference {
        return Reference.conv2dBackwardWeight(gradOutput, input: input, weightShape: weightShape, stride: stride,
                                              padding: padding, dilation: dilation, groups: groups)
    }
    let dy = gradOutput.contiguous(), x = input.contiguous()
    if WholeImageConvolution.applies(g) { return wholeImageConv2dBackwardWeight(dy, input: x, geometry: g) }
    if WinogradF2x3.appliesAcrossImages(g) { return winogradImagesConv2dBackwardWeight(dy, input: x, geometry: g) }
    if WinogradF2x3.applies(g) { return winogradConv2dBackwardWeight(dy, input: x, geometry: g) }
    if StackedPaddedImages.applies(g) { return stackedConv2dBackwardWeight(dy, input: x, geometry: g) }
    if g.isPointwise && g.outPositions % 16 == 0 { return pointwiseConv2dBackwardWeight(dy, input: x, geometry: g) }
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

/// The weight gradient of a 1x1, stride-1, unpadded convolution with a multiple of 16 positions
/// per image: ∂L/∂w[o, c] = Σ_n Σ_p dy[n, o, p] · x[n, c, p]. The rows of both operands run along
/// the positions, so each image is one `GEMM.multiplyRowsByRows` (nothing packed or transposed);
/// threads take contiguous shares of the images, each summing into its own partial result.
private func pointwiseConv2dBackwardWeight(_ dy: Tensor, input x: Tensor, geometry g: ConvolutionGeometry) -> Tensor {
    let (og, cg, positions) = (g.groupOutChannels, g.groupChannels, g.outPositions)
    let filterCount = g.outChannels * cg
    let shares = Swift.max(1, Swift.min(Parallel.threadCount, g.batch))
    let partials = UnsafeMutablePointer<Float>.allocate(capacity: shares * filterCount)
    defer { partials.deallocate() }
    let starts = (0..<cg).map { $0 * positions }
    withExtendedLifetime((dy, x)) {
        starts.withUnsafeBufferPointer { startBuffer in
            // Read-only inputs; share s writes only its own partial sums.
            nonisolated(unsafe) let xp = UnsafePointer(x.storage.pointer + x.offset)
            nonisolated(unsafe) let dyp = UnsafePointer(dy.storage.pointer + dy.offset)
            nonisolated(unsafe) let bStarts = startBuffer.baseAddress!
            nonisolated(unsafe) let partial = partials
            parallelFor(shares) { share in
                let images = (share * g.batch / shares)..<((share + 1) * g.batch / shares)
                for n in images {
                    for group in 0..<g.groups {
                        GEMM.multiplyRowsByRows(m: og, n: cg, k: positions,
                                                a: dyp + (n * g.outChannels + group * og) * positions, lda: positions,
                                                b: xp + (n * g.channels + group * cg) * positions, bStarts: bStarts,
                                                c: partial + share * filterCount + group * og * cg, ldc: cg,
                                                accumulate: n != images.lowerBound)
                    }
                }
            }
        }
    }
    for share in 1..<shares {
        let source = partials + share * filterCount
        for index in 0..<filterCount { partials[index] += source[index] }
    }
    let gradWeight = TensorStorage(uninitializedCount: Swift.max(1, filterCount))
    gradWeight.pointer.update(from: partials, count: filterCount)
    return Tensor(storage: gradWeight, shape: g.weightShape, strides: Tensor.contiguousStrides(g.weightShape))
}

/// `conv2d` of contiguous `x` and `w` at stride 1, or at larger strides without dilation through
/// the phase layout: per group and run of images, the weight times the im2col matrix of the
/// stacked run (see `StackedPaddedImages`) at every stacked position, whose row q is the stacked
/// images shifted by q's kernel offset: `directKernel12x32` (and its 8- and 4-row variants) read
/// 32 positions of each such row in place per step, so only the weight is packed. The valid
/// outputs (plus the bias) are then copied out of the stacked result. Images 4 or 8 outputs wide
/// with more than 32 output channels use `CompactStackedMatrix` instead (valid positions only).
private func stackedConv2d(_ x: Tensor, weight w: Tensor, bias: Tensor?, geometry g: ConvolutionGeometry) -> Tensor {
    let output = TensorStorage(uninitializedCount: Swift.max(1, Tensor.elementCount(g.outputShape)))
    let biasValues = bias?.contiguous().scalars
    let kernelArea = g.kernelHeight * g.kernelWidth
    withExtendedLifetime((x, w)) {
        // Read-only inputs; each run writes the output planes of its own images.
        nonisolated(unsafe) let xp = UnsafePointer(x.storage.pointer + x.offset)
        nonisolated(unsafe) let wp = UnsafePointer(w.storage.pointer + w.offset)
        nonisolated(unsafe) let out = output.pointer
        let panels = (g.groupOutChannels + 11) / 12
        let packedWeights = UnsafeMutablePointer<Float>.allocate(capacity: panels * 12 * g.patchSize)
        defer { packedWeights.deallocate() }
        for group in 0..<g.groups {
            // The group's weight, packed once for all its runs (read only inside them).
            StridedMatrix(wp + group * g.groupOutChannels * g.patchSize, rowStride: g.patchSize, columnStride: 1)
                .packA(rows: 0..<g.groupOutChannels, depth: 0..<g.patchSize, into: packedWeights)
            nonisolated(unsafe) let packed = UnsafePointer(packedWeights)
            _ = forEachStackedRun(g) { images, innerThreads, _ in
                let stack = StackedPaddedImages(xp, images: images, group: group, geometry: g)
                let (blockRows, pitch) = (stack.blockRows, stack.pitch)
                let rowOffsets = UnsafeMutablePointer<Int>.allocate(capacity: g.patchSize)
                defer { stack.deallocate(); rowOffsets.deallocate() }
                for q in 0..<g.patchSize {
                    let r = q % kernelArea
                    rowOffsets[q] = stack.offset(channel: q / kernelArea, row: r / g.kernelWidth, column: r % g.kernelWidth)
                }
                if CompactStackedMatrix.applies(g) {
                    // Narrow images: only the valid positions, in output order (no discarded columns).
                    let perImage = g.outPositions, columns = images.count * perImage
                    let rowStarts = UnsafeMutablePointer<Int>.allocate(capacity: images.count * g.outHeight)
                    let compact = UnsafeMutablePointer<Float>.allocate(capacity: g.groupOutChannels * columns)
                    defer { rowStarts.deallocate(); compact.deallocate() }
                    for slot in 0..<images.count {
                        for y in 0..<g.outHeight { rowStarts[slot * g.outHeight + y] = (slot * blockRows + y) * pitch }
                    }
                    GEMM.multiply(m: g.groupOutChannels, n: columns, k: g.patchSize, alpha: 1,
                                  a: PackedMatrix(base: packed, depth: g.patchSize),
                                  b: CompactStackedMatrix(padded: stack.pointer, rowOffsets: rowOffsets,
                                                          rowStarts: rowStarts, outWidth: g.outWidth),
                                  beta: 0, c: compact, ldc: columns, threads: innerThreads)
                    for o in 0..<g.groupOutChannels {
                        let channel = group * g.groupOutChannels + o
                        let b = biasValues?[channel] ?? 0
                        for (slot, n) in images.enumerated() {
                            let from = compact + o * columns + slot * perImage
                            let to = out + (n * g.outChannels + channel) * perImage
                            for t in 0..<perImage { to[t] = from[t] + b }
                        }
                    }
                    return
                }
                // Every stacked position (valid or discarded), in blocks of 32: each block of each
                // 12-row panel of packed weights is one `directKernel`, whose B rows are the
                // shifted rows of the stacked images read in place (no packing).
                let wide = stack.outputRows * pitch
                let blocks = (wide + 31) / 32
                let ldr = blocks * 32
                let result = UnsafeMutablePointer<Float>.allocate(capacity: panels * 12 * ldr)
                defer { result.deallocate() }
                // Each block writes its own 32 columns of `result`; the rest is read only.
                nonisolated(unsafe) let (image, offsets) = (UnsafePointer(stack.pointer), UnsafePointer(rowOffsets))
                nonisolated(unsafe) let target = result
                let (og, patch) = (g.groupOutChannels, g.patchSize)
                let computeBlocks: @Sendable (Range<Int>) -> Void = { range in
                    for block in range {
                        let p0 = block * 32
                        for panel in 0..<panels {
                            let rows = og - panel * 12
                            let a = packed + panel * 12 * patch, c = target + panel * 12 * ldr + p0
                            if rows > 8 {
                                directKernel12x32(patch, a, image + p0, offsets, c, ldr)
                            } else if rows > 4 {
                                directKernel8x32(patch, a, image + p0, offsets, c, ldr)
                            } else {
                                directKernel4x32(patch, a, image + p0, offsets, c, ldr)
                            }
                        }
                    }
                }
                if innerThreads > 1 {
                    parallelFor(chunking: blocks, minimumChunk: 4, computeBlocks)
                } else {
                    computeBlocks(0..<blocks)
                }
                for o in 0..<g.groupOutChannels {
                    let channel = group * g.groupOutChannels + o
                    let b = biasValues?[channel] ?? 0
                    for (slot, n) in images.enumerated() {
                        for y in 0..<g.outHeight {
                            let from = result + o * ldr + (slot * blockRows + y) * pitch
                            let to = out + ((n * g.outChannels + channel) * g.outHeight + y) * g.outWidth
                            for x in 0..<g.outWidth { to[x] = from[x] + b }
                        }
                    }
                }
            }
        }
    }
    return Tensor(storage: output, shape: g.outputShape, strides: Tensor.contiguousStrides(g.outputShape))
}

/// The input gradient of a stride-1 convolution with a square kernel, as a convolution:
/// ∂L/∂in[n, c, y, x] = Σ_{o, i, j} dy[n, o, y + p - i d, x + p - j d] · w[o, c, i, j], which is
/// `conv2d(dy, w', padding: d (k - 1) - p, dilation: d, groups)` with the flipped, transposed
/// weight w'[c, o, i, j] = w[o, c, k - 1 - i, k - 1 - j] (within each group) — the identity behind
/// transposed convolution (Dumoulin & Visin, "A guide to convolution arithmetic for deep
/// learning", 2016, relationship 8). It then runs on the fast stride-1 forward path, with no col2im.
private func flippedConv2dBackwardInput(_ gradOutput: Tensor, weight: Tensor, geometry g: ConvolutionGeometry) -> Tensor {
    let k = g.kernelHeight, area = k * k
    let (og, cg) = (g.groupOutChannels, g.groupChannels)
    let w = weight.contiguous()
    let flipped = w.withUnsafeBufferPointer { source in
        Tensor(shape: [g.channels, og, k, k], initializingWith: { target in
            for group in 0..<g.groups {
                for o in 0..<og {
                    for c in 0..<cg {
                        let from = ((group * og + o) * cg + c) * area, to = ((group * cg + c) * og + o) * area
                        for r in 0..<area { target[to + area - 1 - r] = source[from + r] }
                    }
                }
            }
        })
    }
    return conv2d(gradOutput, weight: flipped, padding: g.dilation * (k - 1) - g.padding,
                  dilation: g.dilation, groups: g.groups)
}

/// The weight gradient of a stride-1 convolution (or a strided one without dilation, on the
/// phase layout, with the tap offsets of `StackedPaddedImages.offset`): per group and run of
/// images, one product
/// ∂L/∂w'[o, (i, j, c)] += Σ_p dyStacked[o, p] · stacked[c, p + i d Wp + j d], where dyStacked
/// places dy at the run's stacked output positions (zeros at the discarded ones), so the sum over
/// the run's images and pixels is the product's depth. Both operands have that depth contiguous
/// (rows of dyStacked; rows of the stacked images shifted by the kernel offset), so the product
/// is `GEMM.multiplyRowsByRows`, with no packing. Each thread sums its share of the runs into
/// its own partial result; the partials are added and reordered to [O, C/groups, kH, kW] at the end.
private func stackedConv2dBackwardWeight(_ dy: Tensor, input x: Tensor, geometry g: ConvolutionGeometry) -> Tensor {
    let gradWeight = TensorStorage(uninitializedCount: Swift.max(1, Tensor.elementCount(g.weightShape)))
    let kernelArea = g.kernelHeight * g.kernelWidth
    let (og, cg, patch) = (g.groupOutChannels, g.groupChannels, g.patchSize)
    let threads = Parallel.threadCount
    let partials = UnsafeMutablePointer<Float>.allocate(capacity: threads * og * patch)
    defer { partials.deallocate() }
    withExtendedLifetime((dy, x)) {
        // Read-only inputs; each share of runs accumulates into its own og x patch partial.
        nonisolated(unsafe) let xp = UnsafePointer(x.storage.pointer + x.offset)
        nonisolated(unsafe) let dyp = UnsafePointer(dy.storage.pointer + dy.offset)
        nonisolated(unsafe) let partial = partials
        for group in 0..<g.groups {
            let firstRun = UnsafeMutablePointer<Bool>.allocate(capacity: threads)
            firstRun.initialize(repeating: true, count: threads)
            defer { firstRun.deallocate() }
            nonisolated(unsafe) let first = firstRun  // one flag per share
            let shares = forEachStackedRun(g) { images, innerThreads, share in
                let stack = StackedPaddedImages(xp, images: images, group: group, geometry: g)
                let (blockRows, pitch) = (stack.blockRows, stack.pitch)
                // The product's depth, padded with zero gradients to whole vectors.
                let depth = GEMM.roundUp(stack.outputRows * pitch, to: 16)
                let columnStarts = UnsafeMutablePointer<Int>.allocate(capacity: patch)
                let stackedGradient = UnsafeMutablePointer<Float>.allocate(capacity: og * depth)
                defer { stack.deallocate(); columnStarts.deallocate(); stackedGradient.deallocate() }
                for q in 0..<patch {
                    let r = q / cg
                    columnStarts[q] = stack.offset(channel: q % cg, row: r / g.kernelWidth, column: r % g.kernelWidth)
                }
                for o in 0..<og {
                    let row = stackedGradient + o * depth
                    row.initialize(repeating: 0, count: depth)
                    for (slot, n) in images.enumerated() {
                        for y in 0..<g.outHeight {
                            GEMM.copyFloats(dyp + ((n * g.outChannels + group * og + o) * g.outHeight + y) * g.outWidth,
                                            to: row + (slot * blockRows + y) * pitch, count: g.outWidth)
                        }
                    }
                }
                // Both operands have the positions contiguous: row-by-row dot products, no packing.
                nonisolated(unsafe) let (gradient, starts) = (UnsafePointer(stackedGradient), UnsafePointer(columnStarts))
                nonisolated(unsafe) let images = UnsafePointer(stack.pointer)
                nonisolated(unsafe) let target = partial + share * og * patch
                let accumulate = !first[share]
                let parts = innerThreads > 1 && patch >= 12 ? innerThreads : 1
                let product: @Sendable (Int) -> Void = { part in
                    // Each part takes its own columns (multiples of 6) of the partial sums.
                    let from = (part * patch / parts) / 6 * 6
                    let to = part == parts - 1 ? patch : ((part + 1) * patch / parts) / 6 * 6
                    GEMM.multiplyRowsByRows(m: og, n: to - from, k: depth, a: gradient, lda: depth,
                                            b: images, bStarts: starts + from, c: target + from, ldc: patch,
                                            accumulate: accumulate)
                }
                if parts > 1 { parallelFor(parts, product) } else { product(0) }
                first[share] = false
            }
            // Sum the partials and reorder (o, (i, j, c)) to the weight's (o, c, i, j).
            let target = gradWeight.pointer + group * og * patch
            for o in 0..<og {
                for r in 0..<kernelArea {
                    for c in 0..<cg {
                        var sum: Float = 0
                        for share in 0..<shares { sum += partials[(share * og + o) * patch + r * cg + c] }
                        target[(o * cg + c) * kernelArea + r] = sum
                    }
                }
            }
        }
    }
    return Tensor(storage: gradWeight, shape: g.weightShape, strides: Tensor.contiguousStrides(g.weightShape))
}
