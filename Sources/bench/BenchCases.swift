// The benchmark cases: the shapes Stable Diffusion's UNet runs, plus square GEMMs.
//
// Contract: each case has a stable `name` (shared with tools/bench_reference.py, which times the
// same shapes with NumPy and PyTorch), a human-readable `shape`, the floating-point operation
// count used for GFLOP/s, and `prepare()`, which allocates inputs once and returns the closure
// that is timed.

import Tensor

/// One benchmarked operation at one shape.
struct BenchCase {
    /// A stable identifier, e.g. `gemm-1024`; the reference script uses the same names.
    let name: String
    /// The shapes involved, for people.
    let shape: String
    /// Floating-point operations per run (a multiply-add counts as two); 0 when not counted.
    let flops: Double
    /// Images processed per run, for cases reported as throughput (images per second).
    let images: Int?
    /// Allocates the inputs and returns the work to time.
    let prepare: () -> () -> Void

    /// A case; `images` makes it report images per second as well.
    init(name: String, shape: String, flops: Double, images: Int? = nil, prepare: @escaping () -> () -> Void) {
        self.name = name
        self.shape = shape
        self.flops = flops
        self.images = images
        self.prepare = prepare
    }
}

/// A tensor of uniform values in [-1, 1) from a fixed seed (benchmarks need no statistics, only data).
func benchTensor(_ shape: [Int], seed: UInt64) -> Tensor {
    var random = SplitMix64(seed: seed)
    return random.uniform(shape, low: -1, high: 1)
}

/// `Tensor.matmul` of an m x k by a k x n matrix.
func gemmCase(_ name: String, m: Int, n: Int, k: Int) -> BenchCase {
    BenchCase(name: name, shape: "\(m)x\(k) * \(k)x\(n)", flops: 2 * Double(m) * Double(n) * Double(k)) {
        let a = benchTensor([m, k], seed: 1), b = benchTensor([k, n], seed: 2)
        return { _ = a.matmul(b) }
    }
}

/// A linear layer's product `x · Wᵀ`: x is m x k and W (out x in, as PyTorch stores it) n x k;
/// the transposed view goes to the kernel without a copy.
func linearCase(_ name: String, m: Int, n: Int, k: Int) -> BenchCase {
    BenchCase(name: name, shape: "\(m)x\(k) * (\(n)x\(k))T", flops: 2 * Double(m) * Double(n) * Double(k)) {
        let x = benchTensor([m, k], seed: 1), w = benchTensor([n, k], seed: 2)
        return { _ = x.matmul(w.transposed()) }
    }
}

/// `linearCase` with the weight stored in binary16: `x.matmul(transposed:)` widens W while
/// packing it (same blocking and micro-kernel as the Float32 product, equal results).
func halfLinearCase(_ name: String, m: Int, n: Int, k: Int) -> BenchCase {
    BenchCase(name: name, shape: "\(m)x\(k) * (\(n)x\(k) f16)T", flops: 2 * Double(m) * Double(n) * Double(k)) {
        let x = benchTensor([m, k], seed: 1), w = HalfPrecisionTensor(narrowing: benchTensor([n, k], seed: 2), format: .float16)
        return { _ = x.matmul(transposed: w) }
    }
}

/// Widening a binary16 weight to a Float32 tensor (what a 16-bit `Conv2d` weight costs per call).
func widenCase(_ name: String, shape: [Int]) -> BenchCase {
    BenchCase(name: name, shape: shape.map(String.init).joined(separator: "x") + " f16 -> f32", flops: 0) {
        let w = HalfPrecisionTensor(narrowing: benchTensor(shape, seed: 3), format: .float16)
        return { _ = w.widened() }
    }
}

/// A 3x3, padding-1 convolution of `[n, c, h, w]` to `outChannels` channels.
func convCase(_ name: String, n: Int, c: Int, h: Int, w: Int, outChannels: Int) -> BenchCase {
    BenchCase(name: name, shape: "N=\(n) C=\(c) \(h)x\(w) -> \(outChannels), 3x3 pad 1",
              flops: 2 * Double(n * outChannels * c * 9) * Double(h * w)) {
        let x = benchTensor([n, c, h, w], seed: 3), weight = benchTensor([outChannels, c, 3, 3], seed: 4)
        return { _ = conv2d(x, weight: weight, padding: 1) }
    }
}

/// Self-attention over `tokens` tokens: `[batch, heads, tokens, dim]` queries, keys and values.
func attentionCase(_ name: String, batch: Int, heads: Int, tokens: Int, dim: Int) -> BenchCase {
    BenchCase(name: name, shape: "B=\(batch) H=\(heads) T=\(tokens) D=\(dim)",
              flops: 4 * Double(batch * heads) * Double(tokens) * Double(tokens) * Double(dim)) {
        let q = benchTensor([batch, heads, tokens, dim], seed: 5)
        let k = benchTensor([batch, heads, tokens, dim], seed: 6)
        let v = benchTensor([batch, heads, tokens, dim], seed: 7)
        return { _ = scaledDotProductAttention(query: q, key: k, value: v) }
    }
}

