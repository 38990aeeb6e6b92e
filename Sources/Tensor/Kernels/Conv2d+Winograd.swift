// Winograd convolution F(2x2, 3x3): 3x3, stride-1, undilated, ungrouped convolutions with many channels.
//
// Contract: `winogradConv2d` computes the same function as `conv2d` (PyTorch's `F.conv2d`) for the
// geometries `WinogradF2x3.applies` accepts. Results differ from the direct sum by Float32
// rounding only: the transforms use the constants 0, ±1 and ±1/2, which are exact.
//
// Algorithm (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016, eq. 8,
// built on Winograd's minimal filtering algorithm F(2, 3)): each 2x2 tile Y of one output
// channel is
//   Y = Aᵀ [ Σ_c (G g_c Gᵀ) ⊙ (Bᵀ d_c B) ] A
// where d_c is the 4x4 input patch under the tile in channel c (the tiles' patches overlap by two
// rows and columns), g_c the 3x3 filter from channel c, ⊙ the elementwise product, and
//   Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1],
//   Aᵀ = [1 1 1 0; 0 1 -1 -1].
// Writing U_ξ[o, c] = (G g Gᵀ)_ξ and V_ξ[c, t] = (Bᵀ d B)_ξ for the 16 entries ξ of a 4x4 tile,
// the channel sum becomes 16 independent matrix products M_ξ [O, T] = U_ξ [O, C] · V_ξ [C, T]
// over the tiles t, which run on the packed GEMM: 16 · O · C multiply-adds per 2x2 tile instead
// of the direct method's 4 · 9 · O · C, 2.25x fewer. The tiles are processed in chunks of whole
// tile rows (about `tilesPerChunk` tiles), so the transformed operands stay a few MiB.

/// Winograd's F(2x2, 3x3) for `conv2d`: when it applies, and its transforms.
enum WinogradF2x3 {
    /// Input and output channels from which the transforms cost less than the multiply-adds they save.
    static let minimumChannels = 64
    /// Tiles per chunk: the GEMMs' column count (whole rows of tiles, at least one).
    static let tilesPerChunk = 512

    /// Whether `g` is a 3x3, stride-1, undilated, ungrouped convolution with padding at most 2,
    /// at least `minimumChannels` input and output channels, and outputs wide enough: the
    /// transforms run 16 tiles (32 output columns) per vector step, so their cost per tile
    /// falls with the width, while the products they save grow with the channels: narrow, few-
    /// channel layers lose and wide, many-channel layers win, with 64 channels at 16x16 about
    /// where it starts to pay (figures in docs/benchmarks.md, "Design measurements"); hence
    /// min(C, O) x output width >= 1024. Outputs up to 8x8 take the across-images layout instead
    /// (`appliesAcrossImages`).
    static func applies(_ g: ConvolutionGeometry) -> Bool {
        g.kernelHeight == 3 && g.kernelWidth == 3 && g.stride == 1 && g.dilation == 1 && g.groups == 1
            && g.padding <= 2 && Swift.min(g.channels, g.outChannels) >= minimumChannels
            && Swift.min(g.channels, g.outChannels) * g.outWidth >= 1024
    }

    /// U = G g Gᵀ for every filter of `weight` [O, C, 3, 3], as 16 matrices U_ξ [O, C] (entry
    /// ξ = 4i + j of the 4x4 transform), packed as the GEMM's A operand (`winogradTransformedWeight`).
    /// The caller deallocates the result.
    static func transformedWeight(_ weight: WinogradWeightSource, outChannels: Int, channels: Int) -> UnsafeMutablePointer<Float> {
        winogradTransformedWeight(WinogradF2x3.self, weight, outChannels: outChannels, channels: channels)
    }

    /// The output transform of one tile, 16 lanes at a time: Y = Aᵀ M A with `entry(ξ)` the 16
    /// values of M's entry ξ = 4i + j; returns (Y00, Y01, Y10, Y11), each plus `bias`.
    @inline(__always)
    static func outputTile(bias: SIMD16<Float>, _ entry: (Int) -> SIMD16<Float>)
        -> (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>) {
        // Aᵀ along each row i of M (entries 4i ..< 4i + 4), then along the columns.
        let s00 = entry(0) + entry(1) + entry(2), s10 = entry(1) - entry(2) - entry(3)
        let s01 = entry(4) + entry(5) + entry(6), s11 = entry(5) - entry(6) - entry(7)
        let s02 = entry(8) + entry(9) + entry(10), s12 = entry(9) - entry(10) - entry(11)
        let s03 = entry(12) + entry(13) + entry(14), s13 = entry(13) - entry(14) - entry(15)
        return (s00 + s01 + s02 + bias, s10 + s11 + s12 + bias, s01 - s02 - s03 + bias, s11 - s12 - s13 + bias)
    }

