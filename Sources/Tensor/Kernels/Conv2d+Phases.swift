// Strided convolutions (stride s > 1, no dilation) on the stride-1 stacked paths: the phase
// (space-to-depth) layout of the input that the forward pass and the weight gradient read
// (`StackedPaddedImages.init(phasesOf:images:group:geometry:)`), the row shuffles between an
// image and its phases (`PhaseRows`), and the input gradient phase by phase.
//
// Contract: `phaseConv2dBackwardInput` returns ∂L/∂in of `conv2d` for the geometry it is given,
// exactly as the defining sum (see Conv2d.swift) transposed, for any stride > 1, padding,
// kernel size and groups with dilation 1.
// With the input zero-padded by p and split into s x s phase images P_ab[y, x] = xpad[s y + a, s x + b]
// (space-to-depth, as the forward pass does in `StackedPaddedImages.init(phasesOf:...)`), the
// forward convolution is out[y, x] = Σ_{c, a, b, u, v} w[o, c, s u + a, s v + b] · P_ab[y + u, x + v],
// so the gradient of each phase is a full (transposed) stride-1 convolution of the output gradient
// with that phase's taps only:
//   ∂L/∂P_ab[c, y, x] = Σ_{o, u, v} dy[o, y - u, x - v] · w[o, c, s u + a, s v + b],
// and ∂L/∂in is the phases put back in place (depth-to-space, cropped to the input). Each input
// pixel belongs to exactly one phase, so nothing is accumulated (no col2im), and every product
// is a stride-1 shifted-rows product over the zero-padded, stacked output gradient
// (`StackedPaddedImages`, `ShiftedRowsMatrix`) with no zero taps.

