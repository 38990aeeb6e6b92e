// AllocatorTuning: how the process's C allocator treats the large buffers tensors allocate.
//
// Contract: `TensorStorage.keepFreedMemoryForReuse()` is an opt-in, process-wide setting for
// long jobs (training, benchmarks) on Linux/glibc; it changes where memory comes from, never a
// value. Elsewhere it does nothing.

import Foundation

extension TensorStorage {
    /// Asks the C allocator (glibc) to serve every buffer from its heap and keep freed memory
    /// for reuse, instead of mapping each large buffer fresh from the kernel and unmapping it on
    /// release. A training step allocates and frees the same large activations every step; with
    /// the default settings each of them costs page faults and zeroing by the kernel (a
    /// measurable share of a UNet training step, docs/benchmarks.md). The price is that memory
    /// freed by the process is not returned to the system while it runs. Process-wide; call it
    /// once at the start of a long job.
    public static func keepFreedMemoryForReuse() {
        #if os(Linux)
        // glibc's `mallopt` is declared in <malloc.h>, which Swift's Glibc module does not
        // export; look it up by name. Parameter numbers from <malloc.h>.
        typealias MalloptFunction = @convention(c) (Int32, Int32) -> Int32
        let trimThreshold: Int32 = -1, mmapMaximum: Int32 = -4
        guard let symbol = dlsym(nil, "mallopt") else { return }  // nil: RTLD_DEFAULT
        let mallopt = unsafeBitCast(symbol, to: MalloptFunction.self)
        _ = mallopt(mmapMaximum, 0)  // no buffer gets its own mapping
        _ = mallopt(trimThreshold, Int32.max)  // freed heap memory is kept
        #endif
    }
}
