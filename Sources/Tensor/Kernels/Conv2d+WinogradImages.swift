// Winograd F(2x2, 3x3) for small images (outputs at most 8 x 8), vectorized across images.
//
// Contract: `winogradImagesConv2d` computes the same function as `conv2d` for the geometries
// `WinogradF2x3.appliesAcrossImages` accepts, with the algorithm of Conv2d+Winograd.swift
// (Lavin & Gray 2016): M_ξ = U_ξ · V_ξ over the tiles, Y = Aᵀ M A per tile.
//
// Why a second layout: with images 4 or 8 wide a row has 2 or 4 tiles, so transforms that run 16
// tiles of one row per vector step waste most lanes. Here a vector holds the same tile of 16
// images instead: each chunk of images is first copied to a zero-padded [C, Hp, Wp, images]
// layout (images innermost), so the 16 values of one input position are contiguous, and tile
// column t = tile · images + image puts 16 consecutive images at 16 consecutive columns of
// V_ξ, which is written straight into the GEMM's packed panels. Chunks hold a multiple of 16
// images (the last one padded with zero images whose outputs are not written). The output transform writes
// its 2x2 values image by image (a scatter of 4 floats per image and channel).

extension WinogradF2x3 {
    /// Whether `g` suits the across-images layout: the conditions of the row layout but for the
    /// width (outputs at most 8 x 8 here, where rows of tiles are too short to vectorize), and a
    /// batch that fills at least half of the padded images: the products run over whole chunks of
    /// 16 images, so a batch of 2 (Stable Diffusion's guided call at 8 x 8) would multiply 8x the
    /// tiles it needs; small batches take the row layout or the direct kernels instead.
    /// (`SWIFTDIFFUSION_WINOGRAD=2x2` drops the batch condition, as before it existed.)
    static func appliesAcrossImages(_ g: ConvolutionGeometry) -> Bool {
        g.kernelHeight == 3 && g.kernelWidth == 3 && g.stride == 1 && g.dilation == 1 && g.groups == 1
            && g.padding <= 2 && Swift.min(g.channels, g.outChannels) >= minimumChannels
            && g.outWidth <= 8 && g.outHeight <= 8
            && (WinogradF4x3.previousPathsOnly || 2 * g.batch >= WinogradImagesTiling.paddedBatch(g))
    }
}

/// How a batch is cut into chunks of images for the across-images layout: each chunk holds a
/// multiple of 16 images (whole vectors, so a vector never straddles a 32-column panel), about
/// `tilesPerChunk` tile columns, but no more than a thread's share of the batch (so small batches
/// still split between threads and pad at most 15 images).
struct WinogradImagesTiling {
    let tilesWide: Int, tilesPerImage: Int, paddedHeight: Int, paddedWidth: Int
    /// Images per chunk, how many chunks, and tile columns per chunk (chunkImages · tilesPerImage).
    let chunkImages: Int, chunkCount: Int, tiles: Int
    /// Floats of one chunk's images-innermost copy [C, Hp, Wp, chunkImages].
    let transposedCount: Int
    /// The convolution's sizes.
    let geometry: ConvolutionGeometry

    init(_ g: ConvolutionGeometry) {
        geometry = g
        let tilesHigh = (g.outHeight + 1) / 2
        tilesWide = (g.outWidth + 1) / 2
        tilesPerImage = tilesHigh * tilesWide
        (paddedHeight, paddedWidth) = (2 * tilesHigh + 2, 2 * tilesWide + 2)
        chunkImages = WinogradImagesTiling.chunkImages(g, tilesPerImage: tilesPerImage)
        chunkCount = (g.batch + chunkImages - 1) / chunkImages
        tiles = chunkImages * tilesPerImage
        transposedCount = g.channels * paddedHeight * paddedWidth * chunkImages
    }

    /// Images per chunk: a multiple of 16 with about `tilesPerChunk` tile columns, at most a
    /// thread's share of the batch rounded up to 16.
    static func chunkImages(_ g: ConvolutionGeometry, tilesPerImage: Int) -> Int {
        let threads = Parallel.threadCount
        let share = GEMM.roundUp((g.batch + threads - 1) / threads, to: 16)
        return Swift.max(16, Swift.min(16 * Swift.max(1, WinogradF2x3.tilesPerChunk / (16 * tilesPerImage)), share))
    }

    /// The batch the products run over: whole chunks, the last one padded with zero images.
    static func paddedBatch(_ g: ConvolutionGeometry) -> Int {
        let tilesPerImage = ((g.outHeight + 1) / 2) * ((g.outWidth + 1) / 2)
        let images = chunkImages(g, tilesPerImage: tilesPerImage)
        return (g.batch + images - 1) / images * images
    }