/// The input gradient of a stride-s convolution without dilation (see the file's contract): per
/// group and run of images, one product per phase (a, b) of its rearranged weight
/// W_ab[c, (o, u, v)] = w[o, c, s u + a, s v + b] with the shifted-rows matrix of the stacked
/// output gradient, then the phases are interleaved into the input gradient's rows.
func phaseConv2dBackwardInput(_ gradOutput: Tensor, weight: Tensor, geometry g: ConvolutionGeometry) -> Tensor {
    precondition(g.stride > 1 && g.dilation == 1, "phaseConv2dBackwardInput: needs stride > 1 and dilation 1")
    let s = g.stride, p = g.padding
    let (kh, kw) = (g.kernelHeight, g.kernelWidth)
    let (cg, og) = (g.groupChannels, g.groupOutChannels)
    let (phaseRows, phaseColumns) = (Swift.min(s, kh), Swift.min(s, kw))
    let (tapRows, tapColumns) = ((kh + s - 1) / s, (kw + s - 1) / s)
    // The phase images' size, and the zeros stacked around each output-gradient image (enough for every phase's taps).
    let (height, width) = (g.outHeight + tapRows - 1, g.outWidth + tapColumns - 1)
    let reach = Swift.max(tapRows, tapColumns) - 1
    let stacking = ConvolutionGeometry(inputShape: [g.batch, g.outChannels, g.outHeight, g.outWidth],
                                       weightShape: [g.channels, og, reach + 1, reach + 1], stride: 1,
                                       padding: reach, dilation: 1, groups: g.groups)
    // Taps of phase row a (column b): ⌈(k - a) / s⌉.
    @Sendable func taps(_ k: Int, _ a: Int) -> Int { (k - a + s - 1) / s }
    // W_ab for every group and phase, one after the other: phase (a, b) of a group starts at
    // group * cg * og * kh * kw + firstTap[a * phaseColumns + b] * cg * og.
    var phaseStarts = [Int](), tapCount = 0
    for a in 0..<phaseRows {
        for b in 0..<phaseColumns {
            phaseStarts.append(tapCount)
            tapCount += taps(kh, a) * taps(kw, b)
        }
    }
    let firstTap = phaseStarts
    let w = weight.contiguous()
    let phaseWeights = w.withUnsafeBufferPointer { source in
        Tensor(shape: [g.groups * cg * og * kh * kw], initializingWith: { target in
            for group in 0..<g.groups {
                for a in 0..<phaseRows {
                    for b in 0..<phaseColumns {
                        let (ta, tb) = (taps(kh, a), taps(kw, b))
                        let depth = og * ta * tb
                        let start = group * cg * og * kh * kw + firstTap[a * phaseColumns + b] * cg * og
                        for c in 0..<cg {
                            for o in 0..<og {
                                for u in 0..<ta {
                                    for v in 0..<tb {
                                        target[start + c * depth + (o * ta + u) * tb + v] =
                                            source[(((group * og + o) * cg + c) * kh + s * u + a) * kw + s * v + b]
                                    }
                                }
                            }
                        }
                    }
                }
            }
        })
    }
    let gradInput = TensorStorage(uninitializedCount: Swift.max(1, Tensor.elementCount(g.inputShape)))
    let dy = gradOutput.contiguous()
    let phaseCount = phaseRows * phaseColumns
    withExtendedLifetime((dy, phaseWeights)) {
        // Read-only inputs; each run writes the input-gradient planes of its own images.
        nonisolated(unsafe) let dyp = UnsafePointer(dy.storage.pointer + dy.offset)
        nonisolated(unsafe) let wp = UnsafePointer(phaseWeights.storage.pointer + phaseWeights.offset)
        nonisolated(unsafe) let gip = gradInput.pointer
        for group in 0..<g.groups {
            _ = forEachStackedRun(stacking) { images, innerThreads, _ in
                let stack = StackedPaddedImages(dyp, images: images, group: group, geometry: stacking)
                let (blockRows, pitch) = (stack.blockRows, stack.pitch)
                let positions = ((images.count - 1) * blockRows + height) * pitch
                let results = UnsafeMutablePointer<Float>.allocate(capacity: phaseCount * cg * positions)
                let rowOffsets = UnsafeMutablePointer<Int>.allocate(capacity: og * tapRows * tapColumns)
                defer { stack.deallocate(); results.deallocate(); rowOffsets.deallocate() }
                for a in 0..<phaseRows {
                    for b in 0..<phaseColumns {
                        let (ta, tb) = (taps(kh, a), taps(kw, b))
                        let depth = og * ta * tb
                        // Row (o, u, v) reads dy[o, y - u, x - v] for stacked position (y, x).
                        for o in 0..<og {
                            for u in 0..<ta {
                                for v in 0..<tb {
                                    rowOffsets[(o * ta + u) * tb + v] = stack.offset(channel: o, row: reach - u, column: reach - v)
                                }
                            }
                        }
                        let weights = wp + group * cg * og * kh * kw + firstTap[a * phaseColumns + b] * cg * og
                        let result = results + (a * phaseColumns + b) * cg * positions
                        let rows = ShiftedRowsMatrix(padded: stack.pointer, rowOffsets: rowOffsets)
                        // One row per input channel (measured faster than positions as rows, as in
                        // the forward pass).
                        GEMM.multiply(m: cg, n: positions, k: depth, alpha: 1,
                                      a: StridedMatrix(weights, rowStride: depth, columnStride: 1), b: rows,
                                      beta: 0, c: result, ldc: positions, threads: innerThreads)
                    }
                }
                // Depth-to-space: input row r is row (r + p) / s of phase row (r + p) % s; rows of
                // phases no tap reads, or past the phase images, get no gradient.
                for c in 0..<cg {
                    for (slot, n) in images.enumerated() {
                        let target = gip + ((n * g.channels + group * cg + c) * g.height) * g.width
                        for r in 0..<g.height {
                            let (a, y) = ((r + p) % s, (r + p) / s)
                            if a >= phaseRows || y >= height {
                                (target + r * g.width).initialize(repeating: 0, count: g.width)
                                continue
                            }
                            PhaseRows.merge(results + a * phaseColumns * cg * positions + c * positions
                                                + (slot * blockRows + y) * pitch,
                                            phaseStride: cg * positions, phases: phaseColumns,
                                            phaseWidth: width, into: target + r * g.width, width: g.width,
                                            stride: s, padding: p)
                        }
                    }
                }
            }
        }
    }
    return Tensor(storage: gradInput, shape: g.inputShape, strides: Tensor.contiguousStrides(g.inputShape))
}

