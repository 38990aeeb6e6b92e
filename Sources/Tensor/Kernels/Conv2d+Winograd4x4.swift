// Winograd convolution F(4x4, 3x3): 3x3, stride-1 convolutions with many channels on wide images.
//
// Contract: `winograd4x4Conv2d` computes the same function as `conv2d` (PyTorch's `F.conv2d`) for
// the geometries `WinogradF4x3.applies` accepts. It is the algorithm of Conv2d+Winograd.swift
// (read that file first) with 4x4 output tiles instead of 2x2: each tile reads a 6x6 input patch,
// and the channel sum becomes 36 matrix products M_ξ [O, T] = U_ξ [O, C] · V_ξ [C, T], so a tile
// of 16 outputs costs 36 · O · C multiply-adds: 4x fewer than the direct method's 16 · 9 · O · C,
// where F(2x2, 3x3) saves 2.25x. What this adds over F(2x2, 3x3): the larger transforms below
// (their constants are no longer powers of two, so U and the transforms round: the error grows
// with the tile, which is why it is limited to 4x4; measured against the direct sum in
// docs/benchmarks.md, "Convolutions for the batch-2 UNet"), and a weight transform shared between threads (U is
// 4x the weight, 236 MB for a 1280 x 1280 layer, built on every call).
//
// Transforms (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016,
// F(4x4, 3x3); interpolation points 0, ±1, ±2 and ∞): Y = Aᵀ [ Σ_c (G g_c Gᵀ) ⊙ (Bᵀ d_c B) ] A with
//   Bᵀ = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1],
//   G  = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1],
//   Aᵀ = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1].
// Entry ξ = 6i + j of a 6x6 transform is row i, column j. The input transform runs Bᵀ along each of
// a tile row's 6 input rows (16 tiles per vector step: each row is first split into its 4
// phases, columns 4s + q, so a row's values at 4t + k are one contiguous load), then down the columns; the output transform runs Aᵀ
// along and down M and interleaves the 4 values of each tile row back into image rows.
//
// Reference: `Reference.conv2d` (the defining sum); `Conv2dTests` compares the two.

import Foundation

/// Winograd's F(4x4, 3x3) for `conv2d`: when it applies, and its transforms.
enum WinogradF4x3 {
    /// Input and output channels from which F(4x4, 3x3) replaces F(2x2, 3x3).
    static let minimumChannels = 128
    /// Output width from which it applies: rows of at least 8 tiles, so the 16-tile vector steps
    /// of the transforms waste at most half their lanes.
    static let minimumOutputWidth = 32
    /// Tiles per chunk: the GEMMs' column count (whole rows of tiles, at least one). Each tile
    /// holds 16 outputs, so 128 tiles cover as many outputs as F(2x2, 3x3)'s 512.
    static let tilesPerChunk = 128

    /// `SWIFTDIFFUSION_WINOGRAD=2x2` runs the Winograd paths as they were before this one existed:
    /// F(2x2, 3x3) wherever F(4x4, 3x3) would apply, and the across-images layout at every batch
    /// size (`WinogradF2x3.appliesAcrossImages`). The switch behind the paired measurements in
    /// docs/benchmarks.md; unset (or any other value) runs the current paths.
    static let previousPathsOnly: Bool = ProcessInfo.processInfo.environment["SWIFTDIFFUSION_WINOGRAD"] == "2x2"

    /// Whether `g` is a 3x3, stride-1, undilated, ungrouped convolution with padding at most 2, at
    /// least `minimumChannels` input and output channels and outputs at least
    /// `minimumOutputWidth` wide and 4 high (unless `previousPathsOnly`).
    static func applies(_ g: ConvolutionGeometry) -> Bool {
        !previousPathsOnly && g.kernelHeight == 3 && g.kernelWidth == 3 && g.stride == 1 && g.dilation == 1 && g.groups == 1
            && g.padding <= 2 && Swift.min(g.channels, g.outChannels) >= minimumChannels
            && g.outWidth >= minimumOutputWidth && g.outHeight >= 4
    }

    /// G applied to three filter values (a column or a row of taps): the 6 values
    /// a/4, -(a+b+e)/6, -(a-b+e)/6, a/24 + b/12 + e/6, a/24 - b/12 + e/6, e.
    @inline(__always)
    static func filterTransform(_ a: SIMD16<Float>, _ b: SIMD16<Float>, _ e: SIMD16<Float>)
        -> (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>) {
        let ae = a + e, sixth = SIMD16<Float>(repeating: -1.0 / 6)
        let p = a * SIMD16(repeating: 1.0 / 24) + e * SIMD16(repeating: 1.0 / 6), q = b * SIMD16(repeating: 1.0 / 12)
        return (a * SIMD16(repeating: 0.25), sixth * (ae + b), sixth * (ae - b), p + q, p - q, e)
    }

