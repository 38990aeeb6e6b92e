// Vector math: exp, tanh and erf on 16 lanes at a time, and the loop that applies a
// 16-lane function to a whole buffer (split across threads for large buffers).
//
// Contract: every function here takes and returns `SIMD16<Float>` and is accurate to a few
// ULP over the whole Float range (tests compare each against the C library in Double):
// - `exp`: Cephes `expf` — round to n = x·log2(e), reduce r = x − n·ln2 in two parts
//   (Cody–Waite), a degree-6 polynomial for e^r, then scale by 2^n built from exponent bits.
//   Overflows to +inf above ~88.72, underflows (through subnormals) to 0 below ~−103.9.
// - `tanh`: Cephes `tanhf` — an odd polynomial for |x| < 0.625, 1 − 2 / (e^{2|x|} + 1) above.
// - `erf`: the rational approximation x·P(x²)/Q(x²) on [−4, 4] used by Eigen and XLA
//   (`generic_fast_erf_float`); |erf(x)| rounds to 1 in Float outside that interval.
// The loops work on contiguous memory; callers make their input contiguous first.

import Foundation

/// A function applied to 16 lanes at once; specialization inlines it into the buffer loop.
@usableFromInline
protocol VectorFunction: Sendable {
    /// Applies the function to every lane.
    func callAsFunction(_ x: SIMD16<Float>) -> SIMD16<Float>
}

/// Buffers of at least this many elements are split across threads (about 256 KiB of Float).
@usableFromInline
let parallelElementThreshold = 1 << 16

/// Loads 16 floats from possibly unaligned memory.
@inline(__always) @usableFromInline
func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}

/// Stores 16 floats to possibly unaligned memory.
@inline(__always) @usableFromInline
func store16(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
}

/// Loads the first `count` (< 16) floats at `p`, filling the other lanes with `padding`.
@inline(__always) @usableFromInline
func loadPartial16(_ p: UnsafePointer<Float>, _ count: Int, padding: Float = 0) -> SIMD16<Float> {
    var v = SIMD16<Float>(repeating: padding)
    for j in 0..<count { v[j] = p[j] }
    return v
}

/// Stores the first `count` (< 16) lanes of `v` at `p`.
@inline(__always) @usableFromInline
func storePartial16(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
    for j in 0..<count { p[j] = v[j] }
}

/// Writes `f(source[i])` to `destination[i]` for `i < count` (the two may be the same buffer).
@inline(__always) @usableFromInline
func applyVectorFunction<F: VectorFunction>(
    _ f: F, _ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float>, _ count: Int
) {
    var i = 0
    while i + 16 <= count {
        store16(f(load16(source + i)), destination + i)
        i += 16
    }
    if i < count { storePartial16(f(loadPartial16(source + i, count - i)), destination + i, count - i) }
}

extension Tensor {
    /// A new contiguous tensor with `f` applied to every element; large tensors use every thread.
    @usableFromInline
    func applying<F: VectorFunction>(_ f: F) -> Tensor {
        let n = count
        let out = TensorStorage(uninitializedCount: n)
        let source = contiguous()
        withExtendedLifetime(source) {
            // Each chunk reads and writes only its own index range.
            nonisolated(unsafe) let src = UnsafePointer(source.storage.pointer + source.offset)
            nonisolated(unsafe) let dst = out.pointer
            if n < parallelElementThreshold {
                applyVectorFunction(f, src, dst, n)
            } else {
                parallelFor(chunking: n, minimumChunk: parallelElementThreshold / 2) { range in
                    applyVectorFunction(f, src + range.lowerBound, dst + range.lowerBound, range.count)
                }
            }
        }
        return Tensor(storage: out, shape: shape, strides: Tensor.contiguousStrides(shape))
    }
}

/// Lane-wise transcendental functions on `SIMD16<Float>` (see the file comment for sources).
@usableFromInline
enum VectorMath {
    /// x limited to [low, high] by compare-and-select (NaN passes through). The standard
    /// library's `clamped` and `pointwiseMin`/`pointwiseMax` order NaN and compile to a scalar
    /// loop per lane; this form compiles to two compares and two blends.
    @inline(__always) @usableFromInline
    static func clamp(_ x: SIMD16<Float>, _ low: Float, _ high: Float) -> SIMD16<Float> {
        let l = x.replacing(with: low, where: x .< low)
        return l.replacing(with: high, where: l .> high)
    }

