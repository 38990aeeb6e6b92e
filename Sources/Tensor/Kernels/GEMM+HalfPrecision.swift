// GEMM with a 16-bit B operand: products with weights kept in binary16 or bfloat16.
//
// Contract: `x.matmul(transposed: w)` computes x · wᵀ for a 16-bit w [n, k] (how a linear
// layer stores its weight), `x.matmul(w)` computes x · w for w [k, n]; x is Float32 [..., k]
// and its leading axes are flattened into the rows of one product. The result is bit for bit
// the Float32 product with `w.widened()` (the same driver, blocking, thread split and
// micro-kernels, on identical packed panels), because widening is exact and packing only moves
// values. No Float32 copy of the whole weight is made: B is widened block by block as it is
// packed, so the weight's memory stays at 2 bytes per element.
//
// Packing (what `HalfPrecisionMatrix` adds over `StridedMatrix`, see GEMM+Packing.swift):
// - w [k, n] (B row-major): each step of a panel is up to 32 adjacent 16-bit values, widened
//   straight into the panel (two 16-lane widenings for a full panel).
// - w [n, k] (B transposed): a full panel's 32 rows of w are widened 64 steps at a time into a
//   buffer on the stack (8 KiB, stays in L1) and transposed from there by the Float32 packer's
//   register transpose (`GEMM.transposeRows`); the last kc % 16 steps and edge panels go through
//   the same buffer and the Float32 packer itself (`StridedMatrix.packB`), so the two paths
//   cannot lay panels out differently.
// Widening is F16C `vcvtph2ps` of 16 lanes for binary16 (exact, as
// `HalfPrecision.convertFloat16ToFloat`) and a 16-lane zero-extend, shift and NaN-quieting OR for
// bfloat16 (as `convertBFloat16ToFloat`); edges use those bulk converters themselves.

extension Tensor {
    /// `self · weightᵀ` for a 16-bit `weight` [n, k] (a linear layer's [out, in]): self [..., k]
    /// → [..., n], equal bit for bit to `self.matmul(weight.widened().transposed())`.
    public func matmul(transposed weight: HalfPrecisionTensor) -> Tensor {
        precondition(weight.rank == 2 && rank >= 1 && shape[rank - 1] == weight.shape[1],
                     "matmul(transposed:): input \(shape) does not end in the \(weight.rank == 2 ? weight.shape[1] : -1) columns of weight \(weight.shape)")
        if Kernels.useReference { return Reference.matmul(self, transposed: weight) }
        return halfPrecisionProduct(weight, transposed: true, n: weight.shape[0])
    }

    /// `self · weight` for a 16-bit `weight` [k, n]: self [..., k] → [..., n], equal bit for bit
    /// to `self.matmul(weight.widened())`.
    public func matmul(_ weight: HalfPrecisionTensor) -> Tensor {
        precondition(weight.rank == 2 && rank >= 1 && shape[rank - 1] == weight.shape[0],
                     "matmul: input \(shape) does not end in the \(weight.rank == 2 ? weight.shape[0] : -1) rows of weight \(weight.shape)")
        if Kernels.useReference { return Reference.matmul(self, weight) }
        return halfPrecisionProduct(weight, transposed: false, n: weight.shape[1])
    }

    /// The product of the rows of `self` (leading axes flattened) with the 16-bit B operand.
    private func halfPrecisionProduct(_ weight: HalfPrecisionTensor, transposed: Bool, n: Int) -> Tensor {
        let k = shape[rank - 1]
        let a = rank == 2 ? self : reshaped([-1, k])
        let m = a.shape[0]
        let result = TensorStorage(uninitializedCount: Swift.max(m * n, 1))
        weight.withUnsafeBytes { bytes in
            // `a`'s storage and the weight's bytes stay alive for the call (`withExtendedLifetime`,
            // `withUnsafeBytes`); the driver only reads them.
            let b = HalfPrecisionMatrix(base: bytes.baseAddress!, format: weight.format,
                                        rowLength: weight.shape[1], transposed: transposed)
            withExtendedLifetime(a) {
                GEMM.multiply(m: m, n: n, k: k, alpha: 1,
                              a: StridedMatrix(a.storage.pointer + a.offset, rowStride: a.strides[0], columnStride: a.strides[1]),
                              b: b, beta: 0, c: result.pointer, ldc: n, threads: Parallel.threadCount)
            }
        }
        let resultShape = Array(shape.dropLast()) + [n]
        return Tensor(storage: result, shape: resultShape, strides: Tensor.contiguousStrides(resultShape))
    }
}

