// GEMM packing: copying blocks of the operands into the panel order the micro-kernels read.
//
// Contract: `packA` writes rows `rows` x steps `depth` of A as consecutive panels of
// `GEMM.panelRows` rows, each stored step by step (12 values per step of k), rows past the end
// padded with zeros. `packB` writes steps `depth` x columns `columns` of B as panels of
// `GEMM.panelColumns` columns, each stored step by step (32 values per step), padded with zeros.
// Any operand that can do this (a strided matrix, an implicit im2col matrix) feeds the same driver.

extension GEMM {
    /// Copies `count` contiguous floats with the widest vector moves that fit (16, 8, 4 lanes,
    /// then single floats): the inner copy of every packer whose source runs are contiguous.
    @inline(__always)
    static func copyFloats(_ source: UnsafePointer<Float>, to destination: UnsafeMutablePointer<Float>, count: Int) {
        var t = 0
        let s = UnsafeRawPointer(source), d = UnsafeMutableRawPointer(destination)
        while t + 16 <= count {
            d.storeBytes(of: s.loadUnaligned(fromByteOffset: 4 * t, as: SIMD16<Float>.self), toByteOffset: 4 * t,
                         as: SIMD16<Float>.self)
            t += 16
        }
        if t + 8 <= count {
            d.storeBytes(of: s.loadUnaligned(fromByteOffset: 4 * t, as: SIMD8<Float>.self), toByteOffset: 4 * t,
                         as: SIMD8<Float>.self)
            t += 8
        }
        if t + 4 <= count {
            d.storeBytes(of: s.loadUnaligned(fromByteOffset: 4 * t, as: SIMD4<Float>.self), toByteOffset: 4 * t,
                         as: SIMD4<Float>.self)
            t += 4
        }
        while t < count { destination[t] = source[t]; t += 1 }
    }

    /// Packs 16 steps of `4 * groups` rows of a row-major matrix (row i at `source + i * rowStride`)
    /// into panel order: step p's values at `destination + p * stepStride`, row i at lane i. Each
    /// group of 4 rows is transposed with two rounds of in-lane interleaves (`vunpcklps`/`vunpckhps`,
    /// then the 64-bit `vunpcklpd`/`vunpckhpd`), after which every 128-bit lane holds one step's 4
    /// values and is stored as is: per group 4 loads, 8 shuffles and 16 four-float stores, with few
    /// enough live registers to avoid the spills of a full 16 x 16 register transpose.
    @inline(__always)
    static func transposeRows(groups: Int, _ source: UnsafePointer<Float>, rowStride: Int,
                              into destination: UnsafeMutablePointer<Float>, stepStride: Int) {
        let d = UnsafeMutableRawPointer(destination)
        let stepBytes = 4 * stepStride
        for group in 0..<groups {
            let row = source + 4 * group * rowStride
            let r0 = UnsafeRawPointer(row).loadUnaligned(as: SIMD16<Float>.self)
            let r1 = UnsafeRawPointer(row + rowStride).loadUnaligned(as: SIMD16<Float>.self)
            let r2 = UnsafeRawPointer(row + 2 * rowStride).loadUnaligned(as: SIMD16<Float>.self)
            let r3 = UnsafeRawPointer(row + 3 * rowStride).loadUnaligned(as: SIMD16<Float>.self)
            // Within each 128-bit lane L (steps 4L ..< 4L + 4): t01lo = (r0[4L], r1[4L], r0[4L+1], r1[4L+1]), ...
            let t01lo = interleaveFloats(r0, r1, from: 0), t01hi = interleaveFloats(r0, r1, from: 2)
            let t23lo = interleaveFloats(r2, r3, from: 0), t23hi = interleaveFloats(r2, r3, from: 2)
            // u_j's lane L is step 4L + j: (r0, r1, r2, r3) at that step.
            let u0 = interleavePairs(t01lo, t23lo, from: 0), u1 = interleavePairs(t01lo, t23lo, from: 2)
            let u2 = interleavePairs(t01hi, t23hi, from: 0), u3 = interleavePairs(t01hi, t23hi, from: 2)
            // Lane L of u_j goes to step 4L + j. The quarters are taken with constant
            // `lowHalf`/`highHalf` splits (a loop over L with computed indices spills u_j to the
            // stack and rebuilds each quarter one float at a time: packing ran several times slower).
            let base = 16 * group  // bytes: rows 4 group ..< 4 group + 4 of a step
            storeQuarters(u0, d + base, stepBytes: stepBytes)
            storeQuarters(u1, d + base + stepBytes, stepBytes: stepBytes)
            storeQuarters(u2, d + base + 2 * stepBytes, stepBytes: stepBytes)
            storeQuarters(u3, d + base + 3 * stepBytes, stepBytes: stepBytes)
        }
    }