/// Moves pixels between one row of an image and the matching rows of its phases (stride s,
/// padding p): column q of the row is column (q + p) / s of phase (q + p) % s. Stride 2 with two
/// phases moves pairs of columns (even and odd) per step, which the compiler vectorizes.
enum PhaseRows {
    /// Writes `source` (`width` floats) into the rows of phases 0..<`phases`, phase b's row at
    /// `destination + b * phaseStride` (`phaseWidth` floats); columns of other phases or past
    /// `phaseWidth` are dropped, and the phase rows' other entries are left as they are.
    @inline(__always)
    static func split(_ source: UnsafePointer<Float>, width: Int, stride s: Int, padding p: Int, phases: Int,
                      phaseWidth: Int, into destination: UnsafeMutablePointer<Float>, phaseStride: Int) {
        var q = 0
        if s == 2 && phases == 2 {
            // Column 2m is column m + p/2 of phase p % 2; column 2m + 1 is column m + (p + 1)/2 of the other.
            let even = destination + (p % 2) * phaseStride + p / 2
            let odd = destination + ((p + 1) % 2) * phaseStride + (p + 1) / 2
            let pairs = Swift.max(0, Swift.min(width / 2, phaseWidth - (p + 1) / 2))
            deinterleave(source, pairs: pairs, even: even, odd: odd)
            q = 2 * pairs
        }
        if q > 0 {
            // The few columns left after the pairs.
            while q < width {
                let (b, x) = ((q + p) % s, (q + p) / s)
                if b < phases && x < phaseWidth { destination[b * phaseStride + x] = source[q] }
                q += 1
            }
            return
        }
        for b in 0..<phases {
            // Columns q = s x + b - p with 0 <= q < width and x < phaseWidth.
            let firstX = Swift.min(phaseWidth, (p - b + s - 1) / s)
            let endX = Swift.max(firstX, Swift.min(phaseWidth, (width + p - b + s - 1) / s))
            let row = destination + b * phaseStride, from = source + (b - p)
            for x in firstX..<endX { row[x] = from[s * x] }
        }
    }

    /// The inverse of `split`: writes the row `destination` (`width` floats) from the rows of
    /// phases 0..<`phases` (phase b's column x at `source[b * phaseStride + x]`), with
    /// zeros for columns of other phases or past `phaseWidth`.
    @inline(__always)
    static func merge(_ source: UnsafePointer<Float>, phaseStride: Int, phases: Int, phaseWidth: Int,
                      into destination: UnsafeMutablePointer<Float>, width: Int, stride s: Int, padding p: Int) {
        var q = 0
        if s == 2 && phases == 2 {
            let even = source + (p % 2) * phaseStride + p / 2
            let odd = source + ((p + 1) % 2) * phaseStride + (p + 1) / 2
            let pairs = Swift.max(0, Swift.min(width / 2, phaseWidth - (p + 1) / 2))
            interleave(even: even, odd: odd, pairs: pairs, into: destination)
            q = 2 * pairs
        }
        if q > 0 {
            // The few columns left after the pairs.
            while q < width {
                let (b, x) = ((q + p) % s, (q + p) / s)
                destination[q] = b < phases && x < phaseWidth ? source[b * phaseStride + x] : 0
                q += 1
            }
            return
        }
        for b in 0..<s {
            // Columns q = s x + b - p with 0 <= q < width: x in firstX..<endX.
            let firstX = (p - b + s - 1) / s, endX = (width + p - b + s - 1) / s
            let row = destination + (b - p), from = source + b * phaseStride
            let inside = b < phases ? Swift.max(firstX, Swift.min(endX, phaseWidth)) : firstX
            for x in firstX..<inside { row[s * x] = from[x] }
            for x in inside..<endX { row[s * x] = 0 }
        }
    }