    /// Y = Aᵀ M A (+ `bias`) of output channel `o` for the tiles of tile rows `rows`, written to its
    /// 2x2 output pixels in `out` [N, O, Ho, Wo]: entry ξ of tile t (counted from the first tile of
    /// `rows`) is read at `m + ξ * xiStride + t`. `outputRows` is room for 4 rows of `rowLd` floats.
    static func writeOutputChannel(_ o: Int, bias: Float, m: UnsafePointer<Float>, xiStride: Int, rows: Range<Int>,
                                   tiling: WinogradTiling, geometry g: ConvolutionGeometry,
                                   outputRows: UnsafeMutablePointer<Float>, rowLd: Int, into out: UnsafeMutablePointer<Float>) {
        let (outChannels, tilesWide) = (g.outChannels, tiling.tilesWide)
        let b = SIMD16<Float>(repeating: bias)
        let y = UnsafeMutableRawPointer(outputRows)
        for r in rows {
            let n = r / tiling.tilesHigh, ty = r % tiling.tilesHigh
            let m0 = UnsafeRawPointer(m + (r - rows.lowerBound) * tilesWide)
            let stride = 4 * xiStride  // bytes from one ξ to the next
            var t = 0
            while t < tilesWide {
                let (y00, y01, y10, y11) = WinogradF2x3.outputTile(bias: b) { xi in
                    m0.loadUnaligned(fromByteOffset: xi * stride + 4 * t, as: SIMD16<Float>.self)
                }
                y.storeBytes(of: y00, toByteOffset: 4 * t, as: SIMD16<Float>.self)
                y.storeBytes(of: y01, toByteOffset: 4 * (rowLd + t), as: SIMD16<Float>.self)
                y.storeBytes(of: y10, toByteOffset: 4 * (2 * rowLd + t), as: SIMD16<Float>.self)
                y.storeBytes(of: y11, toByteOffset: 4 * (3 * rowLd + t), as: SIMD16<Float>.self)
                t += 16
            }
            for a in 0..<2 {
                let oy = 2 * ty + a
                if oy >= g.outHeight { break }
                let target = out + ((n * outChannels + o) * g.outHeight + oy) * g.outWidth
                let even = outputRows + 2 * a * rowLd, odd = even + rowLd
                let pairs = g.outWidth / 2
                var t = 0
                while t + 16 <= pairs {
                    let l = UnsafeRawPointer(even).loadUnaligned(fromByteOffset: 4 * t, as: SIMD16<Float>.self)
                    let h = UnsafeRawPointer(odd).loadUnaligned(fromByteOffset: 4 * t, as: SIMD16<Float>.self)
                    let interleaved = SIMD32<Float>(
                        l[0], h[0], l[1], h[1], l[2], h[2], l[3], h[3], l[4], h[4], l[5], h[5], l[6], h[6], l[7], h[7],
                        l[8], h[8], l[9], h[9], l[10], h[10], l[11], h[11], l[12], h[12], l[13], h[13], l[14], h[14], l[15], h[15])
                    UnsafeMutableRawPointer(target).storeBytes(of: interleaved, toByteOffset: 8 * t, as: SIMD32<Float>.self)
                    t += 16
                }
                while t < pairs {
                    target[2 * t] = even[t]
                    target[2 * t + 1] = odd[t]
                    t += 1
                }
                if g.outWidth % 2 == 1 { target[g.outWidth - 1] = even[pairs] }
            }
        }
    }

    /// Output channels rounded up to whole 12-row panels.
    static func paddedOutChannels(_ outChannels: Int) -> Int { GEMM.roundUp(outChannels, to: GEMM.panelRows) }

    /// The 16 products M_ξ [O, tiles] = U_ξ · V_ξ, with U from `transformedWeight` and V stored as
    /// packed B panels (matrix ξ at `v + ξ * vCount`), both read in place; M_ξ is written
    /// row-major at `m + ξ * mCount` with row stride `ldm`.
    static func multiplyTransformed(_ u: UnsafePointer<Float>, outChannels: Int, channels: Int,
                                    v: UnsafePointer<Float>, vCount: Int, tiles: Int,
                                    into m: UnsafeMutablePointer<Float>, mCount: Int, ldm: Int, threads: Int) {
        let uCount = paddedOutChannels(outChannels) * channels
        for xi in 0..<16 {
            GEMM.multiply(m: outChannels, n: tiles, k: channels, alpha: 1,
                          a: PackedMatrix(base: u + xi * uCount, depth: channels),
                          b: PackedMatrix(base: v + xi * vCount, depth: channels),
                          beta: 0, c: m + xi * mCount, ldc: ldm, threads: threads)
        }
    }

    /// ∂L/∂M = A (∂L/∂Y) Aᵀ of one tile, 16 lanes at a time, from its output gradient
    /// [a b; c d] (zeros where the tile passes the output's edge): X = (∂L/∂Y) Aᵀ has rows
    /// [a, a+b, a-b, -b] and [c, c+d, c-d, -d], and A X has rows X0, X0+X1, X0-X1, -X1.
    /// `put(value, ξ)` receives entry ξ = 4i + j.
    @inline(__always)
    static func outputGradientTile(_ a: SIMD16<Float>, _ b: SIMD16<Float>, _ c: SIMD16<Float>, _ d: SIMD16<Float>,
                                   _ put: (SIMD16<Float>, Int) -> Void) {
        let z = SIMD16<Float>()
        let x00 = a, x01 = a + b, x02 = a - b, x03 = z - b
        let x10 = c, x11 = c + d, x12 = c - d, x13 = z - d
        put(x00, 0); put(x01, 1); put(x02, 2); put(x03, 3)
        put(x00 + x10, 4); put(x01 + x11, 5); put(x02 + x12, 6); put(x03 + x13, 7)
        put(x00 - x10, 8); put(x01 - x11, 9); put(x02 - x12, 10); put(x03 - x13, 11)
        put(z - x10, 12); put(z - x11, 13); put(z - x12, 14); put(z - x13, 15)
    }