    /// e^x, Cephes `expf` (range reduction by ln 2 in two parts, degree-6 polynomial).
    @inline(__always) @usableFromInline
    static func exp(_ x: SIMD16<Float>) -> SIMD16<Float> {
        let clampedX = clamp(x, -104, 88.8)
        // n = round(x / ln 2) with the 1.5·2^23 trick: the sum's low mantissa bits hold n.
        let magic = SIMD16<Float>(repeating: 12_582_912)
        let shifted = clampedX * SIMD16(repeating: 1.442_695_04) + magic
        let n = shifted - magic
        let ni = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- unsafeBitCast(magic, to: SIMD16<Int32>.self)
        // r = x − n·ln 2, with ln 2 = 0.693359375 − 2.12194440e−4 (the first part is exact in Float).
        var r = clampedX - n * SIMD16(repeating: 0.693_359_375)
        r = r + n * SIMD16(repeating: 2.121_944_40e-4)
        var p = SIMD16<Float>(repeating: 1.987_569_150_0e-4)
        p = p * r + SIMD16(repeating: 1.398_199_950_7e-3)
        p = p * r + SIMD16(repeating: 8.333_451_907_3e-3)
        p = p * r + SIMD16(repeating: 4.166_579_589_4e-2)
        p = p * r + SIMD16(repeating: 1.666_666_545_9e-1)
        p = p * r + SIMD16(repeating: 5.000_000_120_1e-1)
        let er = p * (r * r) + r + SIMD16(repeating: 1)
        // 2^n as two factors 2^(n/2)·2^(n − n/2), so n from −150 to 128 stays representable.
        let half = ni &>> 1
        let rest = ni &- half
        let scaleA = unsafeBitCast((half &+ 127) &<< 23, to: SIMD16<Float>.self)
        let scaleB = unsafeBitCast((rest &+ 127) &<< 23, to: SIMD16<Float>.self)
        let result = er * scaleA * scaleB
        return result.replacing(with: x, where: x .!= x)  // NaN stays NaN
    }

    /// tanh x, Cephes `tanhf`: odd polynomial below |x| = 0.625, 1 − 2 / (e^{2|x|} + 1) above.
    @inline(__always) @usableFromInline
    static func tanh(_ x: SIMD16<Float>) -> SIMD16<Float> {
        let z = x * x
        var p = SIMD16<Float>(repeating: -5.704_988_727_45e-3)
        p = p * z + SIMD16(repeating: 2.063_908_879_54e-2)
        p = p * z + SIMD16(repeating: -5.373_971_555_31e-2)
        p = p * z + SIMD16(repeating: 1.333_144_220_36e-1)
        p = p * z + SIMD16(repeating: -3.333_328_194_22e-1)
        let small = p * z * x + x
        let a = unsafeBitCast(unsafeBitCast(x, to: SIMD16<UInt32>.self) & SIMD16(repeating: 0x7FFF_FFFF), to: SIMD16<Float>.self)
        let large = SIMD16<Float>(repeating: 1) - SIMD16(repeating: 2) / (exp(a + a) + SIMD16(repeating: 1))
        let signed = large.replacing(with: -large, where: x .< 0)
        return signed.replacing(with: small, where: a .< 0.625 .| x .!= x)
    }

    /// erf x as x·P(x²)/Q(x²) on [−4, 4] (Eigen's and XLA's single-precision approximation).
    @inline(__always) @usableFromInline
    static func erf(_ x: SIMD16<Float>) -> SIMD16<Float> {
        let c = clamp(x, -4, 4)
        let x2 = c * c
        var p = SIMD16<Float>(repeating: -2.726_142_258_013_06e-10)
        p = p * x2 + SIMD16(repeating: 2.770_681_424_959_02e-08)
        p = p * x2 + SIMD16(repeating: -2.101_024_020_825_08e-06)
        p = p * x2 + SIMD16(repeating: -5.692_506_394_623_46e-05)
        p = p * x2 + SIMD16(repeating: -7.349_906_303_268_55e-04)
        p = p * x2 + SIMD16(repeating: -2.954_599_808_540_25e-03)
        p = p * x2 + SIMD16(repeating: -1.609_603_332_624_15e-02)
        var q = SIMD16<Float>(repeating: -1.456_607_184_649_96e-05)
        q = q * x2 + SIMD16(repeating: -2.133_740_552_789_05e-04)
        q = q * x2 + SIMD16(repeating: -1.682_826_974_382_03e-03)
        q = q * x2 + SIMD16(repeating: -7.373_329_167_204_68e-03)
        q = q * x2 + SIMD16(repeating: -1.426_473_905_141_89e-02)
        let result = c * p / q
        return result.replacing(with: x, where: x .!= x)
    }

    /// The logistic function 1 / (1 + e^−x).
    @inline(__always) @usableFromInline
    static func sigmoid(_ x: SIMD16<Float>) -> SIMD16<Float> {
        SIMD16(repeating: 1) / (SIMD16(repeating: 1) + exp(-x))
    }
}

extension SIMD16 where Scalar == Float {
    /// The sum of the 16 lanes by halving (8 + 4 + 2 + 1 vector adds). The standard library's
    /// generic `sum()` compiles to a lane-by-lane loop outside the caller, too slow to call once
    /// per dot product.
    @inlinable @inline(__always)
    public func laneSum() -> Float {
        let eight = lowHalf + highHalf
        let four = eight.lowHalf + eight.highHalf
        let two = four.lowHalf + four.highHalf
        return two[0] + two[1]
    }
}