    /// Bᵀ applied to six input values d0 ... d5 (along a row or down a column).
    @inline(__always)
    static func inputTransform(_ d0: SIMD16<Float>, _ d1: SIMD16<Float>, _ d2: SIMD16<Float>,
                               _ d3: SIMD16<Float>, _ d4: SIMD16<Float>, _ d5: SIMD16<Float>)
        -> (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>) {
        let four = SIMD16<Float>(repeating: 4), two = SIMD16<Float>(repeating: 2)
        let a = d4 - four * d2, b = four * d1 - d3  // rows 1 and 2: a ∓ b
        let c = d4 - d2, e = two * (d3 - d1)        // rows 3 and 4: c ± e
        return (four * (d0 - d2) + c, a - b, a + b, c + e, c - e, four * (d1 - d3) + (d5 - d3))
    }

    /// Aᵀ applied to six values m0 ... m5: the 4 outputs
    /// m0 + m1 + m2 + m3 + m4, m1 - m2 + 2(m3 - m4), m1 + m2 + 4(m3 + m4), m1 - m2 + 8(m3 - m4) + m5.
    @inline(__always)
    static func outputTransform(_ m0: SIMD16<Float>, _ m1: SIMD16<Float>, _ m2: SIMD16<Float>,
                                _ m3: SIMD16<Float>, _ m4: SIMD16<Float>, _ m5: SIMD16<Float>)
        -> (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>) {
        let s = m1 + m2, d = m1 - m2, s2 = m3 + m4, d2 = m3 - m4
        return (m0 + s + s2, d + SIMD16(repeating: 2) * d2, s + SIMD16(repeating: 4) * s2,
                d + SIMD16(repeating: 8) * d2 + m5)
    }

    /// U = G g Gᵀ for every filter of `weight` [O, C, 3, 3], as 36 matrices U_ξ [O, C], packed as
    /// the GEMM's A operand (`winogradTransformedWeight`). The caller deallocates the result.
    static func transformedWeight(_ weight: WinogradWeightSource, outChannels: Int, channels: Int) -> UnsafeMutablePointer<Float> {
        winogradTransformedWeight(WinogradF4x3.self, weight, outChannels: outChannels, channels: channels)
    }

    /// Bᵀ along one zero-padded input row held as 4 phase rows `phaseLd` floats apart
    /// (`WinogradF2x3.splitPhases`: column 4s + q at phase q, slot s): for every tile column t,
    /// the 6 values of Bᵀ applied to row[4t ..< 4t + 6] = (phase 0, 1, 2, 3 at t; phase 0, 1 at
    /// t + 1), written to `h + k * ld` (k = 0 ..< 6). Each phase must be readable to
    /// roundUp(tiles, 16) + 16.
    @inline(__always)
    static func transformRow(_ phases: UnsafePointer<Float>, phaseLd: Int, tiles: Int, into h: UnsafeMutablePointer<Float>, ld: Int) {
        let source = UnsafeRawPointer(phases), target = UnsafeMutableRawPointer(h)
        var t = 0
        while t < tiles {
            @inline(__always) func load(_ phase: Int, _ slot: Int) -> SIMD16<Float> {
                source.loadUnaligned(fromByteOffset: 4 * (phase * phaseLd + slot), as: SIMD16<Float>.self)
            }
            let v = inputTransform(load(0, t), load(1, t), load(2, t), load(3, t), load(0, t + 1), load(1, t + 1))
            target.storeBytes(of: v.0, toByteOffset: 4 * t, as: SIMD16<Float>.self)
            target.storeBytes(of: v.1, toByteOffset: 4 * (ld + t), as: SIMD16<Float>.self)
            target.storeBytes(of: v.2, toByteOffset: 4 * (2 * ld + t), as: SIMD16<Float>.self)
            target.storeBytes(of: v.3, toByteOffset: 4 * (3 * ld + t), as: SIMD16<Float>.self)
            target.storeBytes(of: v.4, toByteOffset: 4 * (4 * ld + t), as: SIMD16<Float>.self)
            target.storeBytes(of: v.5, toByteOffset: 4 * (5 * ld + t), as: SIMD16<Float>.self)
            t += 16
        }
    }

