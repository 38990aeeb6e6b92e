// Layer normalization and group normalization.
//
// Contract: y = (x − mean) / √(var + ε) · weight + bias, with the biased (population) variance.
// - Layer norm (Ba, Kiros & Hinton 2016, eq. 3–4) normalizes over the last axis; `weight` and
//   `bias` have that axis's size (`torch.nn.LayerNorm(D)`).
// - Group norm (Wu & He 2018, eq. 1–3) takes `[N, C, *]`, splits C into `groups` groups of
//   C/groups channels and normalizes each (sample, group) over its channels and all trailing
//   axes; `weight` and `bias` are per channel, `[C]` (`torch.nn.GroupNorm(groups, C)`).
// Statistics are two-pass — the mean first, then Σ(x − mean)² — each sum accumulated in Float
// blocks added in Double (see `blockedSum`), so a large offset in the data costs no accuracy.
// Each (sample, group) or row is one task; large tensors spread them over threads.
//
// Reference: `Reference.layerNorm` and `Reference.groupNorm` (Reference/Reference+Normalization.swift),
// the same two passes element by element in Double; in `Kernels.mode == .reference` these return them.

import Foundation

/// The mean and population variance of `n` contiguous floats, two-pass (the statistics group
/// and layer normalization use; public so their backward passes recompute the same values).
@inlinable @inline(__always)
public func meanAndVariance(_ p: UnsafePointer<Float>, _ n: Int) -> (mean: Double, variance: Double) {
    let mean = blockedSum(p, n) / Double(n)
    let m = SIMD16<Float>(repeating: Float(mean))
    var total = 0.0
    var i = 0
    while i < n {
        let end = Swift.min(n, i + 1024)
        var a0 = SIMD16<Float>(), a1 = SIMD16<Float>()
        while i + 32 <= end {
            let d0 = load16(p + i) - m, d1 = load16(p + i + 16) - m
            a0 += d0 * d0
            a1 += d1 * d1
            i += 32
        }
        if i + 16 <= end { let d = load16(p + i) - m; a0 += d * d; i += 16 }
        if i < end {
            let d = loadPartial16(p + i, end - i, padding: Float(mean)) - m
            a1 += d * d
            i = end
        }
        total += Double((a0 + a1).sum())
    }
    // The Float mean differs from the Double mean by δ; Σ(x − m)² = Σ(x − μ)² + nδ², removed here.
    let delta = Double(Float(mean)) - mean
    return (mean, Swift.max(0, total / Double(n) - delta * delta))
}

/// y = (x − center) · scale + shift for `n` contiguous floats. Centering before scaling keeps
/// the result accurate when the mean is large next to the spread (x − center is exact for x
/// near center, where x·scale − center·scale would cancel).
@inline(__always)
func normalize(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, center: Float, scale: Float, shift: Float) {
    let m = SIMD16<Float>(repeating: center), a = SIMD16<Float>(repeating: scale), b = SIMD16<Float>(repeating: shift)
    var i = 0
    while i + 16 <= n { store16((load16(x + i) - m) * a + b, y + i); i += 16 }
    if i < n { storePartial16((loadPartial16(x + i, n - i) - m) * a + b, y + i, n - i) }
}

/// The Float centre, scale and shift that normalize with the Double `mean` and `scale`:
/// the centre is `mean` rounded to Float and the rounding is folded into the shift.
@inline(__always)
func normalization(mean: Double, scale: Double, shift: Double) -> (center: Float, scale: Float, shift: Float) {
    let center = Float(mean)
    return (center, Float(scale), Float(shift - (mean - Double(center)) * scale))
}