    /// Copies `count` floats of `source` (zeros when it is nil) to columns `offset ..< offset + count`
    /// of a row stored as `phaseCount` phase rows: column q at `phases[(q % phaseCount) * phaseLd + q / phaseCount]`.
    /// The transforms then read the values at columns m·t + k of 16 tiles t (tile stride m =
    /// `phaseCount`) as one contiguous vector of phase k % m, where a de-interleave of one long
    /// row would cost a shuffle per value (the standard library's generic `evenHalf` is not
    /// vectorized: it took a quarter of an F(2x2, 3x3) convolution's time).
    @inline(__always)
    static func splitPhases(_ source: UnsafePointer<Float>?, count: Int, offset: Int, phaseCount: Int,
                            into phases: UnsafeMutablePointer<Float>, phaseLd: Int) {
        for phase in 0..<phaseCount {
            // Columns x of the source with (x + offset) % phaseCount == phase, read phaseCount apart.
            var x = ((phase - offset) % phaseCount + phaseCount) % phaseCount
            var slot = (x + offset) / phaseCount
            let target = phases + phase * phaseLd
            if let source {
                while x < count { target[slot] = source[x]; x += phaseCount; slot += 1 }
            } else {
                while x < count { target[slot] = 0; x += phaseCount; slot += 1 }
            }
        }
    }

    /// The input transform of one padded row held as even and odd columns (`splitPhases`, 2
    /// phases `phaseLd` apart): for every tile column t, the 4 values of (d Bᵀ-row) with
    /// d = row[2t ..< 2t + 4] = (even[t], odd[t], even[t + 1], odd[t + 1]): h0 = d0 - d2,
    /// h1 = d1 + d2, h2 = d2 - d1, h3 = d1 - d3, written to `h`, `h + ld`, `h + 2 ld`, `h + 3 ld`.
    /// Each phase must be readable to roundUp(tiles, 16) + 16.
    @inline(__always)
    static func transformRow(_ phases: UnsafePointer<Float>, phaseLd: Int, tiles: Int, into h: UnsafeMutablePointer<Float>, ld: Int) {
        let even = UnsafeRawPointer(phases), odd = UnsafeRawPointer(phases + phaseLd), target = UnsafeMutableRawPointer(h)
        var t = 0
        while t < tiles {
            let d0 = even.loadUnaligned(fromByteOffset: 4 * t, as: SIMD16<Float>.self)
            let d1 = odd.loadUnaligned(fromByteOffset: 4 * t, as: SIMD16<Float>.self)
            let d2 = even.loadUnaligned(fromByteOffset: 4 * t + 4, as: SIMD16<Float>.self)
            let d3 = odd.loadUnaligned(fromByteOffset: 4 * t + 4, as: SIMD16<Float>.self)
            target.storeBytes(of: d0 - d2, toByteOffset: 4 * t, as: SIMD16<Float>.self)
            target.storeBytes(of: d1 + d2, toByteOffset: 4 * (ld + t), as: SIMD16<Float>.self)
            target.storeBytes(of: d2 - d1, toByteOffset: 4 * (2 * ld + t), as: SIMD16<Float>.self)
            target.storeBytes(of: d1 - d3, toByteOffset: 4 * (3 * ld + t), as: SIMD16<Float>.self)
            t += 16
        }
    }
}

extension WinogradF2x3: WinogradFilterTransform {
    static let entryCount = 16

    /// t = G g row by row (t0 ... t3), then U = t Gᵀ: row i of t gives entries 4i ..< 4i + 4.
    @inline(__always)
    static func transformFilters(_ taps: WinogradPanelTaps, into u: WinogradPanelStep) {
        @inline(__always) func g(_ t: Int) -> SIMD16<Float> { taps[t] }
        @inline(__always) func put(_ value: SIMD16<Float>, _ xi: Int) { u.put(value, xi) }
        let half = SIMD16<Float>(repeating: 0.5)
        for row in 0..<4 {
            let (a, b, e): (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>)
            switch row {
            case 0: (a, b, e) = (g(0), g(1), g(2))
            case 1: (a, b, e) = (half * (g(0) + g(3) + g(6)), half * (g(1) + g(4) + g(7)), half * (g(2) + g(5) + g(8)))
            case 2: (a, b, e) = (half * (g(0) - g(3) + g(6)), half * (g(1) - g(4) + g(7)), half * (g(2) - g(5) + g(8)))
            default: (a, b, e) = (g(6), g(7), g(8))
            }
            put(a, 4 * row)
            put(half * (a + b + e), 4 * row + 1)
            put(half * (a - b + e), 4 * row + 2)
            put(e, 4 * row + 3)
        }
    }
}

/// The filter transform U = G g Gᵀ of one Winograd algorithm F(m x m, 3x3), applied to the filters
/// of a panel at once, one per vector lane: what `winogradTransformedWeight` needs to know of it.
protocol WinogradFilterTransform: SendableMetatype {
    /// Entries of a transformed filter: (m + 2)².
    static var entryCount: Int { get }
    /// U = G g Gᵀ of the filters whose taps (row-major 3x3) are `g[0] ... g[8]`, one filter per
    /// lane; entry ξ = (m + 2) i + j goes to `u.put(value, ξ)`.
    static func transformFilters(_ g: WinogradPanelTaps, into u: WinogradPanelStep)
}

/// The 9 taps of a panel's filters from one channel: tap t of 16 filters (12 used) as one vector.
struct WinogradPanelTaps {
    /// Tap t of filter l at `taps[GEMM.panelRows * t + l]`, readable 16 floats past the last tap.
    let taps: UnsafePointer<Float>
    /// Tap t of every filter in the panel.
    @inline(__always) subscript(_ t: Int) -> SIMD16<Float> {
        UnsafeRawPointer(taps + GEMM.panelRows * t).loadUnaligned(as: SIMD16<Float>.self)
    }
}

/// Where the transformed entries of a panel's filters from one channel go: step c of the
/// panel in every matrix U_ξ (12 floats each, `count` floats from one matrix to the next).
struct WinogradPanelStep {
    let step: UnsafeMutableRawPointer, count: Int
    /// Writes the 12 used lanes of `value` as entry ξ.
    @inline(__always) func put(_ value: SIMD16<Float>, _ xi: Int) {
        step.storeBytes(of: value.lowHalf, toByteOffset: 4 * xi * count, as: SIMD8<Float>.self)
        step.storeBytes(of: SIMD4(value[8], value[9], value[10], value[11]),
                        toByteOffset: 4 * (xi * count + 8), as: SIMD4<Float>.self)
    }
}

