// Scaled dot-product attention, computed block by block with an online softmax.
//
// Contract: `scaledDotProductAttention` equals PyTorch's `F.scaled_dot_product_attention`
// (no dropout): out = softmax(scale · Q Kᵀ + mask) V over the last two axes, scale defaulting to
// 1/sqrt(D) (Vaswani et al., "Attention Is All You Need", 2017, eq. 1); `causal` keeps key j for
// query i only when j <= i (top-left aligned, like `is_causal=True`). Leading (batch, head) axes
// broadcast. Memory: only a `queryBlock` x `keyBlock` tile of the score matrix exists at a time
// per thread, never the full Tq x Tk matrix (4096 tokens: 256 KiB per thread instead of 64 MiB
// per head).
//
// Algorithm (online softmax, Milakov & Gimelshein 2018; FlashAttention, Dao et al. 2022, Alg. 1):
// for a block of query rows keep the running row maximum m, the running sum l of exp(s - m),
// and the unnormalized output O. For each block of keys: S = Q Kᵀ (GEMM); m' = max(m, rowmax S);
// P = exp(S - m'); l = exp(m - m') l + rowsum P; O = exp(m - m') O + P V (GEMM); finally O / l.
// Scores are kept in base 2 (the GEMM multiplies by scale · log2 e), so every exp is an exp2.
//
// Reference: `Reference.scaledDotProductAttention` (Reference/Reference+Attention.swift) stores
// the whole score matrix and takes one softmax per row; the tests compare the two, and in
// `Kernels.mode == .reference` this function returns it.

import Foundation

/// Queries per block: two 32-wide GEMM panels.
let attentionQueryBlock = 64
/// Keys per block (a multiple of the 12-row GEMM panel): the score tile is 240 x 64 floats.
let attentionKeyBlock = 240

/// 2^x for each lane, with about 1 ULP relative error for x >= -126 (x <= -127 gives exactly 0).
///
/// Splits x = n + f with n = round(x), |f| <= 1/2; 2^f is the degree-6 Taylor polynomial of
/// e^(f ln 2) (truncation error < 1.3e-7) and 2^n is built in the exponent bits.
@_transparent
func exp2Vector(_ x: SIMD16<Float>) -> SIMD16<Float> {
    let t = lanewiseMax(lanewiseMin(x, SIMD16(repeating: 127)), SIMD16(repeating: -127))
    // Adding 1.5 * 2^23 rounds t to an integer n held in the low mantissa bits.
    let shifter = SIMD16<Float>(repeating: 12_582_912)
    let shifted = t + shifter
    let n = shifted - shifter
    let f = t - n
    var p = SIMD16<Float>(repeating: 1.540_353_039_338_160_6e-4)
    p = SIMD16(repeating: 1.333_355_814_642_844_3e-3).addingProduct(p, f)
    p = SIMD16(repeating: 9.618_129_107_628_477e-3).addingProduct(p, f)
    p = SIMD16(repeating: 5.550_410_866_482_158e-2).addingProduct(p, f)
    p = SIMD16(repeating: 0.240_226_506_959_100_7).addingProduct(p, f)
    p = SIMD16(repeating: 0.693_147_180_559_945_3).addingProduct(p, f)
    p = SIMD16(repeating: 1).addingProduct(p, f)
    let bits = (unsafeBitCast(shifted, to: SIMD16<Int32>.self) &+ 127) &<< 23
    return p * unsafeBitCast(bits, to: SIMD16<Float>.self)
}