    /// How many shares `forEachChunk` uses: every thread when there are at least as many chunks
    /// as threads, else one.
    var shareCount: Int {
        let threads = Parallel.threadCount
        return threads > 1 && chunkCount >= threads ? threads : 1
    }

    /// Runs `body(chunk index, share, inner GEMM threads)` for every chunk: with `shareCount` > 1
    /// each thread takes a contiguous share of the chunks (one GEMM thread each); otherwise the
    /// chunks run one after the other with every thread inside the products.
    func forEachChunk(_ body: @Sendable (Int, Int, Int) -> Void) {
        let threads = Parallel.threadCount
        if shareCount > 1 {
            parallelFor(threads) { share in
                for index in (share * chunkCount / threads)..<((share + 1) * chunkCount / threads) { body(index, share, 1) }
            }
            return
        }
        for index in 0..<chunkCount { body(index, 0, threads) }
    }

    /// Floats of one share's scratch: the images-innermost copy, then V (16 matrices `vCount`
    /// floats apart: packed panels padded to whole 32-column panels, or row-major [C, tiles]),
    /// then M or ∂L/∂M (16 matrices [O, tiles], `mCount` floats apart).
    func scratchSizes(packed: Bool) -> (vCount: Int, mCount: Int, setCount: Int) {
        let vCount = geometry.channels * (packed ? GEMM.roundUp(tiles, to: GEMM.panelColumns) : tiles)
        let mCount = geometry.outChannels * tiles
        return (vCount, mCount, transposedCount + 16 * (vCount + mCount))
    }

    /// Chunk `index` of `xp` copied to the images-innermost layout at `scratch` and transformed
    /// into V right after it (`scratchSizes`); returns the chunk's first image and image count.
    func loadChunk(_ index: Int, of xp: UnsafePointer<Float>, into scratch: UnsafeMutablePointer<Float>,
                   vCount: Int, packed: Bool) -> (first: Int, count: Int) {
        let first = index * chunkImages, count = Swift.min(chunkImages, geometry.batch - first)
        transpose(xp, first: first, count: count, into: scratch)
        transformInput(scratch, into: scratch + transposedCount, vCount: vCount, packed: packed)
        return (first, count)
    }

    /// Copies images `first ..< first + count` of `xp` (contiguous [N, C, H, W]) to `xt`, images
    /// innermost and zero-padded: [C, Hp, Wp, chunkImages], zero lanes past the batch.
    func transpose(_ xp: UnsafePointer<Float>, first: Int, count: Int, into xt: UnsafeMutablePointer<Float>) {
        let g = geometry, p = g.padding
        xt.initialize(repeating: 0, count: transposedCount)
        for slot in 0..<count {
            let image = xp + (first + slot) * g.channels * g.height * g.width
            for c in 0..<g.channels {
                for y in 0..<g.height {
                    let row = xt + ((c * paddedHeight + y + p) * paddedWidth + p) * chunkImages + slot
                    let source = image + (c * g.height + y) * g.width
                    for column in 0..<g.width { row[column * chunkImages] = source[column] }
                }
            }
        }
    }