    /// The 64 floats y0[0], y1[0], y2[0], y3[0], y0[1], ...: the 4 values of 16 consecutive tiles
    /// in image order.
    @inline(__always)
    static func interleave(_ y0: SIMD16<Float>, _ y1: SIMD16<Float>, _ y2: SIMD16<Float>, _ y3: SIMD16<Float>) -> SIMD64<Float> {
        // Pairs (y0, y1) and (y2, y3) first, then the pairs taken as 64-bit lanes.
        @inline(__always) func pairs(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Double> {
            unsafeBitCast(SIMD32<Float>(
                a[0], b[0], a[1], b[1], a[2], b[2], a[3], b[3], a[4], b[4], a[5], b[5], a[6], b[6], a[7], b[7],
                a[8], b[8], a[9], b[9], a[10], b[10], a[11], b[11], a[12], b[12], a[13], b[13], a[14], b[14], a[15], b[15]),
                to: SIMD16<Double>.self)
        }
        let p = pairs(y0, y1), q = pairs(y2, y3)
        return unsafeBitCast(SIMD32<Double>(
            p[0], q[0], p[1], q[1], p[2], q[2], p[3], q[3], p[4], q[4], p[5], q[5], p[6], q[6], p[7], q[7],
            p[8], q[8], p[9], q[9], p[10], q[10], p[11], q[11], p[12], q[12], p[13], q[13], p[14], q[14], p[15], q[15]),
            to: SIMD64<Float>.self)
    }
}

/// The input transform V_ξ[c, t] = (Bᵀ d B)_ξ for the tiles of tile rows `rows` of `x` [N, C, H, W]
/// (contiguous), one channel and tile row at a time: Bᵀ along each of the 6 input rows
/// (`transformRow`; the 2 rows shared with the tile row above are kept from it), then down the
/// columns; written into V's packed 32-tile panels.
private func winograd4x4TransformInput(_ xp: UnsafePointer<Float>, geometry g: ConvolutionGeometry, tiling: WinogradTiling,
                                       rows: Range<Int>, buffers: WinogradChunkBuffers) {
    let (channels, tilesWide, rowLd) = (g.channels, tiling.tilesWide, buffers.rowLd)
    let row = buffers.row
    for c in 0..<channels {
        for r in rows {
            let n = r / tiling.tilesHigh, ty = r % tiling.tilesHigh
            let plane = xp + (n * channels + c) * g.height * g.width
            // Padded row 4 ty + k is kept in slot (4 ty + k) % 6 of `horizontal`: the tile row
            // above (just done, same image and channel) left its rows 4 and 5, this one's 0 and 1.
            @inline(__always) func slot(_ k: Int) -> Int { (4 * ty + k) % 6 }
            for k in (r > rows.lowerBound && ty > 0 ? 2 : 0)..<6 {
                // The padded row 4 ty + k: image row 4 ty + k - p (zeros above and below the image),
                // as 4 phase rows.
                let iy = 4 * ty + k - g.padding
                WinogradF2x3.splitPhases(iy >= 0 && iy < g.height ? plane + iy * g.width : nil, count: g.width,
                                         offset: g.padding, phaseCount: 4, into: row, phaseLd: buffers.phaseLd)
                WinogradF4x3.transformRow(row, phaseLd: buffers.phaseLd, tiles: tilesWide,
                                          into: buffers.horizontal + 6 * slot(k) * rowLd, ld: rowLd)
            }
            // Bᵀ down the columns: entry 6i + j from horizontal row 6 slot(k) + j, k = 0 ..< 6.
            let h = UnsafeRawPointer(buffers.horizontal), v = UnsafeMutableRawPointer(buffers.transformed)
            let rowBytes = 4 * rowLd
            for j in 0..<6 {
                let (s0, s1, s2) = ((6 * slot(0) + j) * rowBytes, (6 * slot(1) + j) * rowBytes, (6 * slot(2) + j) * rowBytes)
                let (s3, s4, s5) = ((6 * slot(3) + j) * rowBytes, (6 * slot(4) + j) * rowBytes, (6 * slot(5) + j) * rowBytes)
                var t = 0
                while t < tilesWide {
                    @inline(__always) func load(_ offset: Int) -> SIMD16<Float> {
                        h.loadUnaligned(fromByteOffset: offset + 4 * t, as: SIMD16<Float>.self)
                    }
                    let e = WinogradF4x3.inputTransform(load(s0), load(s1), load(s2), load(s3), load(s4), load(s5))
                    v.storeBytes(of: e.0, toByteOffset: j * rowBytes + 4 * t, as: SIMD16<Float>.self)
                    v.storeBytes(of: e.1, toByteOffset: (6 + j) * rowBytes + 4 * t, as: SIMD16<Float>.self)
                    v.storeBytes(of: e.2, toByteOffset: (12 + j) * rowBytes + 4 * t, as: SIMD16<Float>.self)
                    v.storeBytes(of: e.3, toByteOffset: (18 + j) * rowBytes + 4 * t, as: SIMD16<Float>.self)
                    v.storeBytes(of: e.4, toByteOffset: (24 + j) * rowBytes + 4 * t, as: SIMD16<Float>.self)
                    v.storeBytes(of: e.5, toByteOffset: (30 + j) * rowBytes + 4 * t, as: SIMD16<Float>.self)
                    t += 16
                }
            }
            // Scatter the tile row into V's 32-tile panels (step c of each panel).
            var tile = (r - rows.lowerBound) * tilesWide, done = 0
            while done < tilesWide {
                let lane = tile % GEMM.panelColumns
                let run = Swift.min(tilesWide - done, GEMM.panelColumns - lane)
                let offset = (tile - lane) * channels + c * GEMM.panelColumns + lane
                for xi in 0..<36 {
                    GEMM.copyFloats(buffers.transformed + xi * rowLd + done, to: buffers.v + xi * buffers.vCount + offset, count: run)
                }
                tile += run
                done += run
            }
        }
    }
}

extension WinogradF4x3: WinogradFilterTransform {
    static let entryCount = 36