/// The larger of each pair of lanes (a compare and a blend; the standard library's generic
/// `pointwiseMax` is not inlined and runs lane by lane).
@_transparent
func lanewiseMax(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> { a.replacing(with: b, where: a .< b) }

/// The smaller of each pair of lanes.
@_transparent
func lanewiseMin(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> { a.replacing(with: b, where: b .< a) }

/// Attention `softmax(scale · Q Kᵀ) V` over the last two axes, computed in blocks with an online
/// softmax so that no more than a small tile of the score matrix is ever stored.
///
/// The work runs transposed, so the softmax vectorizes across queries and every GEMM operand
/// is either packed once per call or produced already packed: per block, Sᵀ = K Qᵀ (keys x
/// queries, written straight into the GEMM's packed-B layout), the softmax runs down each
/// column, and Oᵀ += Vᵀ Pᵀ.
///
/// - Parameters:
///   - query: [..., Tq, D]. - key: [..., Tk, D]. - value: [..., Tk, Dv]. Leading axes broadcast.
///   - scale: the logit scale; nil means 1/sqrt(D).
///   - causal: when true, query i attends only to keys j <= i.
/// - Returns: [broadcast(...), Tq, Dv], contiguous.
public func scaledDotProductAttention(query: Tensor, key: Tensor, value: Tensor, scale: Float? = nil,
                                      causal: Bool = false) -> Tensor {
    if Kernels.useReference {
        return Reference.scaledDotProductAttention(query: query, key: key, value: value, scale: scale, causal: causal)
    }
    let plan = AttentionPlan(query: query, key: key, value: value)
    let (tq, tk, d, dv) = (plan.queryCount, plan.keyCount, plan.depth, plan.valueDepth)
    let batches = plan.batchOffsets.count
    let output = TensorStorage(uninitializedCount: Swift.max(1, batches * tq * dv))
    if batches == 0 || tq == 0 || dv == 0 {
        return Tensor(storage: output, shape: plan.resultShape, strides: Tensor.contiguousStrides(plan.resultShape))
    }
    let logScale = (scale ?? 1 / Float(d).squareRoot()) * 1.442_695_040_888_963_4  // scale · log2(e)
    let (rowsPerPanel, columnsPerPanel) = (GEMM.panelRows, GEMM.panelColumns)
    // K packed as GEMM A panels (keys x D) and Vᵀ packed as A panels (Dv x keys, one run per key
    // block), once per call for every batch entry.
    let paddedKeys = GEMM.roundUp(tk, to: rowsPerPanel)
    let paddedValueRows = GEMM.roundUp(dv, to: rowsPerPanel)
    let packedKeySize = paddedKeys * d, packedValueSize = paddedValueRows * tk
    let packed = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(1, batches * (packedKeySize + packedValueSize)))
    defer { packed.deallocate() }
    // Read-only operand storage kept alive by withExtendedLifetime. Prepacking writes each batch
    // entry's own region of `packed`; each attention task writes its own query block of `out`.
    nonisolated(unsafe) let qp = query.storage.pointer
    nonisolated(unsafe) let kp = key.storage.pointer
    nonisolated(unsafe) let vp = value.storage.pointer
    nonisolated(unsafe) let packedBase = packed
    nonisolated(unsafe) let out = output.pointer
    let queryBlocks = (tq + attentionQueryBlock - 1) / attentionQueryBlock
    withExtendedLifetime((query, key, value)) {
        parallelFor(batches) { batch in
            let offsets = plan.batchOffsets[batch]
            let keys = StridedMatrix(kp + offsets.key, rowStride: plan.keyStrides.row, columnStride: plan.keyStrides.column)
            keys.packA(rows: 0..<tk, depth: 0..<d, into: packedBase + batch * packedKeySize)
            let valuesT = StridedMatrix(vp + offsets.value, rowStride: plan.valueStrides.column, columnStride: plan.valueStrides.row)
            let valueBase = packedBase + batches * packedKeySize + batch * packedValueSize
            var j0 = 0
            while j0 < tk {
                let kb = Swift.min(attentionKeyBlock, tk - j0)
                valuesT.packA(rows: 0..<dv, depth: j0..<(j0 + kb), into: valueBase + paddedValueRows * j0)
                j0 += kb
            }
        }
        parallelFor(chunking: batches * queryBlocks) { range in
            let qb = attentionQueryBlock
            let queryPanel = UnsafeMutablePointer<Float>.allocate(capacity: d * qb)
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: attentionKeyBlock * qb)
            let accumulator = UnsafeMutablePointer<Float>.allocate(capacity: paddedValueRows * qb)
            let runningMax = UnsafeMutablePointer<Float>.allocate(capacity: qb)
            let runningSum = UnsafeMutablePointer<Float>.allocate(capacity: qb)
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: rowsPerPanel * columnsPerPanel)
            defer {
                queryPanel.deallocate(); scores.deallocate(); accumulator.deallocate()
                runningMax.deallocate(); runningSum.deallocate(); scratch.deallocate()
            }
            for task in range {
                let batch = task / queryBlocks
                let i0 = (task % queryBlocks) * qb
                let queries = Swift.min(qb, tq - i0)
                let panels = (queries + columnsPerPanel - 1) / columnsPerPanel
                let width = panels * columnsPerPanel  // queries including zero padding
                let offsets = plan.batchOffsets[batch]
                // Qᵀ (D x queries) as B panels.
                StridedMatrix(qp + offsets.query, rowStride: plan.queryStrides.column, columnStride: plan.queryStrides.row)
                    .packB(depth: 0..<d, columns: i0..<(i0 + queries), into: queryPanel)
                accumulator.update(repeating: 0, count: paddedValueRows * width)
                runningMax.update(repeating: -.infinity, count: width)
                runningSum.update(repeating: 0, count: width)
                let keyEnd = causal ? Swift.min(tk, i0 + queries) : tk
                let keyBase = packedBase + batch * packedKeySize
                let valueBase = packedBase + batches * packedKeySize + batch * packedValueSize
                var j0 = 0
                while j0 < keyEnd {
                    let kb = Swift.min(attentionKeyBlock, tk - j0)
                    // Sᵀ = (scale log2 e) K Qᵀ, panel by panel of 32 queries, so that each panel's
                    // kb x 32 rows are already the packed B operand of the second product.
                    for panel in 0..<panels {
                        let tileB = UnsafePointer(queryPanel + panel * d * columnsPerPanel)
                        let target = scores + panel * kb * columnsPerPanel
                        var ir = 0
                        while ir < kb {
                            GEMM.tile(rows: Swift.min(rowsPerPanel, kb - ir), columns: columnsPerPanel, kc: d,
                                      a: UnsafePointer(keyBase + (j0 + ir) * d), b: tileB,
                                      c: target + ir * columnsPerPanel, ldc: columnsPerPanel,
                                      alpha: logScale, beta: 0, scratch: scratch)
                            ir += rowsPerPanel
                        }
                        if causal { maskFutureKeys(target, keys: kb, firstKey: j0, firstQuery: i0 + panel * columnsPerPanel) }
                        softmaxStep(scores: target, keys: kb, runningMax: runningMax + panel * columnsPerPanel,
                                    runningSum: runningSum + panel * columnsPerPanel,
                                    accumulator: accumulator + panel * columnsPerPanel, accumulatorRows: dv,
                                    accumulatorStride: width)
                    }
                    // Oᵀ += Vᵀ Pᵀ.
                    let valueBlock = valueBase + paddedValueRows * j0
                    var ir = 0
                    while ir < dv {
                        for panel in 0..<panels {
                            GEMM.tile(rows: Swift.min(rowsPerPanel, dv - ir), columns: columnsPerPanel, kc: kb,
                                      a: UnsafePointer(valueBlock + ir * kb),
                                      b: UnsafePointer(scores + panel * kb * columnsPerPanel),
                                      c: accumulator + ir * width + panel * columnsPerPanel, ldc: width,
                                      alpha: 1, beta: 1, scratch: scratch)
                        }
                        ir += rowsPerPanel
                    }
                    j0 += kb
                }
                // O = (Oᵀ)ᵀ / l.
                let o = out + (batch * tq + i0) * dv
                for i in 0..<queries {
                    let inverse = 1 / runningSum[i]
                    for c in 0..<dv { o[i * dv + c] = accumulator[c * width + i] * inverse }
                }
            }
        }
    }
    return Tensor(storage: output, shape: plan.resultShape, strides: Tensor.contiguousStrides(plan.resultShape))
}

