// Winograd's F(2x2, 3x3) for convolutions with few tiles and many channels: Stable Diffusion's
// 16x16 and 8x8 levels at batch 2 (128 and 32 tiles, 1280 channels).
//
// The chunked path (`winogradConv2d`) transforms the whole weight first, U_ξ = G g Gᵀ for all
// O x C filters (16 matrices, 105 MB at 1280 channels), and then multiplies M_ξ = U_ξ V_ξ. With
// few tiles each weight value meets only 32-128 tiles, so the products stream U from memory
// once: the transformed weight is written to memory and read back for a handful of multiply-adds
// per value. Here the threads share the output channels instead, 12 at a time (a GEMM panel):
// a panel's U (16 x 12 x C floats, under 1 MB at 1280 channels) is transformed into the thread's
// own buffer and multiplied at once while it is still in cache, against the transformed input V
// of all tiles (built once, read by every panel), and the panel's M goes through the output
// transform straight away. The multiply-adds are the same as the chunked path's, in the same
// order per output, so the results are identical.

import Foundation

extension WinogradF2x3 {
    /// Whether `winogradConv2d` takes `winogradConv2dByPanels` for `g` (which `applies`): all tiles
    /// fit one chunk (`tilesPerChunk`), so each transformed weight value would be used for at
    /// most that many tiles. `SWIFTDIFFUSION_WINOGRAD=chunked` (or `2x2`) turns it off, for comparison.
    static func usesPanels(_ g: ConvolutionGeometry) -> Bool {
        !chunkedOnly && WinogradTiling(g, splitsAcrossThreads: false).tileCount <= tilesPerChunk
    }

    /// `SWIFTDIFFUSION_WINOGRAD` is `chunked` or `2x2` (`WinogradF4x3.previousPathsOnly`): the panel path is off.
    static let chunkedOnly: Bool =
        WinogradF4x3.previousPathsOnly || ProcessInfo.processInfo.environment["SWIFTDIFFUSION_WINOGRAD"] == "chunked"
}

/// `conv2d` by F(2x2, 3x3) with the threads sharing the output channels (see the file comment);
/// `g` must satisfy `WinogradF2x3.usesPanels`.
func winogradConv2dByPanels(_ x: Tensor, weight w: WinogradWeight, bias: Tensor?, geometry g: ConvolutionGeometry) -> Tensor {
    let output = TensorStorage(uninitializedCount: Swift.max(1, Tensor.elementCount(g.outputShape)))
    let (channels, outChannels) = (g.channels, g.outChannels)
    let tiling = WinogradTiling(g, splitsAcrossThreads: false)
    precondition(tiling.chunkCount == 1, "winogradConv2dByPanels: the tiles must fit one chunk")
    let rows = 0..<tiling.tileRows
    let tiles = tiling.tileCount
    let biasValues = bias?.contiguous().scalars ?? [Float](repeating: 0, count: outChannels)
    // V for all tiles (no M here: each panel keeps its own). Chunk buffers made with 0 channels
    // (and 0 or 12 output channels) below hold only a thread's row buffers (and one panel's M).
    let buffers = WinogradChunkBuffers(tileSize: 2, channels: channels, outChannels: 0, tiling: tiling)
    defer { buffers.deallocate() }
    let (ld, rowLd) = (buffers.ld, buffers.rowLd)
    let panels = (outChannels + GEMM.panelRows - 1) / GEMM.panelRows
    withExtendedLifetime(x) {
        // V: the threads share the input channels (each writes step c of V's panels for its own c).
        nonisolated(unsafe) let xp = UnsafePointer(x.storage.pointer + x.offset)
        nonisolated(unsafe) let shared = buffers
        parallelFor(chunking: channels, minimumChunk: 64) { range in
            let scratch = WinogradChunkBuffers(tileSize: 2, channels: 0, outChannels: 0, tiling: tiling)
            defer { scratch.deallocate() }
            winogradTransformInput(xp, geometry: g, tiling: tiling, rows: rows, buffers: shared, packed: true,
                                   channels: range, scratch: scratch)
        }
        w.withSource { source in
            // V and the weight are only read; each panel writes the output channels of its own
            // 12 filters, from its thread's own buffers.
            nonisolated(unsafe) let v = UnsafePointer(buffers.v)
            nonisolated(unsafe) let out = output.pointer
            let vCount = buffers.vCount
            parallelFor(chunking: panels) { range in
                let scratch = WinogradPanelScratch(source, channels: channels)
                let panelBuffers = WinogradChunkBuffers(tileSize: 2, channels: 0, outChannels: GEMM.panelRows, tiling: tiling)
                let uCount = GEMM.panelRows * channels, mCount = GEMM.panelRows * ld
                let u = UnsafeMutablePointer<Float>.allocate(capacity: 16 * uCount)
                defer { scratch.deallocate(); panelBuffers.deallocate(); u.deallocate() }
                let m = panelBuffers.m
                for panel in range {
                    let first = panel * GEMM.panelRows
                    let count = Swift.min(GEMM.panelRows, outChannels - first)
                    winogradTransformPanel(WinogradF2x3.self, source, first: first, outChannels: outChannels,
                                           channels: channels, scratch: scratch, into: u, count: uCount)
                    for xi in 0..<16 {
                        GEMM.multiply(m: count, n: tiles, k: channels, alpha: 1,
                                      a: PackedMatrix(base: u + xi * uCount, depth: channels),
                                      b: PackedMatrix(base: v + xi * vCount, depth: channels),
                                      beta: 0, c: m + xi * mCount, ldc: ld, threads: 1)
                    }
                    for l in 0..<count {
                        WinogradF2x3.writeOutputChannel(first + l, bias: biasValues[first + l], m: m + l * ld,
                                                        xiStride: mCount, rows: rows, tiling: tiling, geometry: g,
                                                        outputRows: panelBuffers.outputRows, rowLd: rowLd, into: out)
                    }
                }
            }
        }
    }
    return Tensor(storage: output, shape: g.outputShape, strides: Tensor.contiguousStrides(g.outputShape))
}