    /// In each 128-bit lane L: (a[4L + o], b[4L + o], a[4L + o + 1], b[4L + o + 1]) for o = `from`
    /// (`vunpcklps` for 0, `vunpckhps` for 2).
    @inline(__always)
    static func interleaveFloats(_ a: SIMD16<Float>, _ b: SIMD16<Float>, from o: Int) -> SIMD16<Float> {
        SIMD16(a[o], b[o], a[o + 1], b[o + 1], a[o + 4], b[o + 4], a[o + 5], b[o + 5],
               a[o + 8], b[o + 8], a[o + 9], b[o + 9], a[o + 12], b[o + 12], a[o + 13], b[o + 13])
    }

    /// In each 128-bit lane L: (a[4L + o], a[4L + o + 1], b[4L + o], b[4L + o + 1]) for o = `from`
    /// (`vunpcklpd` for 0, `vunpckhpd` for 2: pairs of floats moved as one).
    @inline(__always)
    static func interleavePairs(_ a: SIMD16<Float>, _ b: SIMD16<Float>, from o: Int) -> SIMD16<Float> {
        SIMD16(a[o], a[o + 1], b[o], b[o + 1], a[o + 4], a[o + 5], b[o + 4], b[o + 5],
               a[o + 8], a[o + 9], b[o + 8], b[o + 9], a[o + 12], a[o + 13], b[o + 12], b[o + 13])
    }

    /// Stores the four 128-bit quarters of `u` at `destination` + 0, 4, 8 and 12 steps.
    @inline(__always)
    static func storeQuarters(_ u: SIMD16<Float>, _ destination: UnsafeMutableRawPointer, stepBytes: Int) {
        destination.storeBytes(of: u.lowHalf.lowHalf, as: SIMD4<Float>.self)
        destination.storeBytes(of: u.lowHalf.highHalf, toByteOffset: 4 * stepBytes, as: SIMD4<Float>.self)
        destination.storeBytes(of: u.highHalf.lowHalf, toByteOffset: 8 * stepBytes, as: SIMD4<Float>.self)
        destination.storeBytes(of: u.highHalf.highHalf, toByteOffset: 12 * stepBytes, as: SIMD4<Float>.self)
    }

    /// Writes one step of a panel `width` floats wide (`panelRows` or `panelColumns`): the
    /// `count` contiguous floats at `source`, then zeros up to `width` (the edge panel's padding).
    @inline(__always)
    static func packStep(_ source: UnsafePointer<Float>, count: Int, width: Int, into destination: UnsafeMutablePointer<Float>) {
        copyFloats(source, to: destination, count: count)
        for t in count..<width { destination[t] = 0 }
    }
}

/// An operand that can play A (m x k) in `GEMM.multiply`.
protocol GEMMPackableA: Sendable {
    /// Packs rows `rows` and steps `depth` into 12-row panels at `destination`.
    func packA(rows: Range<Int>, depth: Range<Int>, into destination: UnsafeMutablePointer<Float>)
    /// For an operand stored already packed (`PackedMatrix`): the first panel of `rows` at step
    /// `depth.lowerBound`, panels `12 * k` floats apart; nil (the default) to have it packed.
    func packedPanelsA(rows: Range<Int>, depth: Range<Int>) -> UnsafePointer<Float>?
}

/// An operand that can play B (k x n) in `GEMM.multiply`.
protocol GEMMPackableB: Sendable {
    /// Packs steps `depth` and columns `columns` into 32-column panels at `destination`.
    func packB(depth: Range<Int>, columns: Range<Int>, into destination: UnsafeMutablePointer<Float>)
    /// For an operand stored already packed (`PackedMatrix`): the first panel of `columns` at step
    /// `depth.lowerBound`, panels `32 * k` floats apart; nil (the default) to have it packed.
    func packedPanelsB(depth: Range<Int>, columns: Range<Int>) -> UnsafePointer<Float>?
}

extension GEMMPackableA {
    func packedPanelsA(rows: Range<Int>, depth: Range<Int>) -> UnsafePointer<Float>? { nil }
}

extension GEMMPackableB {
    func packedPanelsB(depth: Range<Int>, columns: Range<Int>) -> UnsafePointer<Float>? { nil }
}

/// An operand stored in the packed panel layout for all of its depth: as A, panels of
/// `GEMM.panelRows` rows each holding `depth` steps of 12 values (rows past m zero); as B, panels
/// of `GEMM.panelColumns` columns each holding `depth` steps of 32 values. The product reads it in
/// place, so an operand used by many products (a transformed weight) or written directly in this
/// layout (Winograd's transformed input) is never packed again. The driver's row and column
/// splits start on panel boundaries, which is what makes the in-place panels line up.
struct PackedMatrix: GEMMPackableA, GEMMPackableB, @unchecked Sendable {
    // @unchecked: the pointer is only read, and the caller keeps the memory alive for the call.
    /// The first panel.
    let base: UnsafePointer<Float>
    /// Steps of k per panel (the operand's whole depth).
    let depth: Int

