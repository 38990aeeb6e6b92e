// HalfPrecisionTensor and the GEMM with a 16-bit B operand. References: `SafetensorsFile.tensor
// (named:)` and the scalar `HalfPrecision` conversions for the storage type; for the products,
// the Float32 GEMM on the widened weight, which the 16-bit path must equal bit for bit (widening
// is exact and packing only moves values, so any difference is a packing error).

import Foundation
import Testing
import Tensor

/// Expects equal shapes and identical bit patterns, naming the first differing element.
private func expectBitwiseEqual(_ actual: Tensor, _ expected: Tensor, _ comment: String,
                                sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.shape == expected.shape, "\(comment): shape", sourceLocation: sourceLocation)
    guard actual.shape == expected.shape else { return }
    let x = actual.scalars.map(\.bitPattern), y = expected.scalars.map(\.bitPattern)
    let first = x.indices.first { x[$0] != y[$0] }
    #expect(first == nil, "\(comment): element \(first ?? 0) is \(Float(bitPattern: x[first ?? 0])), expected \(Float(bitPattern: y[first ?? 0]))",
            sourceLocation: sourceLocation)
}

/// Random weights in [-1, 1) rounded to `format`, one in five scaled into the 16-bit format's
/// subnormal range (so those bit patterns are widened too).
private func halfWeights(_ shape: [Int], format: HalfPrecisionTensor.Format, seed: UInt64) -> HalfPrecisionTensor {
    let tiny: Float = format == .float16 ? 1e-6 : 0x1p-130
    let values = kernelTestTensor(shape, seed: seed).scalars.enumerated().map { $0.offset % 5 == 3 ? $0.element * tiny : $0.element }
    return HalfPrecisionTensor(narrowing: Tensor(shape: shape, scalars: values), format: format)
}

/// A product size for the 16-bit GEMM tests.
struct HalfProductShape: CustomTestStringConvertible, Sendable {
    let m: Int, n: Int, k: Int
    var testDescription: String { "\(m)x\(k)·(\(n)x\(k))ᵀ" }
}

@Suite("HalfPrecisionTensor: 16-bit storage, zero-copy safetensors, GEMM widening while packing")
struct HalfPrecisionTensorTests {
    @Test("a mapped F16/BF16 tensor widens to exactly what tensor(named:) converts", arguments: HalfPrecisionTensor.Format.allCases)
    func safetensorsZeroCopy(format: HalfPrecisionTensor.Format) throws {
        let folder = try TestData.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("w.safetensors")
        let weight = kernelTestTensor([7, 13], seed: 1) * 3, kernel = kernelTestTensor([5, 3, 3, 3], seed: 2)
        try Safetensors.write(["weight": weight, "kernel": kernel, "bias": kernelTestTensor([7], seed: 3)],
                              dtype: format.dtype, to: url)
        let half: HalfPrecisionTensor, expected: Tensor
        do {
            // The tensor outlives the `SafetensorsFile` value: it keeps the mapping itself.
            let file = try SafetensorsFile(contentsOf: url)
            half = try #require(try file.halfPrecisionTensor(named: "weight"))
            expected = try file.tensor(named: "weight")
            let k = try #require(try file.halfPrecisionTensor(named: "kernel"))
            expectBitwiseEqual(k.widened(), try file.tensor(named: "kernel"), "kernel")
            // Views: a row slice and a reshape read the same bytes.
            expectBitwiseEqual(k.slicedRows(1..<4).widened(), try file.tensor(named: "kernel").sliced(axis: 0, start: 1, end: 4).contiguous(), "rows 1..<4")
            expectBitwiseEqual(k.reshaped([5, -1]).widened(), try file.tensor(named: "kernel").reshaped([5, 27]), "reshaped")
            #expect(throws: SafetensorsError.self) { try file.halfPrecisionTensor(named: "missing") }
        }
        #expect(half.isMapped && half.shape == [7, 13] && half.format == format && half.byteCount == 2 * 91)
        expectBitwiseEqual(half.widened(), expected, "weight")
        expectBitwiseEqual(half.widenedRows(at: [6, 0, 6]), expected.indexSelect(axis: 0, indices: [6, 0, 6]), "rows")
        // The bits are the file's: the scalar reference conversion of the Float32 weights.
        let reference = weight.scalars.map { format == .float16 ? HalfPrecision.float16Bits($0) : HalfPrecision.bfloat16Bits($0) }
        #expect(half.bitPatterns == reference)
    }