/// U = G g Gᵀ (`T.transformFilters`) for every filter of `weight` [O, C, 3, 3], as `T.entryCount`
/// matrices U_ξ [O, C], each stored packed as the GEMM's A operand (`PackedMatrix`: panels of 12
/// output channels, C steps each, `paddedOutChannels(O) * C` floats per matrix), so every product
/// reads it in place; built by all threads (a share of the panels each). The caller deallocates the result.
func winogradTransformedWeight<T: WinogradFilterTransform>(_: T.Type, _ weight: WinogradWeightSource,
                                                           outChannels: Int, channels: Int) -> UnsafeMutablePointer<Float> {
    let count = WinogradF2x3.paddedOutChannels(outChannels) * channels
    let u = UnsafeMutablePointer<Float>.allocate(capacity: T.entryCount * count)
    let panels = (outChannels + GEMM.panelRows - 1) / GEMM.panelRows
    // The weight is only read; each panel writes its own 12 rows of every U_ξ.
    let source = weight
    nonisolated(unsafe) let target = u
    parallelFor(chunking: panels) { range in
        let scratch = WinogradPanelScratch(source, channels: channels)
        defer { scratch.deallocate() }
        for panelIndex in range {
            let first = panelIndex * GEMM.panelRows
            winogradTransformPanel(T.self, source, first: first, outChannels: outChannels, channels: channels,
                                   scratch: scratch, into: target + first * channels, count: count)
        }
    }
    return u
}

/// A thread's room for transforming one panel of filters: the 9 taps of the panel's 12 filters
/// from one channel (tap t at `taps + 12 t`, with 16 more floats: each tap is read as a whole
/// vector, of which 12 lanes are used), and for a 16-bit weight the panel's filters widened.
struct WinogradPanelScratch {
    let taps: UnsafeMutablePointer<Float>, widened: UnsafeMutablePointer<Float>?

    init(_ source: WinogradWeightSource, channels: Int) {
        taps = .allocate(capacity: 16 * GEMM.panelRows + 16)
        taps.initialize(repeating: 0, count: 16 * GEMM.panelRows + 16)
        widened = source.widensPanels ? .allocate(capacity: GEMM.panelRows * channels * 9 + 16) : nil
    }

    func deallocate() { taps.deallocate(); widened?.deallocate() }
}

/// U = G g Gᵀ (`T.transformFilters`) of the filters `first ..< first + 12` (fewer in the last
/// panel, the missing ones zero) of `weight` [O, C, 3, 3]: entry ξ of channel c's filters goes to
/// the 12 floats at `panel + ξ * count + 12 c` (step c of the panel in matrix U_ξ).
func winogradTransformPanel<T: WinogradFilterTransform>(_: T.Type, _ source: WinogradWeightSource, first: Int,
                                                        outChannels: Int, channels: Int, scratch: WinogradPanelScratch,
                                                        into panel: UnsafeMutablePointer<Float>, count: Int) {
    let taps = scratch.taps
    let filterStride = channels * 9
    let rows = Swift.min(GEMM.panelRows, outChannels - first)
    let panelFilters = source.filters(first, count: rows, filterSize: filterStride, widenedInto: scratch.widened)
    for c in 0..<channels {
        let filters = panelFilters + c * 9
        // A whole vector per filter reads 7 floats past its taps: inside the weight
        // (or the widened panel's 16 floats of room) except for the last filter's last
        // channel of a Float32 weight, which (like a partial panel) is gathered.
        if rows == GEMM.panelRows && (scratch.widened != nil || c + 1 < channels || first + rows < outChannels) {
            GEMM.transposeRows(groups: 3, filters, rowStride: filterStride, into: taps, stepStride: GEMM.panelRows)
        } else {
            for t in 0..<9 {
                for l in 0..<GEMM.panelRows { taps[GEMM.panelRows * t + l] = l < rows ? filters[l * filterStride + t] : 0 }
            }
        }
        // Entry ξ of the 12 filters goes to matrix ξ, step c of the panel (12 floats).
        T.transformFilters(WinogradPanelTaps(taps: taps),
                           into: WinogradPanelStep(step: UnsafeMutableRawPointer(panel + c * GEMM.panelRows), count: count))
    }
}

/// The weight gradients' ∂L/∂U in the Winograd domain: one set of 16 matrices [O, C] per share
/// of chunks (so threads never add into the same memory), each chunk adding
/// ∂L/∂U_ξ += ∂L/∂M_ξ · V_ξᵀ, then summed and taken back to the 3x3 taps.
struct WinogradWeightGradientSums: @unchecked Sendable {
    // @unchecked: share s reads and writes only its own matrices and flag.
    /// The shares' partial sums, `16 * filterCount` floats per share.
    let partials: UnsafeMutablePointer<Float>
    /// Whether a share has not added a chunk yet (its first product overwrites).
    let empty: UnsafeMutablePointer<Bool>
    let shares: Int, filterCount: Int, geometry: ConvolutionGeometry

    init(shares: Int, geometry g: ConvolutionGeometry) {
        self.shares = shares
        geometry = g
        filterCount = g.outChannels * g.channels
        partials = .allocate(capacity: shares * 16 * filterCount)
        empty = .allocate(capacity: shares)
        empty.initialize(repeating: true, count: shares)
    }