extension GEMM {
    /// `C = alpha * op(A) · op(B) + beta * C` like `sgemm`, with B stored as 16-bit floats of
    /// `bFormat` (little-endian, any 2-byte alignment). Equal bit for bit to `sgemm` on the
    /// widened B with the same arguments.
    ///
    /// - Parameters:
    ///   - transposeB: when true, `op(B) = Bᵀ` and `b` holds an n x k matrix (a linear layer's
    ///     weight [out, in]); otherwise k x n.
    ///   - ldb: elements per stored row of B.
    ///   - threads: the most threads to use (default `Parallel.threadCount`).
    ///   The other parameters are those of `sgemm`.
    public static func sgemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafeRawPointer, bFormat: HalfPrecisionTensor.Format, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int = Parallel.threadCount
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0, "sgemm: negative size m=\(m) n=\(n) k=\(k)")
        let aMatrix = StridedMatrix(a, rowStride: transposeA ? 1 : lda, columnStride: transposeA ? lda : 1)
        let bMatrix = HalfPrecisionMatrix(base: b, format: bFormat, rowLength: ldb, transposed: transposeB)
        multiply(m: m, n: n, k: k, alpha: alpha, a: aMatrix, b: bMatrix, beta: beta, c: c, ldc: ldc, threads: threads)
    }
}

/// A row-major matrix of 16-bit floats playing B in `GEMM.multiply`, widened while it is packed
/// (see the file comment). With `transposed`, the stored matrix is Bᵀ (n rows of k values).
struct HalfPrecisionMatrix: GEMMPackableB, @unchecked Sendable {
    // @unchecked: the bytes are only read, and the caller keeps them alive for the call.
    /// Element (0, 0) of the stored matrix.
    let base: UnsafeRawPointer
    /// binary16 or bfloat16.
    let format: HalfPrecisionTensor.Format
    /// Elements per stored row: n for B stored [k, n], k for Bᵀ stored [n, k].
    let rowLength: Int
    /// Whether the stored matrix is Bᵀ.
    let transposed: Bool

    /// Steps widened per round by `packThroughBuffer`: 32 rows x 64 floats = 8 KiB on the stack.
    static let widenedSteps = 64

    func packB(depth: Range<Int>, columns: Range<Int>, into destination: UnsafeMutablePointer<Float>) {
        let kc = depth.count, width = GEMM.panelColumns
        if !transposed {
            // B row-major: step p of a panel is nr adjacent values of stored row p.
            var panel = destination
            var c0 = columns.lowerBound
            while c0 < columns.upperBound {
                let nr = Swift.min(width, columns.upperBound - c0)
                for p in 0..<kc {
                    let step = panel + p * width
                    let source = base + 2 * ((depth.lowerBound + p) * rowLength + c0)
                    if nr == width {
                        // Two 16-value loads widened in registers (the bulk loop's vector body needs
                        // more than 32 values).
                        let (low, high) = format == .float16
                            ? (Self.widenedFloat16(source), Self.widenedFloat16(source + 32))
                            : (Self.widenedBFloat16(source), Self.widenedBFloat16(source + 32))
                        UnsafeMutableRawPointer(step).storeBytes(of: low, as: SIMD16<Float>.self)
                        UnsafeMutableRawPointer(step + 16).storeBytes(of: high, as: SIMD16<Float>.self)
                    } else {
                        HalfPrecisionTensor.widen(source, format: format, into: step, count: nr)
                        for j in nr..<width { step[j] = 0 }
                    }
                }
                panel += width * kc
                c0 += width
            }
            return
        }
        // Bᵀ stored: a full panel's 32 rows are widened 64 steps at a time (`widenRows`, 16 lanes
        // per instruction) into a buffer on the stack (32 x 64 floats, 8 KiB, stays in L1) and
        // transposed from there by the Float32 packer's register transpose (`GEMM.transposeRows`).
        // The last kc % 16 steps and edge panels are widened by the bulk converter and packed by
        // the Float32 packer (`packThroughBuffer`).
        withUnsafeTemporaryAllocation(of: Float.self, capacity: width * Self.widenedSteps) { buffer in
            let widened = buffer.baseAddress!
            var panel = destination
            var c0 = columns.lowerBound
            while c0 < columns.upperBound {
                let nr = Swift.min(width, columns.upperBound - c0)
                let rows = base + 2 * (c0 * rowLength + depth.lowerBound)
                var first = 0
                if nr == width {
                    while first + 16 <= kc {
                        let steps = Swift.min(Self.widenedSteps, (kc - first) / 16 * 16)
                        Self.widenRows(rows + 2 * first, rowLength: rowLength, steps: steps, format: format, into: widened)
                        for block in stride(from: 0, to: steps, by: 16) {
                            GEMM.transposeRows(groups: width / 4, widened + block, rowStride: steps,
                                               into: panel + (first + block) * width, stepStride: width)
                        }
                        first += steps
                    }
                }
                if first < kc {
                    packThroughBuffer(rows + 2 * first, rows: nr, steps: kc - first, buffer: widened,
                                      into: panel + first * width)
                }
                panel += width * kc
                c0 += width
            }
        }
    }