    /// V = Bᵀ d B of the chunk in `xt` for 16 images at a time, into 16 matrices [C, tiles]
    /// `vCount` floats apart; tile column t = tile · chunkImages + image. `packed`: as the GEMM's
    /// B panels (column t of channel c at (t / 32) · C · 32 + c · 32 + t % 32, where t % 32 is 0
    /// or 16); otherwise row-major (c · tiles + t).
    func transformInput(_ xt: UnsafePointer<Float>, into v: UnsafeMutablePointer<Float>, vCount: Int, packed: Bool) {
        let channels = geometry.channels
        for c in 0..<channels {
            for tile in 0..<tilesPerImage {
                let (ty, tx) = (tile / tilesWide, tile % tilesWide)
                let corner = UnsafeRawPointer(xt + ((c * paddedHeight + 2 * ty) * paddedWidth + 2 * tx) * chunkImages)
                var lane = 0
                while lane < chunkImages {
                    @inline(__always) func d(_ i: Int, _ j: Int) -> SIMD16<Float> {
                        corner.loadUnaligned(fromByteOffset: ((i * paddedWidth + j) * chunkImages + lane) * 4,
                                             as: SIMD16<Float>.self)
                    }
                    let column = tile * chunkImages + lane
                    let offset = packed ? (column / 32) * channels * 32 + c * 32 + column % 32 : c * tiles + column
                    let target = UnsafeMutableRawPointer(v + offset)
                    // Bᵀ d, column by column: c_j holds rows (d0 - d2, d1 + d2, d2 - d1, d1 - d3) of column j.
                    let c0 = (d(0, 0) - d(2, 0), d(1, 0) + d(2, 0), d(2, 0) - d(1, 0), d(1, 0) - d(3, 0))
                    let c1 = (d(0, 1) - d(2, 1), d(1, 1) + d(2, 1), d(2, 1) - d(1, 1), d(1, 1) - d(3, 1))
                    let c2 = (d(0, 2) - d(2, 2), d(1, 2) + d(2, 2), d(2, 2) - d(1, 2), d(1, 2) - d(3, 2))
                    let c3 = (d(0, 3) - d(2, 3), d(1, 3) + d(2, 3), d(2, 3) - d(1, 3), d(1, 3) - d(3, 3))
                    @inline(__always) func put(_ value: SIMD16<Float>, _ xi: Int) {
                        target.storeBytes(of: value, toByteOffset: xi * vCount * 4, as: SIMD16<Float>.self)
                    }
                    // Row i of Bᵀ d is (c0.i, c1.i, c2.i, c3.i); then · B along it.
                    put(c0.0 - c2.0, 0); put(c1.0 + c2.0, 1); put(c2.0 - c1.0, 2); put(c1.0 - c3.0, 3)
                    put(c0.1 - c2.1, 4); put(c1.1 + c2.1, 5); put(c2.1 - c1.1, 6); put(c1.1 - c3.1, 7)
                    put(c0.2 - c2.2, 8); put(c1.2 + c2.2, 9); put(c2.2 - c1.2, 10); put(c1.2 - c3.2, 11)
                    put(c0.3 - c2.3, 12); put(c1.3 + c2.3, 13); put(c2.3 - c1.3, 14); put(c1.3 - c3.3, 15)
                    lane += 16
                }
            }
        }
    }
}

/// `conv2d` of contiguous `x` [N, C, H, W] and `w` [O, C, 3, 3] by Winograd's F(2x2, 3x3) with
/// transforms vectorized across images (see the file comment).
func winogradImagesConv2d(_ x: Tensor, weight w: Tensor, bias: Tensor?, geometry g: ConvolutionGeometry) -> Tensor {
    precondition(WinogradF2x3.appliesAcrossImages(g), "winogradImagesConv2d: geometry does not apply")
    let output = TensorStorage(uninitializedCount: Swift.max(1, Tensor.elementCount(g.outputShape)))
    let (channels, outChannels) = (g.channels, g.outChannels)
    let tiling = WinogradImagesTiling(g)
    let (tiles, tilesWide, chunkImages) = (tiling.tiles, tiling.tilesWide, tiling.chunkImages)
    let biasValues = bias?.contiguous().scalars ?? [Float](repeating: 0, count: outChannels)
    let u = w.withUnsafeBufferPointer {
        WinogradF2x3.transformedWeight(.float($0.baseAddress!), outChannels: outChannels, channels: channels)
    }
    defer { u.deallocate() }
    let outputSize = outChannels * g.outHeight * g.outWidth
    let (vCount, mCount, setCount) = tiling.scratchSizes(packed: true)
    let transposedCount = tiling.transposedCount
    let buffers = UnsafeMutablePointer<Float>.allocate(capacity: tiling.shareCount * setCount)
    defer { buffers.deallocate() }
    withExtendedLifetime((x, w)) {
        // Read-only inputs; each chunk writes the outputs of its own images, with its share's buffers.
        nonisolated(unsafe) let xp = UnsafePointer(x.storage.pointer + x.offset)
        nonisolated(unsafe) let up = UnsafePointer(u)
        nonisolated(unsafe) let out = output.pointer
        nonisolated(unsafe) let scratch = buffers
        tiling.forEachChunk { index, share, innerThreads in
            let base = scratch + share * setCount
            let (v, m) = (base + transposedCount, base + transposedCount + 16 * vCount)
            let (first, count) = tiling.loadChunk(index, of: xp, into: base, vCount: vCount, packed: true)
            WinogradF2x3.multiplyTransformed(up, outChannels: outChannels, channels: channels, v: v, vCount: vCount,
                                             tiles: tiles, into: m, mCount: mCount, ldm: tiles, threads: innerThreads)
            // Y = Aᵀ M A + bias for 16 images at a time, scattered to each image's output.
            for o in 0..<outChannels {
                let bias = SIMD16<Float>(repeating: biasValues[o])
                for tile in 0..<tiling.tilesPerImage {
                    let (ty, tx) = (tile / tilesWide, tile % tilesWide)
                    var lane = 0
                    while lane < count {
                        let source = UnsafeRawPointer(m + o * tiles + tile * chunkImages + lane)
                        let (y00, y01, y10, y11) = WinogradF2x3.outputTile(bias: bias) { xi in
                            source.loadUnaligned(fromByteOffset: xi * mCount * 4, as: SIMD16<Float>.self)
                        }
                        let (oy, ox) = (2 * ty, 2 * tx)
                        let (right, below) = (ox + 1 < g.outWidth, oy + 1 < g.outHeight)
                        for l in 0..<Swift.min(16, count - lane) {
                            let target = out + (first + lane + l) * outputSize + (o * g.outHeight + oy) * g.outWidth + ox
                            target[0] = y00[l]
                            if right { target[1] = y01[l] }
                            if below {
                                target[g.outWidth] = y10[l]
                                if right { target[g.outWidth + 1] = y11[l] }
                            }
                        }
                        lane += 16
                    }
                }
            }
        }
    }
    return Tensor(storage: output, shape: g.outputShape, strides: Tensor.contiguousStrides(g.outputShape))
}