    /// ∂L/∂U_ξ += ∂L/∂M_ξ [O, tiles] · V_ξᵀ [tiles, C] into `share`'s sums, for the 16 ξ:
    /// ∂L/∂M_ξ row-major at `m + ξ * mCount` (row stride `mStride`), V_ξ row-major [C, tiles]
    /// at `v + ξ * vCount` (row stride `vStride`).
    func add(share: Int, tiles: Int, m: UnsafePointer<Float>, mCount: Int, mStride: Int,
             v: UnsafePointer<Float>, vCount: Int, vStride: Int, threads: Int) {
        let target = partials + share * 16 * filterCount
        for xi in 0..<16 {
            GEMM.multiply(m: geometry.outChannels, n: geometry.channels, k: tiles, alpha: 1,
                          a: StridedMatrix(m + xi * mCount, rowStride: mStride, columnStride: 1),
                          b: StridedMatrix(v + xi * vCount, rowStride: 1, columnStride: vStride),
                          beta: empty[share] ? 0 : 1, c: target + xi * filterCount, ldc: geometry.channels,
                          threads: threads)
        }
        empty[share] = false
    }

    /// Sums the shares into the first, then ∂L/∂g = Gᵀ (∂L/∂U) G per filter, with
    /// Gᵀ = [1 ½ ½ 0; 0 ½ -½ 0; 0 ½ ½ 1]; frees the sums.
    func gradient() -> Tensor {
        defer { partials.deallocate(); empty.deallocate() }
        let g = geometry
        let gradWeight = TensorStorage(uninitializedCount: Swift.max(1, Tensor.elementCount(g.weightShape)))
        for share in 1..<Swift.max(1, shares) {
            let source = partials + share * 16 * filterCount
            for index in 0..<(16 * filterCount) { partials[index] += source[index] }
        }
        for filter in 0..<filterCount {
            @inline(__always) func u(_ xi: Int) -> Float { partials[xi * filterCount + filter] }
            let target = gradWeight.pointer + filter * 9
            // T = Gᵀ (∂L/∂U): its rows are u_row0 + ½(u_row1 + u_row2), ½(u_row1 - u_row2) and
            // ½(u_row1 + u_row2) + u_row3; then each row w of T gives w0 + ½(w1 + w2), ½(w1 - w2), ½(w1 + w2) + w3.
            for i in 0..<3 {
                var w = SIMD4<Float>()
                for j in 0..<4 {
                    let (u0, u1, u2, u3) = (u(j), u(4 + j), u(8 + j), u(12 + j))
                    switch i {
                    case 0: w[j] = u0 + 0.5 * (u1 + u2)
                    case 1: w[j] = 0.5 * (u1 - u2)
                    default: w[j] = 0.5 * (u1 + u2) + u3
                    }
                }
                target[3 * i] = w[0] + 0.5 * (w[1] + w[2])
                target[3 * i + 1] = 0.5 * (w[1] - w[2])
                target[3 * i + 2] = 0.5 * (w[1] + w[2]) + w[3]
            }
        }
        return Tensor(storage: gradWeight, shape: g.weightShape, strides: Tensor.contiguousStrides(g.weightShape))
    }
}

/// How a convolution's output is cut into square tiles (2x2 for F(2x2, 3x3), 4x4 for F(4x4, 3x3))
/// and the tiles into chunks of whole tile rows (tile row r is row r % tilesHigh of image r / tilesHigh).
struct WinogradTiling {
    let tilesHigh: Int, tilesWide: Int, tileRows: Int, rowsPerChunk: Int, chunkCount: Int, maxTiles: Int

    /// `splitsAcrossThreads`: false keeps every tile row in one chunk when they fit `tilesPerChunk`
    /// (for `winogradConv2dByPanels`, whose threads share the output channels instead).
    init(_ g: ConvolutionGeometry, tileSize: Int = 2, tilesPerChunk: Int = WinogradF2x3.tilesPerChunk,
         splitsAcrossThreads: Bool = true) {
        tilesHigh = (g.outHeight + tileSize - 1) / tileSize
        tilesWide = (g.outWidth + tileSize - 1) / tileSize
        tileRows = g.batch * tilesHigh
        // About `tilesPerChunk` tiles per chunk; but one chunk per thread when that leaves each
        // at least `minimumSplitTiles` (two 32-tile panels): a chunk's transforms run on one thread,
        // so a single chunk would leave the other threads idle outside the products.
        let threads = Parallel.threadCount
        var rows = Swift.max(1, tilesPerChunk / tilesWide)
        let split = (tileRows + threads - 1) / threads
        if splitsAcrossThreads && !WinogradF4x3.previousPathsOnly && threads > 1 && rows > split && split * tilesWide >= WinogradTiling.minimumSplitTiles {
            rows = split
        }
        rowsPerChunk = rows
        chunkCount = (tileRows + rowsPerChunk - 1) / rowsPerChunk
        maxTiles = Swift.min(rowsPerChunk, tileRows) * tilesWide
    }

    /// Tiles in all (every tile row of every image).
    var tileCount: Int { tileRows * tilesWide }

    /// The fewest tiles per chunk when the chunks are made smaller to give every thread one.
    static let minimumSplitTiles = 64

    /// The tile rows of chunk `index`.
    func rows(ofChunk index: Int) -> Range<Int> {
        (index * rowsPerChunk)..<Swift.min(tileRows, (index + 1) * rowsPerChunk)
    }

    /// How many shares `forEachChunk` uses: every thread when there are at least as many chunks
    /// as threads, else one.
    var shareCount: Int {
        let threads = Parallel.threadCount
        return threads > 1 && chunkCount >= threads ? threads : 1
    }

