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
    /// width (outputs at most 8 x 8 here, where rows of tiles are too short to vectorize).
    static func appliesAcrossImages(_ g: ConvolutionGeometry) -> Bool {
        g.kernelHeight == 3 && g.kernelWidth == 3 && g.stride == 1 && g.dilation == 1 && g.groups == 1
            && g.padding <= 2 && Swift.min(g.channels, g.outChannels) >= minimumChannels
            && g.outWidth <= 8 && g.outHeight <= 8
    }
}

/// `conv2d` of contiguous `x` [N, C, H, W] and `w` [O, C, 3, 3] by Winograd's F(2x2, 3x3) with
/// transforms vectorized across images (see the file comment).
func winogradImagesConv2d(_ x: Tensor, weight w: Tensor, bias: Tensor?, geometry g: ConvolutionGeometry) -> Tensor {
    precondition(WinogradF2x3.appliesAcrossImages(g), "winogradImagesConv2d: geometry does not apply")
    let output = TensorStorage(uninitializedCount: Swift.max(1, Tensor.elementCount(g.outputShape)))
    let (channels, outChannels, p) = (g.channels, g.outChannels, g.padding)
    let (tilesHigh, tilesWide) = ((g.outHeight + 1) / 2, (g.outWidth + 1) / 2)
    let tilesPerImage = tilesHigh * tilesWide
    let (paddedHeight, paddedWidth) = (2 * tilesHigh + 2, 2 * tilesWide + 2)
    // Images per chunk: a multiple of 16 (whole vectors, so a vector never straddles a 32-column
    // panel), about 512 tile columns, but no more than a thread's share of the batch (so small
    // batches still split between threads and pad at most 15 images).
    let threads = Parallel.threadCount
    let share = GEMM.roundUp((g.batch + threads - 1) / threads, to: 16)
    let chunkImages = Swift.max(16, Swift.min(16 * Swift.max(1, WinogradF2x3.tilesPerChunk / (16 * tilesPerImage)), share))
    let chunkCount = (g.batch + chunkImages - 1) / chunkImages
    let tiles = chunkImages * tilesPerImage
    let paddedOut = WinogradF2x3.paddedOutChannels(outChannels)
    let biasValues = bias?.contiguous().scalars ?? [Float](repeating: 0, count: outChannels)
    let u = w.withUnsafeBufferPointer {
        WinogradF2x3.transformedWeight($0.baseAddress!, outChannels: outChannels, channels: channels)
    }
    defer { u.deallocate() }
    let imageSize = channels * g.height * g.width
    let outputSize = outChannels * g.outHeight * g.outWidth
    let parallelChunks = threads > 1 && chunkCount >= threads
    let sets = parallelChunks ? threads : 1
    // Per thread: the images-innermost input, V (16 packed matrices), M (16 matrices [O, tiles]).
    let transposedCount = channels * paddedHeight * paddedWidth * chunkImages
    let (vCount, mCount) = (channels * GEMM.roundUp(tiles, to: GEMM.panelColumns), outChannels * tiles)
    let buffers = UnsafeMutablePointer<Float>.allocate(capacity: sets * (transposedCount + 16 * (vCount + mCount)))
    defer { buffers.deallocate() }
    withExtendedLifetime((x, w)) {
        // Read-only inputs; each chunk writes the outputs of its own images, with its thread's buffers.
        nonisolated(unsafe) let xp = UnsafePointer(x.storage.pointer + x.offset)
        nonisolated(unsafe) let up = UnsafePointer(u)
        nonisolated(unsafe) let out = output.pointer
        nonisolated(unsafe) let scratch = buffers
        let chunk: @Sendable (Int, Int, Int) -> Void = { index, set, innerThreads in
            let base = scratch + set * (transposedCount + 16 * (vCount + mCount))
            let (xt, v, m) = (base, base + transposedCount, base + transposedCount + 16 * vCount)
            let first = index * chunkImages, count = Swift.min(chunkImages, g.batch - first)
            // Images innermost, zero-padded (and zero lanes past the batch).
            xt.initialize(repeating: 0, count: transposedCount)
            for slot in 0..<count {
                let image = xp + (first + slot) * imageSize
                for c in 0..<channels {
                    for y in 0..<g.height {
                        let row = xt + ((c * paddedHeight + y + p) * paddedWidth + p) * chunkImages + slot
                        let source = image + (c * g.height + y) * g.width
                        for column in 0..<g.width { row[column * chunkImages] = source[column] }
                    }
                }
            }
            // V = Bᵀ d B for 16 images at a time; column tile · chunkImages + lane lands in the
            // packed panels at (column / 32) · C · 32 + c · 32 + column % 32 (column % 32 is 0 or 16).
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
                        let target = UnsafeMutableRawPointer(v + (column / 32) * channels * 32 + c * 32 + column % 32)
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
            for xi in 0..<16 {
                GEMM.multiply(m: outChannels, n: tiles, k: channels, alpha: 1,
                              a: PackedMatrix(base: up + xi * paddedOut * channels, depth: channels),
                              b: PackedMatrix(base: v + xi * vCount, depth: channels),
                              beta: 0, c: m + xi * mCount, ldc: tiles, threads: innerThreads)
            }
            // Y = Aᵀ M A + bias for 16 images at a time, scattered to each image's output.
            for o in 0..<outChannels {
                let bias = SIMD16<Float>(repeating: biasValues[o])
                for tile in 0..<tilesPerImage {
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
        if parallelChunks {
            parallelFor(threads) { share in
                for index in (share * chunkCount / threads)..<((share + 1) * chunkCount / threads) {
                    chunk(index, share, 1)
                }
            }
        } else {
            for index in 0..<chunkCount { chunk(index, 0, threads) }
        }
    }
    return Tensor(storage: output, shape: g.outputShape, strides: Tensor.contiguousStrides(g.outputShape))
}