/// Sets the scores of keys after each query to -infinity in a keys x 32 tile of Sᵀ.
@inline(__always)
private func maskFutureKeys(_ tile: UnsafeMutablePointer<Float>, keys: Int, firstKey: Int, firstQuery: Int) {
    let width = GEMM.panelColumns
    for j in 0..<keys {
        // Query firstQuery + c sees key firstKey + j when firstKey + j <= firstQuery + c.
        let firstHidden = Swift.max(0, Swift.min(width, firstKey + j - firstQuery))
        (tile + j * width).update(repeating: -.infinity, count: firstHidden)
    }
}

/// One online-softmax step for 32 queries (columns) over a keys x 32 tile of base-2 scores Sᵀ:
/// updates each column's running maximum m and sum l, rescales the accumulator columns by
/// 2^(m_old - m_new), and replaces the scores by P = 2^(S - m_new).
@inline(__always)
private func softmaxStep(scores: UnsafeMutablePointer<Float>, keys: Int, runningMax: UnsafeMutablePointer<Float>,
                         runningSum: UnsafeMutablePointer<Float>, accumulator: UnsafeMutablePointer<Float>,
                         accumulatorRows: Int, accumulatorStride: Int) {
    let width = GEMM.panelColumns
    func load(_ p: UnsafeMutablePointer<Float>) -> SIMD16<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self) }
    func store(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self) }
    let oldMax0 = load(runningMax), oldMax1 = load(runningMax + 16)
    var max0 = oldMax0, max1 = oldMax1
    for j in 0..<keys {
        max0 = lanewiseMax(max0, load(scores + j * width))
        max1 = lanewiseMax(max1, load(scores + j * width + 16))
    }
    let correction0 = exp2Vector(oldMax0 - max0), correction1 = exp2Vector(oldMax1 - max1)
    var sum0 = SIMD16<Float>(), sum1 = SIMD16<Float>()
    for j in 0..<keys {
        let row = scores + j * width
        let p0 = exp2Vector(load(row) - max0), p1 = exp2Vector(load(row + 16) - max1)
        store(p0, row); store(p1, row + 16)
        sum0 += p0; sum1 += p1
    }
    store(max0, runningMax); store(max1, runningMax + 16)
    store(load(runningSum) * correction0 + sum0, runningSum)
    store(load(runningSum + 16) * correction1 + sum1, runningSum + 16)
    for c in 0..<accumulatorRows {
        let row = accumulator + c * accumulatorStride
        store(load(row) * correction0, row)
        store(load(row + 16) * correction1, row + 16)
    }
}