    /// Runs `body(chunk rows, inner GEMM threads, share)` for every chunk: with `shareCount` > 1
    /// each thread takes a contiguous share of the chunks (one GEMM thread each); otherwise the
    /// chunks run one after the other with every thread inside the products.
    func forEachChunk(_ body: @Sendable (Range<Int>, Int, Int) -> Void) {
        let threads = Parallel.threadCount
        if shareCount > 1 {
            parallelFor(threads) { share in
                for index in (share * chunkCount / threads)..<((share + 1) * chunkCount / threads) {
                    body(rows(ofChunk: index), 1, share)
                }
            }
            return
        }
        for index in 0..<chunkCount { body(rows(ofChunk: index), threads, 0) }
    }
}

/// The buffers of one chunk of tiles of F(m x m, 3x3) (m = `tileSize`, 2 or 4; n = (m + 2)² entries).
/// Rows are padded so 16-wide vector loops may run past the last tile (into padding, or into
/// places the next tile row rewrites).
struct WinogradChunkBuffers {
    /// V: n matrices [C, tiles], stored packed as the GEMM's B operand (panels of 32 tiles,
    /// `vCount` floats per matrix) or row-major with row length `ld`.
    let v: UnsafeMutablePointer<Float>
    /// M (or ∂L/∂M): n matrices [O, ld].
    let m: UnsafeMutablePointer<Float>
    /// One zero-padded input row as m phase rows (`splitPhases`, `phaseLd` floats apart); the
    /// horizontal transforms of a tile row's m + 2 input rows; its n transformed rows before they
    /// go to V; the tile row's m output rows (m floats per tile each).
    let row: UnsafeMutablePointer<Float>, horizontal: UnsafeMutablePointer<Float>
    let transformed: UnsafeMutablePointer<Float>, outputRows: UnsafeMutablePointer<Float>
    /// Row length of M (and row-major V); of the per-row buffers (in tiles); floats per matrix of V.
    let ld: Int, rowLd: Int, vCount: Int
    /// Floats from one phase row of `row` to the next.
    var phaseLd: Int { rowLd + 16 }

    init(tileSize: Int, channels: Int, outChannels: Int, tiling: WinogradTiling) {
        let entries = (tileSize + 2) * (tileSize + 2)
        ld = tiling.maxTiles + 16
        rowLd = GEMM.roundUp(tiling.tilesWide, to: 16)
        vCount = Swift.max(GEMM.roundUp(tiling.maxTiles, to: GEMM.panelColumns), ld) * channels
        v = .allocate(capacity: entries * vCount)
        m = .allocate(capacity: entries * outChannels * ld)
        row = .allocate(capacity: tileSize * (rowLd + 16) + 16)
        row.initialize(repeating: 0, count: tileSize * (rowLd + 16) + 16)
        horizontal = .allocate(capacity: entries * rowLd)
        transformed = .allocate(capacity: entries * rowLd)
        outputRows = .allocate(capacity: tileSize * tileSize * rowLd)
    }

    func deallocate() {
        v.deallocate(); m.deallocate(); row.deallocate(); horizontal.deallocate()
        transformed.deallocate(); outputRows.deallocate()
    }
}

/// The input transform V_ξ[c, t] = (Bᵀ d B)_ξ for the tiles of tile rows `rows` of `x` [N, C, H, W]
/// (contiguous), one channel and tile row at a time: Bᵀ along each of the 4 input rows
/// (`transformRow`; the 2 rows shared with the tile row above are kept from it), then along the
/// columns. Written packed as the GEMM's B operand, or row-major. `channels` limits it to some
/// channels; `scratch` then gives the calling thread's own row buffers (V is `buffers`').
func winogradTransformInput(_ xp: UnsafePointer<Float>, geometry g: ConvolutionGeometry, tiling: WinogradTiling,
                                    rows: Range<Int>, buffers: WinogradChunkBuffers, packed: Bool,
                                    channels channelRange: Range<Int>? = nil, scratch: WinogradChunkBuffers? = nil) {
    let (channels, tilesWide, rowLd) = (g.channels, tiling.tilesWide, buffers.rowLd)
    let work = scratch ?? buffers
    let row = work.row
    for c in channelRange ?? 0..<channels {
        for r in rows {
            let n = r / tiling.tilesHigh, ty = r % tiling.tilesHigh
            let plane = xp + (n * channels + c) * g.height * g.width
            // Padded row 2 ty + k is kept in slot (2 ty + k) % 4 of `horizontal`: the tile row
            // above (just done, same image and channel) left its rows 2 and 3, this one's 0 and 1.
            @inline(__always) func slot(_ k: Int) -> Int { (2 * ty + k) % 4 }
            for k in (r > rows.lowerBound && ty > 0 ? 2 : 0)..<4 {
                // The padded row 2 ty + k: image row 2 ty + k - p (zeros above and below the image),
                // as its even and odd columns.
                let iy = 2 * ty + k - g.padding
                WinogradF2x3.splitPhases(iy >= 0 && iy < g.height ? plane + iy * g.width : nil, count: g.width,
                                         offset: g.padding, phaseCount: 2, into: row, phaseLd: buffers.phaseLd)
                WinogradF2x3.transformRow(row, phaseLd: buffers.phaseLd, tiles: tilesWide,
                                          into: work.horizontal + 4 * slot(k) * rowLd, ld: rowLd)
            }
            for j in 0..<4 {
                let h = UnsafeRawPointer(work.horizontal + j * rowLd)
                let v0 = UnsafeMutableRawPointer(work.transformed + j * rowLd)
                let stride = 16 * rowLd  // bytes from one slot to the next (4 floats rows apart)
                let (s0, s1, s2, s3) = (slot(0) * stride, slot(1) * stride, slot(2) * stride, slot(3) * stride)
                var t = 0
                while t < tilesWide {
                    let e0 = h.loadUnaligned(fromByteOffset: s0 + 4 * t, as: SIMD16<Float>.self)
                    let e1 = h.loadUnaligned(fromByteOffset: s1 + 4 * t, as: SIMD16<Float>.self)
                    let e2 = h.loadUnaligned(fromByteOffset: s2 + 4 * t, as: SIMD16<Float>.self)
                    let e3 = h.loadUnaligned(fromByteOffset: s3 + 4 * t, as: SIMD16<Float>.self)
                    v0.storeBytes(of: e0 - e2, toByteOffset: 4 * t, as: SIMD16<Float>.self)
                    v0.storeBytes(of: e1 + e2, toByteOffset: stride + 4 * t, as: SIMD16<Float>.self)
                    v0.storeBytes(of: e2 - e1, toByteOffset: 2 * stride + 4 * t, as: SIMD16<Float>.self)
                    v0.storeBytes(of: e1 - e3, toByteOffset: 3 * stride + 4 * t, as: SIMD16<Float>.self)
                    t += 16
                }
            }
            let firstTile = (r - rows.lowerBound) * tilesWide
            if !packed {
                for xi in 0..<16 {
                    GEMM.copyFloats(work.transformed + xi * rowLd,
                                    to: buffers.v + xi * buffers.vCount + c * buffers.ld + firstTile, count: tilesWide)
                }
                continue
            }
            // Scatter the tile row into V's 32-tile panels (step c of each panel).
            var tile = firstTile, done = 0
            while done < tilesWide {
                let lane = tile % GEMM.panelColumns
                let run = Swift.min(tilesWide - done, GEMM.panelColumns - lane)
                let offset = (tile - lane) * channels + c * GEMM.panelColumns + lane
                for xi in 0..<16 {
                    GEMM.copyFloats(work.transformed + xi * rowLd + done,
                                    to: buffers.v + xi * buffers.vCount + offset, count: run)
                }
                tile += run
                done += run
            }
        }
    }
}