    func packedPanelsA(rows: Range<Int>, depth range: Range<Int>) -> UnsafePointer<Float>? {
        precondition(rows.lowerBound % GEMM.panelRows == 0, "PackedMatrix: rows must start on a panel")
        return base + rows.lowerBound * depth + range.lowerBound * GEMM.panelRows
    }

    func packedPanelsB(depth range: Range<Int>, columns: Range<Int>) -> UnsafePointer<Float>? {
        precondition(columns.lowerBound % GEMM.panelColumns == 0, "PackedMatrix: columns must start on a panel")
        return base + columns.lowerBound * depth + range.lowerBound * GEMM.panelColumns
    }

    /// Not used: the driver reads the panels in place (see `packedPanelsA`).
    func packA(rows: Range<Int>, depth range: Range<Int>, into destination: UnsafeMutablePointer<Float>) {
        preconditionFailure("PackedMatrix is read in place")
    }

    /// Not used: the driver reads the panels in place (see `packedPanelsB`).
    func packB(depth range: Range<Int>, columns: Range<Int>, into destination: UnsafeMutablePointer<Float>) {
        preconditionFailure("PackedMatrix is read in place")
    }
}

/// A matrix read in place through a base pointer and two strides: element (i, j) is
/// `base[i * rowStride + j * columnStride]`. A transposed matrix is the same memory with the
/// strides swapped, so transposes cost nothing.
struct StridedMatrix: GEMMPackableA, GEMMPackableB, @unchecked Sendable {
    // @unchecked: the pointer is only read, and the caller keeps the memory alive for the call.
    /// The element (0, 0).
    let base: UnsafePointer<Float>
    /// Elements between vertically adjacent entries.
    let rowStride: Int
    /// Elements between horizontally adjacent entries.
    let columnStride: Int

    /// A strided view of the matrix at `base`.
    init(_ base: UnsafePointer<Float>, rowStride: Int, columnStride: Int) {
        self.base = base
        self.rowStride = rowStride
        self.columnStride = columnStride
    }

    func packA(rows: Range<Int>, depth: Range<Int>, into destination: UnsafeMutablePointer<Float>) {
        let kc = depth.count, height = GEMM.panelRows
        var panel = destination
        var r0 = rows.lowerBound
        while r0 < rows.upperBound {
            let mr = Swift.min(height, rows.upperBound - r0)
            let source = base + r0 * rowStride + depth.lowerBound * columnStride
            if rowStride == 1 {
                // Aᵀ stored row-major: the 12 values of one step are adjacent.
                for p in 0..<kc { GEMM.packStep(source + p * columnStride, count: mr, width: height, into: panel + p * height) }
            } else {
                // Row-major A: transpose 12 rows x 16 steps at a time in registers, then gather the
                // rest. (A plain loop writing with stride 12 vectorizes into AVX-512 scatters,
                // which are microcoded and many times slower on AMD Zen 4.)
                var first = 0
                if columnStride == 1 && mr == height {
                    while first + 16 <= kc {
                        GEMM.transposeRows(groups: 3, source + first, rowStride: rowStride, into: panel + first * height, stepStride: height)
                        first += 16
                    }
                }
                for p in first..<kc {
                    let s = source + p * columnStride, d = panel + p * height
                    for i in 0..<mr { d[i] = s[i * rowStride] }
                    for i in mr..<height { d[i] = 0 }
                }
            }
            panel += height * kc
            r0 += height
        }
    }

    func packB(depth: Range<Int>, columns: Range<Int>, into destination: UnsafeMutablePointer<Float>) {
        let kc = depth.count, width = GEMM.panelColumns
        var panel = destination
        var c0 = columns.lowerBound
        while c0 < columns.upperBound {
            let nr = Swift.min(width, columns.upperBound - c0)
            let source = base + depth.lowerBound * rowStride + c0 * columnStride
            if columnStride == 1 {
                // Row-major B: each step is nr adjacent values (two vector copies for a full panel).
                for p in 0..<kc { GEMM.packStep(source + p * rowStride, count: nr, width: width, into: panel + p * width) }
            } else {
                // Bᵀ stored row-major: transpose 32 columns x 16 steps at a time in registers; other
                // strides and the rest gather, writing contiguously (see packA).
                var first = 0
                if rowStride == 1 && nr == width {
                    while first + 16 <= kc {
                        GEMM.transposeRows(groups: 8, source + first, rowStride: columnStride,
                                           into: panel + first * width, stepStride: width)
                        first += 16
                    }
                }
                for p in first..<kc {
                    let s = source + p * rowStride, d = panel + p * width
                    for j in 0..<nr { d[j] = s[j * columnStride] }
                    for j in nr..<width { d[j] = 0 }
                }
            }
            panel += width * kc
            c0 += width
        }
    }
}