    /// t = G g down the 3 tap columns (t_i[j] for rows i = 0 ..< 6), then U = t Gᵀ along each row
    /// i of t: entries 6i ..< 6i + 6.
    @inline(__always)
    static func transformFilters(_ taps: WinogradPanelTaps, into u: WinogradPanelStep) {
        @inline(__always) func g(_ t: Int) -> SIMD16<Float> { taps[t] }
        @inline(__always) func put(_ value: SIMD16<Float>, _ xi: Int) { u.put(value, xi) }
        let column0 = filterTransform(g(0), g(3), g(6))
        let column1 = filterTransform(g(1), g(4), g(7))
        let column2 = filterTransform(g(2), g(5), g(8))
        @inline(__always) func row(_ i: Int, _ a: SIMD16<Float>, _ b: SIMD16<Float>, _ e: SIMD16<Float>) {
            let r = filterTransform(a, b, e)
            put(r.0, 6 * i); put(r.1, 6 * i + 1); put(r.2, 6 * i + 2)
            put(r.3, 6 * i + 3); put(r.4, 6 * i + 4); put(r.5, 6 * i + 5)
        }
        row(0, column0.0, column1.0, column2.0)
        row(1, column0.1, column1.1, column2.1)
        row(2, column0.2, column1.2, column2.2)
        row(3, column0.3, column1.3, column2.3)
        row(4, column0.4, column1.4, column2.4)
        row(5, column0.5, column1.5, column2.5)
    }
}

/// `conv2d` of contiguous `x` [N, C, H, W] and `w` [O, C, 3, 3] by Winograd's F(4x4, 3x3)
/// (see the file comment); `g` must satisfy `WinogradF4x3.applies`.
func winograd4x4Conv2d(_ x: Tensor, weight w: WinogradWeight, bias: Tensor?, geometry g: ConvolutionGeometry) -> Tensor {
    precondition(WinogradF4x3.applies(g), "winograd4x4Conv2d: geometry does not apply")
    let output = TensorStorage(uninitializedCount: Swift.max(1, Tensor.elementCount(g.outputShape)))
    let (channels, outChannels) = (g.channels, g.outChannels)
    let tiling = WinogradTiling(g, tileSize: 4, tilesPerChunk: WinogradF4x3.tilesPerChunk)
    let tilesWide = tiling.tilesWide
    let biasValues = bias?.contiguous().scalars ?? [Float](repeating: 0, count: outChannels)
    let u = w.withSource { WinogradF4x3.transformedWeight($0, outChannels: outChannels, channels: channels) }
    defer { u.deallocate() }
    let uCount = WinogradF2x3.paddedOutChannels(outChannels) * channels
    let bufferSets = (0..<tiling.shareCount).map { _ in WinogradChunkBuffers(tileSize: 4, channels: channels, outChannels: outChannels, tiling: tiling) }
    defer { for buffers in bufferSets { buffers.deallocate() } }
    withExtendedLifetime(x) {
        // Read-only inputs; each chunk writes the output rows of its own tile rows, with its
        // thread's own buffers.
        nonisolated(unsafe) let xp = UnsafePointer(x.storage.pointer + x.offset)
        nonisolated(unsafe) let up = UnsafePointer(u)
        nonisolated(unsafe) let out = output.pointer
        nonisolated(unsafe) let sets = bufferSets
        tiling.forEachChunk { rows, innerThreads, share in
            let buffers = sets[share]
            let tiles = rows.count * tilesWide
            let (ld, rowLd) = (buffers.ld, buffers.rowLd)
            winograd4x4TransformInput(xp, geometry: g, tiling: tiling, rows: rows, buffers: buffers)
            // The 36 products M_ξ = U_ξ · V_ξ, both operands read in place as packed panels.
            for xi in 0..<36 {
                GEMM.multiply(m: outChannels, n: tiles, k: channels, alpha: 1,
                              a: PackedMatrix(base: up + xi * uCount, depth: channels),
                              b: PackedMatrix(base: buffers.v + xi * buffers.vCount, depth: channels),
                              beta: 0, c: buffers.m + xi * outChannels * ld, ldc: ld, threads: innerThreads)
            }
            // Output transform Y = Aᵀ M A (+ bias), 16 tiles per step, into 4 image rows.
            let y = UnsafeMutableRawPointer(buffers.outputRows)
            let rowBytes = 16 * rowLd  // one output row: 4 floats per tile
            for o in 0..<outChannels {
                let b = SIMD16<Float>(repeating: biasValues[o])
                for r in rows {
                    let n = r / tiling.tilesHigh, ty = r % tiling.tilesHigh
                    let m0 = UnsafeRawPointer(buffers.m + o * ld + (r - rows.lowerBound) * tilesWide)
                    let stride = 4 * outChannels * ld  // bytes from one ξ to the next
                    var t = 0
                    while t < tilesWide {
                        @inline(__always) func entry(_ xi: Int) -> SIMD16<Float> {
                            m0.loadUnaligned(fromByteOffset: xi * stride + 4 * t, as: SIMD16<Float>.self)
                        }
                        // Aᵀ along each row i of M (entries 6i ..< 6i + 6), then down the columns.
                        @inline(__always) func along(_ i: Int) -> (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>) {
                            WinogradF4x3.outputTransform(entry(6 * i), entry(6 * i + 1), entry(6 * i + 2),
                                                         entry(6 * i + 3), entry(6 * i + 4), entry(6 * i + 5))
                        }
                        let r0 = along(0), r1 = along(1), r2 = along(2), r3 = along(3), r4 = along(4), r5 = along(5)
                        let c0 = WinogradF4x3.outputTransform(r0.0, r1.0, r2.0, r3.0, r4.0, r5.0)
                        let c1 = WinogradF4x3.outputTransform(r0.1, r1.1, r2.1, r3.1, r4.1, r5.1)
                        let c2 = WinogradF4x3.outputTransform(r0.2, r1.2, r2.2, r3.2, r4.2, r5.2)
                        let c3 = WinogradF4x3.outputTransform(r0.3, r1.3, r2.3, r3.3, r4.3, r5.3)
                        // c_j holds column j of the 4 output rows: row a is (c0.a, c1.a, c2.a, c3.a).
                        y.storeBytes(of: WinogradF4x3.interleave(c0.0 + b, c1.0 + b, c2.0 + b, c3.0 + b),
                                     toByteOffset: 16 * t, as: SIMD64<Float>.self)
                        y.storeBytes(of: WinogradF4x3.interleave(c0.1 + b, c1.1 + b, c2.1 + b, c3.1 + b),
                                     toByteOffset: rowBytes + 16 * t, as: SIMD64<Float>.self)
                        y.storeBytes(of: WinogradF4x3.interleave(c0.2 + b, c1.2 + b, c2.2 + b, c3.2 + b),
                                     toByteOffset: 2 * rowBytes + 16 * t, as: SIMD64<Float>.self)
                        y.storeBytes(of: WinogradF4x3.interleave(c0.3 + b, c1.3 + b, c2.3 + b, c3.3 + b),
                                     toByteOffset: 3 * rowBytes + 16 * t, as: SIMD64<Float>.self)
                        t += 16
                    }
                    for a in 0..<4 {
                        let oy = 4 * ty + a
                        if oy >= g.outHeight { break }
                        GEMM.copyFloats(buffers.outputRows + a * 4 * rowLd,
                                        to: out + ((n * outChannels + o) * g.outHeight + oy) * g.outWidth, count: g.outWidth)
                    }
                }
            }
        }
    }
    return Tensor(storage: output, shape: g.outputShape, strides: Tensor.contiguousStrides(g.outputShape))
}