extension Tensor {
    /// Layer normalization over the last axis, with optional per-feature `weight` and `bias`
    /// (each of the last axis's size).
    public func layerNorm(weight: Tensor?, bias: Tensor?, epsilon: Float = 1e-5) -> Tensor {
        if Kernels.useReference { return Reference.layerNorm(self, weight: weight, bias: bias, epsilon: epsilon) }
        precondition(rank >= 1, "layerNorm: needs at least one axis, got a rank-0 tensor")
        let d = shape[rank - 1]
        if let weight { precondition(weight.count == d, "layerNorm: weight \(weight.shape) does not match last axis \(d) of \(shape)") }
        if let bias { precondition(bias.count == d, "layerNorm: bias \(bias.shape) does not match last axis \(d) of \(shape)") }
        let rows = d == 0 ? 0 : count / d
        let out = TensorStorage(uninitializedCount: count)
        let source = contiguous(), w = weight?.contiguous(), b = bias?.contiguous()
        withExtendedLifetime((source, w, b)) {
            // Each row writes only its own output row.
            nonisolated(unsafe) let src = UnsafePointer(source.storage.pointer + source.offset)
            nonisolated(unsafe) let dst = out.pointer
            nonisolated(unsafe) let pw = w.map { UnsafePointer($0.storage.pointer + $0.offset) }
            nonisolated(unsafe) let pb = b.map { UnsafePointer($0.storage.pointer + $0.offset) }
            let body: @Sendable (Range<Int>) -> Void = { range in
                for r in range {
                    let x = src + r * d, y = dst + r * d
                    let (mean, variance) = meanAndVariance(x, d)
                    let rstd = 1 / (variance + Double(epsilon)).squareRoot()
                    let f = normalization(mean: mean, scale: rstd, shift: 0)
                    normalize(x, y, d, center: f.center, scale: f.scale, shift: f.shift)
                    if pw == nil && pb == nil { continue }
                    var i = 0
                    while i + 16 <= d {
                        let wv = pw.map { load16($0 + i) } ?? SIMD16(repeating: 1)
                        let bv = pb.map { load16($0 + i) } ?? SIMD16()
                        store16(load16(y + i) * wv + bv, y + i)
                        i += 16
                    }
                    for j in i..<d { y[j] = y[j] * (pw?[j] ?? 1) + (pb?[j] ?? 0) }
                }
            }
            if count < parallelElementThreshold { body(0..<rows) } else {
                parallelFor(chunking: rows, minimumChunk: Swift.max(1, parallelElementThreshold / 2 / Swift.max(d, 1)), body)
            }
        }
        return Tensor(storage: out, shape: shape, strides: Tensor.contiguousStrides(shape))
    }

    /// Group normalization of `[N, C, *]` with `groups` dividing C, and optional per-channel
    /// `weight` and `bias` of C elements. With `thenSiLU`, the result is SiLU(groupNorm(x))
    /// computed in the same pass (the pair that opens every ResNet block of a UNet or VAE):
    /// inference then holds one output tensor instead of two and reads it once less.
    public func groupNorm(groups: Int, weight: Tensor?, bias: Tensor?, epsilon: Float = 1e-5, thenSiLU: Bool = false) -> Tensor {
        if Kernels.useReference {
            let y = Reference.groupNorm(self, groups: groups, weight: weight, bias: bias, epsilon: epsilon)
            return thenSiLU ? y.silu() : y
        }
        precondition(rank >= 2, "groupNorm: expected [N, C, ...], got \(shape)")
        let (n, c) = (shape[0], shape[1])
        precondition(groups > 0 && c % groups == 0, "groupNorm: \(groups) groups do not divide \(c) channels of \(shape)")
        if let weight { precondition(weight.count == c, "groupNorm: weight \(weight.shape) does not match \(c) channels") }
        if let bias { precondition(bias.count == c, "groupNorm: bias \(bias.shape) does not match \(c) channels") }
        let spatial = shape[2...].reduce(1, *)
        let channelsPerGroup = c / groups
        let groupSize = channelsPerGroup * spatial
        let out = TensorStorage(uninitializedCount: count)
        let source = contiguous(), w = weight?.contiguous(), b = bias?.contiguous()
        withExtendedLifetime((source, w, b)) {
            // Task (sample, group) reads and writes only its own block of C/groups channels.
            nonisolated(unsafe) let src = UnsafePointer(source.storage.pointer + source.offset)
            nonisolated(unsafe) let dst = out.pointer
            nonisolated(unsafe) let pw = w.map { UnsafePointer($0.storage.pointer + $0.offset) }
            nonisolated(unsafe) let pb = b.map { UnsafePointer($0.storage.pointer + $0.offset) }
            let task: @Sendable (Int) -> Void = { t in
                let group = t % groups
                let x = src + t * groupSize, y = dst + t * groupSize
                guard groupSize > 0 else { return }
                let (mean, variance) = meanAndVariance(x, groupSize)
                let rstd = 1 / (variance + Double(epsilon)).squareRoot()
                for k in 0..<channelsPerGroup {
                    let channel = group * channelsPerGroup + k
                    // y = (x − mean)·(rstd·w) + b, with the affine folded in per channel.
                    let f = normalization(mean: mean, scale: rstd * Double(pw?[channel] ?? 1), shift: Double(pb?[channel] ?? 0))
                    normalize(x + k * spatial, y + k * spatial, spatial, center: f.center, scale: f.scale, shift: f.shift)
                }
                // In place on the block just written, while it is still in cache.
                if thenSiLU { applyVectorFunction(SiLUFunction(), y, y, groupSize) }
            }
            if count < parallelElementThreshold {
                for t in 0..<(n * groups) { task(t) }
            } else {
                parallelFor(n * groups, task)
            }
        }
        return Tensor(storage: out, shape: shape, strides: Tensor.contiguousStrides(shape))
    }
}