/// The weight gradient of a convolution `WinogradF2x3.appliesAcrossImages` accepts, in the
/// Winograd domain (see the file comment and `winogradConv2dBackwardWeight`).
func winogradImagesConv2dBackwardWeight(_ dy: Tensor, input x: Tensor, geometry g: ConvolutionGeometry) -> Tensor {
    precondition(WinogradF2x3.appliesAcrossImages(g), "winogradImagesConv2dBackwardWeight: geometry does not apply")
    let outChannels = g.outChannels
    let tiling = WinogradImagesTiling(g)
    let (tiles, tilesWide, chunkImages) = (tiling.tiles, tiling.tilesWide, tiling.chunkImages)
    let shares = tiling.shareCount
    let sums = WinogradWeightGradientSums(shares: shares, geometry: g)
    let outputSize = outChannels * g.outHeight * g.outWidth
    let (vCount, mCount, setCount) = tiling.scratchSizes(packed: false)
    let transposedCount = tiling.transposedCount
    let buffers = UnsafeMutablePointer<Float>.allocate(capacity: shares * setCount)
    defer { buffers.deallocate() }
    withExtendedLifetime((x, dy)) {
        // Read-only inputs; each share accumulates into its own 16 x O x C partial sums.
        nonisolated(unsafe) let xp = UnsafePointer(x.storage.pointer + x.offset)
        nonisolated(unsafe) let dyp = UnsafePointer(dy.storage.pointer + dy.offset)
        nonisolated(unsafe) let scratch = buffers
        tiling.forEachChunk { index, share, innerThreads in
            let base = scratch + share * setCount
            let (v, dm) = (base + transposedCount, base + transposedCount + 16 * vCount)
            let (first, count) = tiling.loadChunk(index, of: xp, into: base, vCount: vCount, packed: false)
            // ∂L/∂M per tile, 16 images at a time: the tile's 2x2 output gradient gathered from
            // each image (zero past the output's edge and for the lanes past the batch).
            for o in 0..<outChannels {
                for tile in 0..<tiling.tilesPerImage {
                    let (oy, ox) = (2 * (tile / tilesWide), 2 * (tile % tilesWide))
                    let (right, below) = (ox + 1 < g.outWidth, oy + 1 < g.outHeight)
                    var lane = 0
                    while lane < chunkImages {
                        var (a, b, c, d) = (SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>())
                        for l in 0..<Swift.max(0, Swift.min(16, count - lane)) {
                            let source = dyp + (first + lane + l) * outputSize + (o * g.outHeight + oy) * g.outWidth + ox
                            a[l] = source[0]
                            if right { b[l] = source[1] }
                            if below {
                                c[l] = source[g.outWidth]
                                if right { d[l] = source[g.outWidth + 1] }
                            }
                        }
                        let target = UnsafeMutableRawPointer(dm + o * tiles + tile * chunkImages + lane)
                        WinogradF2x3.outputGradientTile(a, b, c, d) { value, xi in
                            target.storeBytes(of: value, toByteOffset: xi * mCount * 4, as: SIMD16<Float>.self)
                        }
                        lane += 16
                    }
                }
            }
            // ∂L/∂U_ξ += ∂L/∂M_ξ [O, tiles] · V_ξᵀ [tiles, C].
            sums.add(share: share, tiles: tiles, m: dm, mCount: mCount, mStride: tiles,
                     v: v, vCount: vCount, vStride: tiles, threads: innerThreads)
        }
    }
    return sums.gradient()
}