    @Test("releasing a mapped tensor's resident pages keeps its values (read back from the file)")
    func releaseResidentPages() throws {
        let folder = try TestData.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("w.safetensors")
        let weight = kernelTestTensor([256, 96], seed: 6)  // 48 KiB in F16: a dozen pages
        try Safetensors.write(["weight": weight], dtype: .f16, to: url)
        let half = try #require(try SafetensorsFile(contentsOf: url).halfPrecisionTensor(named: "weight"))
        let before = half.widened()
        half.releaseResidentPages()
        expectBitwiseEqual(half.widened(), before, "mapped, after release")
        half.slicedRows(100..<200).releaseResidentPages()
        expectBitwiseEqual(half.widened(), before, "mapped, after releasing a slice")
        let owned = HalfPrecisionTensor(narrowing: weight, format: .float16)
        owned.releaseResidentPages()  // a heap buffer: nothing to release, nothing lost
        expectBitwiseEqual(owned.widened(), before, "owned")
    }

    @Test("F32 tensors are not half precision")
    func float32IsNil() throws {
        let folder = try TestData.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("w.safetensors")
        try Safetensors.write(["w": kernelTestTensor([3, 4], seed: 4)], dtype: .f32, to: url)
        #expect(try SafetensorsFile(contentsOf: url).halfPrecisionTensor(named: "w") == nil)
    }