    /// even[m] = source[2m], odd[m] = source[2m + 1] for m < `pairs`, 8 (or 4) pairs per vector
    /// step; the last step overlaps the previous one instead of running a scalar tail (rows here
    /// are 4-16 pairs long).
    @inline(__always)
    static func deinterleave(_ source: UnsafePointer<Float>, pairs: Int, even: UnsafeMutablePointer<Float>,
                             odd: UnsafeMutablePointer<Float>) {
        if pairs >= 8 {
            var m = 0
            while true {
                let v = UnsafeRawPointer(source + 2 * m).loadUnaligned(as: SIMD16<Float>.self)
                UnsafeMutableRawPointer(even + m).storeBytes(of: v.evenHalf, as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(odd + m).storeBytes(of: v.oddHalf, as: SIMD8<Float>.self)
                if m + 8 == pairs { return }
                m = Swift.min(m + 8, pairs - 8)
            }
        } else if pairs >= 4 {
            var m = 0
            while true {
                let v = UnsafeRawPointer(source + 2 * m).loadUnaligned(as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(even + m).storeBytes(of: v.evenHalf, as: SIMD4<Float>.self)
                UnsafeMutableRawPointer(odd + m).storeBytes(of: v.oddHalf, as: SIMD4<Float>.self)
                if m + 4 == pairs { return }
                m = Swift.min(m + 4, pairs - 4)
            }
        }
        for m in 0..<pairs {
            even[m] = source[2 * m]
            odd[m] = source[2 * m + 1]
        }
    }

    /// destination[2m] = even[m], destination[2m + 1] = odd[m] for m < `pairs` (the inverse of
    /// `deinterleave`, with the same overlapping last step).
    @inline(__always)
    static func interleave(even: UnsafePointer<Float>, odd: UnsafePointer<Float>, pairs: Int,
                           into destination: UnsafeMutablePointer<Float>) {
        if pairs >= 8 {
            var m = 0
            while true {
                var v = SIMD16<Float>()
                v.evenHalf = UnsafeRawPointer(even + m).loadUnaligned(as: SIMD8<Float>.self)
                v.oddHalf = UnsafeRawPointer(odd + m).loadUnaligned(as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(destination + 2 * m).storeBytes(of: v, as: SIMD16<Float>.self)
                if m + 8 == pairs { return }
                m = Swift.min(m + 8, pairs - 8)
            }
        } else if pairs >= 4 {
            var m = 0
            while true {
                var v = SIMD8<Float>()
                v.evenHalf = UnsafeRawPointer(even + m).loadUnaligned(as: SIMD4<Float>.self)
                v.oddHalf = UnsafeRawPointer(odd + m).loadUnaligned(as: SIMD4<Float>.self)
                UnsafeMutableRawPointer(destination + 2 * m).storeBytes(of: v, as: SIMD8<Float>.self)
                if m + 4 == pairs { return }
                m = Swift.min(m + 4, pairs - 4)
            }
        }
        for m in 0..<pairs {
            destination[2 * m] = even[m]
            destination[2 * m + 1] = odd[m]
        }
    }
}

extension StackedPaddedImages {
    /// The phase layout of a stride-s convolution without dilation (space-to-depth): with the
    /// input zero-padded by p, phase (a, b) of channel c is the image
    /// P_ab[y, x] = xpad[s y + a, s x + b] of Hq x Wq pixels (Hq = Ho + ⌈kH/s⌉ - 1), and
    ///   out[y, x] = Σ_{c, i, j} w[o, c, i, j] · P_{i%s, j%s}[y + i/s, x + j/s],
    /// a stride-1, unpadded convolution of the phases with ⌈kH/s⌉ x ⌈kW/s⌉ taps each, where every
    /// tap of the original kernel is read once (no zero taps). The phases of each channel are
    /// stacked like the stride-1 layout but with no shared padding: channel
    /// (a * min(s, kW) + b) * C/groups + c, pitch Wq, Hq rows per image, so the stride-1
    /// shifted-rows products (forward and weight gradient) run on it unchanged, with their row
    /// offsets from `offset(channel:row:column:)`. Only phases some tap reads are built (a < kH, b < kW).
    init(phasesOf input: UnsafePointer<Float>, images: Range<Int>, group: Int, geometry g: ConvolutionGeometry) {
        geometry = g
        let s = g.stride, p = g.padding
        let phaseRows = Swift.min(s, g.kernelHeight), phaseColumns = Swift.min(s, g.kernelWidth)
        let tapColumns = (g.kernelWidth + s - 1) / s
        let height = g.outHeight + (g.kernelHeight + s - 1) / s - 1
        let width = g.outWidth + tapColumns - 1
        pitch = width
        blockRows = height
        plane = images.count * height * width
        outputRows = (images.count - 1) * height + g.outHeight
        let channels = phaseRows * phaseColumns * g.groupChannels
        // 48 zeros past the last row read, as in the stride-1 layout (whole vectors and blocks).
        let count = channels * plane + tapColumns - 1 + 48
        pointer = UnsafeMutablePointer<Float>.allocate(capacity: count)
        pointer.initialize(repeating: 0, count: count)
        let (buffer, plane) = (pointer, plane)
        // Image by image, so the reads run through each image's channels contiguously.
        for (slot, n) in images.enumerated() {
            for ch in 0..<g.groupChannels {
                let image = input + (n * g.channels + group * g.groupChannels + ch) * g.height * g.width
                for r in 0..<g.height {
                    let (a, y) = ((r + p) % s, (r + p) / s)
                    if a >= phaseRows || y >= height { continue }
                    PhaseRows.split(image + r * g.width, width: g.width, stride: s, padding: p, phases: phaseColumns,
                                    phaseWidth: width,
                                    into: buffer + (a * phaseColumns * g.groupChannels + ch) * plane + (slot * height + y) * width,
                                    phaseStride: g.groupChannels * plane)
                }
            }
        }
    }
}
