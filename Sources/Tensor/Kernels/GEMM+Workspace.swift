// GEMM workspaces: the packing buffers of `GEMM.multiplyBlock`, kept between products.
//
// Contract: `GEMMWorkspace.with(floats:_:)` lends the caller a 64-byte-aligned buffer of at least
// `floats` floats for the duration of the closure; no two callers hold the same buffer at once.
//
// Why keep them: a product that allocates its packing buffers afresh each time changes where the
// caller's own next allocation lands. The batch-32 whole-image convolution at 2x2 x 128 channels
// writes a 1 MiB expanded weight before its product, and its time depended on where that buffer
// landed (docs/benchmarks.md, "Design measurements"). Without allocations in the product the
// caller's buffer returns to the same, cache-warm, memory every call. A workspace grows to the
// largest product it has served (at most 2496 x 1024 + 2048 x 512 floats, 14 MiB, at the
// default blocking) and stays allocated; there is one per thread that has run a product at the
// same time as others.

import Synchronization

/// A reusable packing buffer for one thread's share of a product.
final class GEMMWorkspace: @unchecked Sendable {
    // @unchecked: a workspace is used by one thread at a time: `with` takes it off the shared
    // list before lending it and puts it back after.
    private var base: UnsafeMutableRawPointer
    private var capacity: Int

    private init() {
        base = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64)
        capacity = 16
    }

    deinit { base.deallocate() }

    /// The workspaces not lent out.
    private static let idle = Mutex<[GEMMWorkspace]>([])

    /// Runs `body` with a buffer of at least `floats` floats (64-byte aligned, contents undefined).
    static func with<R>(floats: Int, _ body: (UnsafeMutablePointer<Float>) -> R) -> R {
        let workspace = idle.withLock { $0.popLast() } ?? GEMMWorkspace()
        defer { idle.withLock { $0.append(workspace) } }
        if workspace.capacity < floats {
            workspace.base.deallocate()
            workspace.base = UnsafeMutableRawPointer.allocate(byteCount: floats * 4, alignment: 64)
            workspace.capacity = floats
        }
        return body(workspace.base.bindMemory(to: Float.self, capacity: workspace.capacity))
    }
}