/// `conv2d` of contiguous `x` [N, C, H, W] and `w` [O, C, 3, 3] by Winograd's F(2x2, 3x3)
/// (see the file comment); `g` must satisfy `WinogradF2x3.applies`.
func winogradConv2d(_ x: Tensor, weight w: WinogradWeight, bias: Tensor?, geometry g: ConvolutionGeometry) -> Tensor {
    precondition(WinogradF2x3.applies(g), "winogradConv2d: geometry does not apply")
    if WinogradF2x3.usesPanels(g) { return winogradConv2dByPanels(x, weight: w, bias: bias, geometry: g) }
    let output = TensorStorage(uninitializedCount: Swift.max(1, Tensor.elementCount(g.outputShape)))
    let (channels, outChannels) = (g.channels, g.outChannels)
    let tiling = WinogradTiling(g)
    let tilesWide = tiling.tilesWide
    let biasValues = bias?.contiguous().scalars ?? [Float](repeating: 0, count: outChannels)
    let u = w.withSource { WinogradF2x3.transformedWeight($0, outChannels: outChannels, channels: channels) }
    defer { u.deallocate() }
    let bufferSets = (0..<tiling.shareCount).map { _ in WinogradChunkBuffers(tileSize: 2, channels: channels, outChannels: outChannels, tiling: tiling) }
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
            winogradTransformInput(xp, geometry: g, tiling: tiling, rows: rows, buffers: buffers, packed: true)
            // The 16 products M_ξ = U_ξ · V_ξ, both operands read in place as packed panels.
            WinogradF2x3.multiplyTransformed(up, outChannels: outChannels, channels: channels, v: buffers.v,
                                             vCount: buffers.vCount, tiles: tiles, into: buffers.m,
                                             mCount: outChannels * ld, ldm: ld, threads: innerThreads)
            // Output transform Y = Aᵀ M A (+ bias), written to the tiles' 2x2 output pixels.
            for o in 0..<outChannels {
                WinogradF2x3.writeOutputChannel(o, bias: biasValues[o], m: buffers.m + o * ld, xiStride: outChannels * ld,
                                                rows: rows, tiling: tiling, geometry: g, outputRows: buffers.outputRows,
                                                rowLd: rowLd, into: out)
            }
        }
    }
    return Tensor(storage: output, shape: g.outputShape, strides: Tensor.contiguousStrides(g.outputShape))
}