/// Shapes, strides and broadcast batch offsets of an attention call.
struct AttentionPlan {
    /// Query rows, key rows, query/key depth and value depth.
    let queryCount: Int, keyCount: Int, depth: Int, valueDepth: Int
    /// Row and column strides of each operand's matrices.
    let queryStrides: (row: Int, column: Int), keyStrides: (row: Int, column: Int), valueStrides: (row: Int, column: Int)
    /// Storage offsets of the three matrices for each entry of the broadcast batch shape.
    let batchOffsets: [(query: Int, key: Int, value: Int)]
    /// [broadcast batch..., Tq, Dv].
    let resultShape: [Int]

    init(query: Tensor, key: Tensor, value: Tensor) {
        precondition(query.rank >= 2 && key.rank >= 2 && value.rank >= 2,
                     "attention: query \(query.shape), key \(key.shape), value \(value.shape) must have rank >= 2")
        queryCount = query.shape[query.rank - 2]
        depth = query.shape[query.rank - 1]
        keyCount = key.shape[key.rank - 2]
        valueDepth = value.shape[value.rank - 1]
        precondition(key.shape[key.rank - 1] == depth,
                     "attention: key \(key.shape) must have the query's depth \(depth) (query \(query.shape))")
        precondition(value.shape[value.rank - 2] == keyCount,
                     "attention: value \(value.shape) must have one row per key (key \(key.shape))")
        let qb = Array(query.shape.dropLast(2)), kb = Array(key.shape.dropLast(2)), vb = Array(value.shape.dropLast(2))
        guard let qk = Tensor.broadcastShape(qb, kb), let batch = Tensor.broadcastShape(qk, vb) else {
            preconditionFailure("attention: batch shapes \(qb), \(kb), \(vb) do not broadcast")
        }
        let q = query.expanded(to: batch + [queryCount, depth])
        let k = key.expanded(to: batch + [keyCount, depth])
        let v = value.expanded(to: batch + [keyCount, valueDepth])
        queryStrides = (q.strides[batch.count], q.strides[batch.count + 1])
        keyStrides = (k.strides[batch.count], k.strides[batch.count + 1])
        valueStrides = (v.strides[batch.count], v.strides[batch.count + 1])
        var queryOffsets = [Int](), keyOffsets = [Int](), valueOffsets = [Int]()
        let batchStrides = { (t: Tensor) in Array(t.strides.prefix(batch.count)) }
        Tensor.forEachOffset(shape: batch, strides: batchStrides(q), offset: q.offset) { queryOffsets.append($0) }
        Tensor.forEachOffset(shape: batch, strides: batchStrides(k), offset: k.offset) { keyOffsets.append($0) }
        Tensor.forEachOffset(shape: batch, strides: batchStrides(v), offset: v.offset) { valueOffsets.append($0) }
        batchOffsets = (0..<queryOffsets.count).map { (queryOffsets[$0], keyOffsets[$0], valueOffsets[$0]) }
        resultShape = batch + [queryCount, valueDepth]
    }
}