    @Test("narrowing rounds as the scalar reference; widening is exact (large enough to run threaded)",
          arguments: HalfPrecisionTensor.Format.allCases)
    func narrowAndWiden(format: HalfPrecisionTensor.Format) {
        let specials: [Float] = [0, -0.0, .infinity, -.infinity, 65504, 65520, 1e-8, -0x1.5p-128, 1 + 0x1p-11, .nan]
        let values = specials + kernelTestTensor([300_000], seed: 5).scalars.map { $0 * 100 }
        let half = HalfPrecisionTensor(narrowing: Tensor(shape: [values.count], scalars: values).reshaped([10, -1]), format: format)
        #expect(half.shape == [10, values.count / 10] && !half.isMapped)
        let bits = values.map { format == .float16 ? HalfPrecision.float16Bits($0) : HalfPrecision.bfloat16Bits($0) }
        #expect(half.bitPatterns == bits)
        let widened = bits.map { format == .float16 ? HalfPrecision.float(float16Bits: $0) : HalfPrecision.float(bfloat16Bits: $0) }
        #expect(half.widened().scalars.map(\.bitPattern) == widened.map(\.bitPattern))
        #expect(HalfPrecisionTensor(shape: [2], format: format, bitPatterns: [bits[4], bits[5]]).widened().scalars
                    .map(\.bitPattern) == [widened[4].bitPattern, widened[5].bitPattern])
    }

    /// Sizes not multiples of the 12 x 32 tiles or 16-step transposes, one product past two
    /// depth blocks (k = 2100) and one whose 1100 columns take two packed-B blocks at depth 1030
    /// (so column ranges start inside the matrix). Products of 2 M multiply-adds or more are split
    /// between threads when two are allowed (by columns here, so each thread packs from its own
    /// first column).
    static let shapes: [HalfProductShape] = [
        (1, 1, 1), (1, 7, 13), (7, 13, 77), (13, 77, 300), (77, 300, 13), (300, 77, 130), (77, 320, 768),
        (33, 1100, 1030), (30, 70, 2100),
    ].map { HalfProductShape(m: $0.0, n: $0.1, k: $0.2) }

    @Test("GEMM with 16-bit B equals the Float32 GEMM on the widened B, bit for bit", arguments: shapes)
    func gemmMatchesWidened(_ shape: HalfProductShape) {
        let (m, n, k) = (shape.m, shape.n, shape.k)
        let a = kernelTestTensor([m, k], seed: 6)
        for format in HalfPrecisionTensor.Format.allCases {
            for transposeB in [true, false] {
                let b = halfWeights(transposeB ? [n, k] : [k, n], format: format, seed: 7)
                let wide = b.widened()
                for threads in [1, 2] {
                    var expected = Tensor(shape: [m, n]), actual = Tensor(shape: [m, n], repeating: .nan)
                    a.withUnsafeBufferPointer { pa in
                        wide.withUnsafeBufferPointer { pb in
                            expected.withUnsafeMutableBufferPointer { pc in
                                GEMM.sgemm(transposeA: false, transposeB: transposeB, m: m, n: n, k: k, alpha: 1,
                                           a: pa.baseAddress!, lda: k, b: pb.baseAddress!, ldb: transposeB ? k : n,
                                           beta: 0, c: pc.baseAddress!, ldc: n, threads: threads)
                            }
                        }
                        b.withUnsafeBytes { pb in
                            actual.withUnsafeMutableBufferPointer { pc in
                                GEMM.sgemm(transposeA: false, transposeB: transposeB, m: m, n: n, k: k, alpha: 1,
                                           a: pa.baseAddress!, lda: k, b: pb.baseAddress!, bFormat: format, ldb: transposeB ? k : n,
                                           beta: 0, c: pc.baseAddress!, ldc: n, threads: threads)
                            }
                        }
                    }
                    expectBitwiseEqual(actual, expected, "\(format), transposeB \(transposeB), \(threads) threads")
                }
            }
        }
    }

    @Test("the product is a real product: close to the naive triple loop", arguments: [HalfProductShape(m: 13, n: 77, k: 300)])
    func gemmAgainstNaive(_ shape: HalfProductShape) {
        let x = kernelTestTensor([shape.m, shape.k], seed: 8)
        let w = halfWeights([shape.n, shape.k], format: .bfloat16, seed: 9)
        expectKernelClose(x.matmul(transposed: w), Reference.matmul(x, w.widened().transposed().contiguous()), tolerance: 1e-5)
    }

    @Test("Tensor.matmul(transposed:) and matmul(_:) flatten leading axes and read strided inputs")
    func tensorEntries() {
        for format in HalfPrecisionTensor.Format.allCases {
            let w = halfWeights([45, 70], format: format, seed: 10)
            let x = kernelTestTensor([2, 33, 70], seed: 11)
            expectBitwiseEqual(x.matmul(transposed: w), x.matmul(w.widened().transposed()), "\(format) rank 3")
            let xt = kernelTestTensor([70, 19], seed: 12).transposed()  // [19, 70], read through strides
            expectBitwiseEqual(xt.matmul(transposed: w), xt.matmul(w.widened().transposed()), "\(format) transposed view")
            let v = kernelTestTensor([70], seed: 13)
            expectBitwiseEqual(v.matmul(transposed: w), v.matmul(w.widened().transposed()), "\(format) vector")
            let g = kernelTestTensor([3, 5, 45], seed: 14)
            expectBitwiseEqual(g.matmul(w), g.matmul(w.widened()), "\(format) untransposed")
        }
        let empty = HalfPrecisionTensor(narrowing: Tensor(shape: [4, 0]), format: .float16)
        #expect(kernelTestTensor([3, 0], seed: 15).matmul(transposed: empty).scalars == [Float](repeating: 0, count: 12))
    }
}