/// The weight gradient of a convolution `WinogradF2x3.applies` to, in the Winograd domain.
/// The forward pass is M_ξ = U_ξ V_ξ and Y = Aᵀ M A per tile with U = G g Gᵀ, all linear, so
///   ∂L/∂M = A (∂L/∂Y) Aᵀ per tile,  ∂L/∂U_ξ = Σ_t ∂L/∂M_ξ[:, t] V_ξ[:, t]ᵀ,  ∂L/∂g = Gᵀ (∂L/∂U) G,
/// i.e. 16 products [O, T] · [T, C] summed over the chunks of tiles (each thread into its own
/// partial sums), then one small transform per filter.
func winogradConv2dBackwardWeight(_ dy: Tensor, input x: Tensor, geometry g: ConvolutionGeometry) -> Tensor {
    precondition(WinogradF2x3.applies(g), "winogradConv2dBackwardWeight: geometry does not apply")
    let (channels, outChannels) = (g.channels, g.outChannels)
    let tiling = WinogradTiling(g)
    let tilesWide = tiling.tilesWide
    let shares = tiling.shareCount
    let sums = WinogradWeightGradientSums(shares: shares, geometry: g)
    let bufferSets = (0..<shares).map { _ in WinogradChunkBuffers(tileSize: 2, channels: channels, outChannels: outChannels, tiling: tiling) }
    defer { for buffers in bufferSets { buffers.deallocate() } }
    withExtendedLifetime((x, dy)) {
        // Read-only inputs; each share accumulates into its own 16 x O x C partial sums.
        nonisolated(unsafe) let xp = UnsafePointer(x.storage.pointer + x.offset)
        nonisolated(unsafe) let dyp = UnsafePointer(dy.storage.pointer + dy.offset)
        nonisolated(unsafe) let sets = bufferSets
        tiling.forEachChunk { rows, innerThreads, share in
            let buffers = sets[share]
            let tiles = rows.count * tilesWide
            let (ld, rowLd) = (buffers.ld, buffers.rowLd)
            winogradTransformInput(xp, geometry: g, tiling: tiling, rows: rows, buffers: buffers, packed: false)
            // ∂L/∂M = A (∂L/∂Y) Aᵀ (`outputGradientTile`), 16 tiles of a tile row at a time.
            let row = buffers.transformed  // free once V is written
            for o in 0..<outChannels {
                for r in rows {
                    let n = r / tiling.tilesHigh, ty = r % tiling.tilesHigh
                    // The tile row's two gradient rows, zero past the output, split into even and odd columns.
                    for a in 0..<2 {
                        let oy = 2 * ty + a
                        let target = buffers.outputRows + 2 * a * rowLd
                        if oy >= g.outHeight {
                            target.update(repeating: 0, count: 2 * rowLd)
                            continue
                        }
                        row.update(from: dyp + ((n * outChannels + o) * g.outHeight + oy) * g.outWidth, count: g.outWidth)
                        row[g.outWidth] = 0
                        var t = 0
                        while t < tilesWide {
                            let pair = UnsafeRawPointer(row).loadUnaligned(fromByteOffset: 8 * t, as: SIMD32<Float>.self)
                            UnsafeMutableRawPointer(target).storeBytes(of: pair.evenHalf, toByteOffset: 4 * t, as: SIMD16<Float>.self)
                            UnsafeMutableRawPointer(target).storeBytes(of: pair.oddHalf, toByteOffset: 4 * (rowLd + t), as: SIMD16<Float>.self)
                            t += 16
                        }
                    }
                    let source = UnsafeRawPointer(buffers.outputRows)
                    let m0 = UnsafeMutableRawPointer(buffers.m + o * ld + (r - rows.lowerBound) * tilesWide)
                    let stride = 4 * outChannels * ld  // bytes from one ξ to the next
                    var t = 0
                    while t < tilesWide {
                        let a = source.loadUnaligned(fromByteOffset: 4 * t, as: SIMD16<Float>.self)
                        let b = source.loadUnaligned(fromByteOffset: 4 * (rowLd + t), as: SIMD16<Float>.self)
                        let c = source.loadUnaligned(fromByteOffset: 4 * (2 * rowLd + t), as: SIMD16<Float>.self)
                        let d = source.loadUnaligned(fromByteOffset: 4 * (3 * rowLd + t), as: SIMD16<Float>.self)
                        WinogradF2x3.outputGradientTile(a, b, c, d) { value, xi in
                            m0.storeBytes(of: value, toByteOffset: xi * stride + 4 * t, as: SIMD16<Float>.self)
                        }
                        t += 16
                    }
                }
            }
            // ∂L/∂U_ξ += ∂L/∂M_ξ · V_ξᵀ.
            sums.add(share: share, tiles: tiles, m: buffers.m, mCount: outChannels * ld, mStride: ld,
                     v: buffers.v, vCount: buffers.vCount, vStride: ld, threads: innerThreads)
        }
    }
    return sums.gradient()
}


/// A convolution weight [O, C, 3, 3] as the Winograd paths take it: Float32, or 16 bits as
/// stored (a model loaded in Float16/BFloat16), which the weight transform widens one panel of
/// 12 filters at a time instead of the whole weight being widened into a Float32 copy first.
enum WinogradWeight {
    /// A Float32 weight.
    case float(Tensor)
    /// A 16-bit weight, read as stored.
    case halfPrecision(HalfPrecisionTensor)

    /// `body` with a source reading the weight, valid only during the call.
    func withSource<R>(_ body: (WinogradWeightSource) -> R) -> R {
        switch self {
        case .float(let w):
            let contiguous = w.contiguous()
            return contiguous.withUnsafeBufferPointer { body(.float($0.baseAddress!)) }
        case .halfPrecision(let w):
            return w.withUnsafeBytes { body(.halfPrecision($0.baseAddress!, w.format)) }
        }
    }
}

/// Where a Winograd weight transform reads the filters from (see `WinogradWeight`).
enum WinogradWeightSource: @unchecked Sendable {
    // @unchecked: the transforms only read through the pointer, while the owner is kept alive.
    /// Contiguous Float32 filters.
    case float(UnsafePointer<Float>)
    /// Contiguous 16-bit filters of the given format.
    case halfPrecision(UnsafeRawPointer, HalfPrecisionTensor.Format)

    /// Whether `filters` needs a buffer to widen into.
    var widensPanels: Bool { if case .halfPrecision = self { true } else { false } }

    /// Filters `first ..< first + count`, each `filterSize` floats: in place for Float32, widened
    /// into `buffer` (room for `count * filterSize + 16` floats; the 16 are zeroed so whole-vector
    /// reads past the last tap stay defined) for 16 bits.
    func filters(_ first: Int, count: Int, filterSize: Int, widenedInto buffer: UnsafeMutablePointer<Float>?) -> UnsafePointer<Float> {
        switch self {
        case .float(let p):
            return p + first * filterSize
        case .halfPrecision(let bytes, let format):
            let target = buffer!
            HalfPrecisionTensor.widen(bytes + 2 * first * filterSize, format: format, into: target, count: count * filterSize)
            (target + count * filterSize).update(repeating: 0, count: 16)
            return UnsafePointer(target)
        }
    }
}