/// Every case, in the order they run and print.
func allBenchCases() -> [BenchCase] { [
    // What one core can do, and the GEMM micro-kernel with B in each cache level (no reference).
    fmaPeakCase(iterations: 2_000_000),
    microKernelCase(level: "L1", depth: 128, bPanels: 1, calls: 20_000),
    microKernelCase(level: "L2", depth: 320, bPanels: 14, calls: 8_000),
    microKernelCase(level: "L3", depth: 1280, bPanels: 10, calls: 2_000),
    gemmCase("gemm-1024", m: 1024, n: 1024, k: 1024),
    gemmCase("gemm-2048", m: 2048, n: 2048, k: 2048),
    gemmCase("gemm-sd-4096x320x1280", m: 4096, n: 1280, k: 320),
    gemmCase("gemm-sd-4096x1280x320", m: 4096, n: 320, k: 1280),
    gemmCase("gemm-sd-1024x640x640", m: 1024, n: 640, k: 640),
    gemmCase("gemm-sd-77x768x320", m: 77, n: 320, k: 768),
    // The same products as linear layers compute them (weight stored [out, in], read transposed).
    linearCase("linear-sd-4096x320x1280", m: 4096, n: 1280, k: 320),
    linearCase("linear-sd-77x768x320", m: 77, n: 320, k: 768),
    // The same with the weight kept in Float16 (widened while packed), and a whole weight widened.
    halfLinearCase("linear-sd-4096x320x1280-f16", m: 4096, n: 1280, k: 320),
    halfLinearCase("linear-sd-77x768x320-f16", m: 77, n: 320, k: 768),
    widenCase("widen-f16-1280x1280x3x3", shape: [1280, 1280, 3, 3]),
    convCase("conv3x3-sd-2x320x64x64", n: 2, c: 320, h: 64, w: 64, outChannels: 320),
    convCase("conv3x3-sd-2x640x32x32", n: 2, c: 640, h: 32, w: 32, outChannels: 640),
    convCase("conv3x3-sd-2x1280x16x16", n: 2, c: 1280, h: 16, w: 16, outChannels: 1280),
    convCase("conv3x3-sd-2x1280x8x8", n: 2, c: 1280, h: 8, w: 8, outChannels: 1280),
    convCase("conv3x3-128x32x28x28", n: 128, c: 32, h: 28, w: 28, outChannels: 64),
    convCase("conv3x3-128x64x16x16", n: 128, c: 64, h: 16, w: 16, outChannels: 64),
    convCase("conv3x3-128x128x8x8", n: 128, c: 128, h: 8, w: 8, outChannels: 128),
    convCase("conv3x3-128x128x4x4", n: 128, c: 128, h: 4, w: 4, outChannels: 128),
    // Stable Diffusion 1.x at 512x512 with classifier-free guidance: batch 2 (unconditional and
    // conditional), 8 heads of 40 features in the 64x64-latent (4096-token) transformer blocks.
    attentionCase("attention-sd-4096", batch: 2, heads: 8, tokens: 4096, dim: 40),
    classifierTrainingCase(batch: 128),
    unetTrainingCase(batch: 128),
] + shippedModelCases() + convPassShapes.flatMap { convPassCases(c: $0.c, o: $0.o, side: $0.side) } }

/// The core's FMA peak: 12 independent chains of SIMD16 fused multiply-adds, `iterations` deep
/// (each FMA waits for the one 12 before it, longer than the FMA latency, so only throughput binds).
func fmaPeakCase(iterations: Int) -> BenchCase {
    BenchCase(name: "kernel-fma-peak", shape: "12 chains of SIMD16 FMAs x \(iterations)",
              flops: Double(iterations) * 12 * 32) {
        { blackHole(fmaChains(iterations)) }
    }
}

/// The loop of `fmaPeakCase`.
@inline(never)
func fmaChains(_ iterations: Int) -> SIMD16<Float> {
    let x = SIMD16<Float>(repeating: 0.001), m = SIMD16<Float>(repeating: 0.999)
    var a0 = x, a1 = x + 1, a2 = x + 2, a3 = x + 3, a4 = x + 4, a5 = x + 5
    var a6 = x + 6, a7 = x + 7, a8 = x + 8, a9 = x + 9, a10 = x + 10, a11 = x + 11
    for _ in 0..<iterations {
        a0.addProduct(a0, m); a1.addProduct(a1, m); a2.addProduct(a2, m); a3.addProduct(a3, m)
        a4.addProduct(a4, m); a5.addProduct(a5, m); a6.addProduct(a6, m); a7.addProduct(a7, m)
        a8.addProduct(a8, m); a9.addProduct(a9, m); a10.addProduct(a10, m); a11.addProduct(a11, m)
    }
    return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11
}

/// Keeps a value alive so the work that produced it is not optimized away.
@inline(never)
func blackHole<T>(_ value: T) { withExtendedLifetime(value) {} }

/// The GEMM micro-kernel alone (`GEMM.microKernelWorkload`) with its B panels in `level`.
func microKernelCase(level: String, depth: Int, bPanels: Int, calls: Int) -> BenchCase {
    BenchCase(name: "kernel-12x32-\(level)", shape: "depth \(depth), B \(128 * depth * bPanels / 1024) KiB",
              flops: 2 * 12 * 32 * Double(depth) * Double(calls)) {
        GEMM.microKernelWorkload(depth: depth, bPanels: bPanels, calls: calls)
    }
}