    /// Widens `steps` (a multiple of 16) values of each of 32 stored rows at `source`
    /// (`rowLength` elements apart) into `destination`, row j at `destination + j * steps`.
    /// Kept out of line: inlined into the transpose that reads the buffer, LLVM fused the two
    /// into per-element half loads and 4-lane conversions (several times slower).
    @inline(never)
    static func widenRows(_ source: UnsafeRawPointer, rowLength: Int, steps: Int, format: HalfPrecisionTensor.Format,
                          into destination: UnsafeMutablePointer<Float>) {
        let d = UnsafeMutableRawPointer(destination)
        for j in 0..<GEMM.panelColumns {
            let row = source + 2 * j * rowLength, out = d + 4 * j * steps
            for block in stride(from: 0, to: steps, by: 16) {
                let values = format == .float16 ? widenedFloat16(row + 2 * block) : widenedBFloat16(row + 2 * block)
                out.storeBytes(of: values, toByteOffset: 4 * block, as: SIMD16<Float>.self)
            }
        }
    }

    /// 16 binary16 values widened (exact, as `HalfPrecision.convertFloat16ToFloat`). Written as a
    /// 16-step loop, which LLVM turns into one `vcvtph2ps` of 16 lanes; the standard library's
    /// `SIMD16<Float>(SIMD16<Float16>)` is an out-of-line call converting 4 lanes at a time.
    @inline(__always)
    static func widenedFloat16(_ source: UnsafeRawPointer) -> SIMD16<Float> {
        var result = SIMD16<Float>()
        for i in 0..<16 { result[i] = Float(Float16(bitPattern: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
        return result
    }

    /// 16 bfloat16 values widened as `HalfPrecision.convertBFloat16ToFloat` does: shifted into
    /// the top half, NaNs made quiet, the quiet bit being (0x7f800000 − |bits| < 0) · 2²² in
    /// integer lanes. A 16-step loop again (one `vpmovzxwd` and shift of 16 lanes, a masked OR);
    /// the standard library's lane conversions and `replacing(with:where:)` are calls and loops.
    @inline(__always)
    static func widenedBFloat16(_ source: UnsafeRawPointer) -> SIMD16<Float> {
        var bits = SIMD16<UInt32>()
        for i in 0..<16 { bits[i] = UInt32(source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) &<< 16 }
        let quiet = ((0x7f80_0000 &- (bits & 0x7fff_ffff)) &>> 31) &<< 22
        return unsafeBitCast(bits | quiet, to: SIMD16<Float>.self)
    }

    /// Packs `steps` steps of `rows` stored rows of Bᵀ (from `source`) into one panel at
    /// `destination`: widened `widenedSteps` steps at a time into `buffer` (32 x 64 floats) by the
    /// bulk converter, then packed by the Float32 packer (`StridedMatrix.packB`: its register
    /// transposes, gathers and zero padding of the columns past `rows`).
    func packThroughBuffer(_ source: UnsafeRawPointer, rows: Int, steps: Int, buffer: UnsafeMutablePointer<Float>,
                           into destination: UnsafeMutablePointer<Float>) {
        var p0 = 0
        while p0 < steps {
            let count = Swift.min(Self.widenedSteps, steps - p0)
            for j in 0..<rows {
                HalfPrecisionTensor.widen(source + 2 * (j * rowLength + p0), format: format, into: buffer + j * count, count: count)
            }
            StridedMatrix(buffer, rowStride: 1, columnStride: count)
                .packB(depth: 0..<count, columns: 0..<rows, into: destination + p0 * GEMM.panelColumns)
            p0 += count
        }
    }
}
