// HalfPrecision: IEEE binary16 (Float16) and bfloat16 <-> Float32, bit by bit.
//
// Contract: narrowing rounds to nearest, ties to even (IEEE 754-2008 §4.3.1), overflows to
// infinity and keeps the sign of zero; subnormal halves are produced and read exactly. NaN stays
// NaN and comes out quiet (the quiet bit set, the payload's top bits kept). Widening is exact.
// The scalar functions are the reference; the bulk converters (used by safetensors and by
// kernels that pack half-precision weights) compute the same bits in loops LLVM vectorizes
// (Float16 widening uses the exact hardware conversion where Swift has `Float16`).
//
// Formats: binary16 = 1 sign, 5 exponent (bias 15), 10 fraction bits; bfloat16 = the top 16
// bits of a Float32 (1 sign, 8 exponent, 7 fraction bits).

/// Conversions between `Float` and the 16-bit storage formats Float16 and BFloat16.
public enum HalfPrecision {
    // MARK: - Scalar reference conversions

    /// The binary16 bit pattern nearest to `x` (ties to even).
    public static func float16Bits(_ x: Float) -> UInt16 {
        let bits = x.bitPattern
        let sign = UInt16(truncatingIfNeeded: (bits >> 16) & 0x8000)
        let exponent = Int((bits >> 23) & 0xff)
        let fraction = bits & 0x7f_ffff
        if exponent == 0xff {
            // Infinity, or NaN made quiet with the top fraction bits kept.
            return fraction == 0 ? sign | 0x7c00 : sign | 0x7e00 | UInt16(truncatingIfNeeded: fraction >> 13)
        }
        let e = exponent - 127
        if e > 15 { return sign | 0x7c00 }                      // overflow
        if e >= -14 {
            // Normal half: keep 10 fraction bits, round on the 13 dropped ones. A carry out of
            // the fraction correctly bumps the exponent (and 65520 and above become infinity).
            var result = UInt32(e + 15) << 10 | fraction >> 13
            let dropped = fraction & 0x1fff
            if dropped > 0x1000 || (dropped == 0x1000 && result & 1 == 1) { result += 1 }
            return sign | UInt16(result)
        }
        // Subnormal half k * 2^-24: k = significand * 2^(e + 1), rounded to nearest even.
        let shift = -e - 1                                       // 14 ... for e = -15 ...
        if shift > 24 { return sign }                            // below half the smallest subnormal
        let significand = exponent == 0 ? fraction : fraction | 0x80_0000
        var k = significand >> UInt32(shift)
        let remainder = significand & ((1 << UInt32(shift)) - 1)
        let half: UInt32 = 1 << UInt32(shift - 1)
        if remainder > half || (remainder == half && k & 1 == 1) { k += 1 }
        return sign | UInt16(k)
    }

    /// The exact `Float` value of a binary16 bit pattern (NaN made quiet).
    public static func float(float16Bits h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = UInt32(h >> 10) & 0x1f
        let fraction = UInt32(h & 0x3ff)
        if exponent == 0x1f {
            return Float(bitPattern: sign | 0x7f80_0000 | fraction << 13 | (fraction == 0 ? 0 : 0x40_0000))
        }
        if exponent == 0 {
            let magnitude = Float(fraction) * 0x1p-24             // exact: fraction < 2^10
            return Float(bitPattern: sign | magnitude.bitPattern)
        }
        return Float(bitPattern: sign | (exponent + 112) << 23 | fraction << 13)
    }

    /// The bfloat16 bit pattern nearest to `x` (ties to even; NaN made quiet).
    public static func bfloat16Bits(_ x: Float) -> UInt16 {
        let bits = x.bitPattern
        if bits & 0x7fff_ffff > 0x7f80_0000 { return UInt16(bits >> 16) | 0x0040 }
        // Adding 0x7fff plus the lowest kept bit rounds to nearest even; a carry may reach the
        // exponent, and past the largest finite value it gives infinity, as it should.
        let rounded = bits &+ 0x7fff &+ ((bits >> 16) & 1)
        return UInt16(rounded >> 16)
    }

    /// The exact `Float` value of a bfloat16 bit pattern (NaN made quiet).
    public static func float(bfloat16Bits b: UInt16) -> Float {
        let bits = UInt32(b) << 16
        return Float(bitPattern: bits & 0x7fff_ffff > 0x7f80_0000 ? bits | 0x40_0000 : bits)
    }

    // MARK: - Bulk conversions

    /// Widens `count` binary16 values at `source` (any alignment) into `destination`.
    public static func convertFloat16ToFloat(
        _ source: UnsafeRawPointer, _ destination: UnsafeMutablePointer<Float>, count: Int
    ) {
        #if !(os(macOS) && arch(x86_64))
        // The hardware conversion (F16C `vcvtph2ps` on x86-64, `fcvtl` on ARM) is exact and
        // quiets NaNs keeping their payload, exactly like the scalar reference (the tests
        // compare all 65536 patterns); LLVM vectorizes this loop.
        for i in 0..<count {
            destination[i] = Float(Float16(bitPattern: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
        }
        #else
        for i in 0..<count {
            destination[i] = float(float16Bits: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
        }
        #endif
    }

    /// Widens `count` bfloat16 values at `source` (any alignment) into `destination`.
    public static func convertBFloat16ToFloat(
        _ source: UnsafeRawPointer, _ destination: UnsafeMutablePointer<Float>, count: Int
    ) {
        // Branch-free so that LLVM vectorizes it: shift into the top half, set the quiet bit of NaNs.
        for i in 0..<count {
            let bits = UInt32(source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16
            let quiet: UInt32 = bits & 0x7fff_ffff > 0x7f80_0000 ? 0x40_0000 : 0
            destination[i] = Float(bitPattern: bits | quiet)
        }
    }

    /// Narrows `count` floats into binary16 bit patterns at `destination` (any alignment).
    public static func convertFloatToFloat16(
        _ source: UnsafePointer<Float>, _ destination: UnsafeMutableRawPointer, count: Int
    ) {
        for i in 0..<count {
            #if !(os(macOS) && arch(x86_64))
            // Hardware rounding (F16C `vcvtps2ph`, ARM `fcvtn`): IEEE round to nearest even,
            // NaNs quieted with the top payload bits kept, as the scalar reference does.
            let bits = Float16(source[i]).bitPattern
            #else
            let bits = float16Bits(source[i])
            #endif
            destination.storeBytes(of: bits, toByteOffset: 2 * i, as: UInt16.self)
        }
    }

    /// Narrows `count` floats into bfloat16 bit patterns at `destination` (any alignment).
    public static func convertFloatToBFloat16(
        _ source: UnsafePointer<Float>, _ destination: UnsafeMutableRawPointer, count: Int
    ) {
        // Branch-free form of `bfloat16Bits`, so that LLVM vectorizes it.
        for i in 0..<count {
            let bits = source[i].bitPattern
            let rounded = (bits &+ 0x7fff &+ ((bits >> 16) & 1)) >> 16
            let isNaN = bits & 0x7fff_ffff > 0x7f80_0000
            destination.storeBytes(of: UInt16(truncatingIfNeeded: isNaN ? (bits >> 16) | 0x0040 : rounded),
                                   toByteOffset: 2 * i, as: UInt16.self)
        }
    }
}
