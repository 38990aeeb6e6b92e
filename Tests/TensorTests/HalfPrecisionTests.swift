// HalfPrecision against known bit patterns, exhaustive round trips, Swift's own Float16 (an
// independent, hardware/LLVM conversion), numpy's float16 and torch's bfloat16 (fixture
// Fixtures/half_and_xoshiro.json). All comparisons are exact: conversions are bit operations.

import Foundation
import Testing
import Tensor

private struct HalfFixture: Decodable {
    struct Half: Decodable { let float_bits: [UInt32]; let float16_bits: [UInt16]; let bfloat16_bits: [UInt16] }
    let half: Half
    static let shared: HalfFixture = {
        let data = try! Data(contentsOf: TestData.fixture("half_and_xoshiro.json"))
        return try! JSONDecoder().decode(HalfFixture.self, from: data)
    }()
}

@Suite("HalfPrecision: Float16 and BFloat16 conversions")
struct HalfPrecisionTests {
    @Test("Float16 known bit patterns", arguments: [
        (Float(1.0), UInt16(0x3c00)), (-2.0, 0xc000), (65504, 0x7bff), (0x1p-24, 0x0001),
        (0x1p-14 - 0x1p-24, 0x03ff), (0x1p-14, 0x0400), (0, 0x0000), (-0.0, 0x8000),
        (.infinity, 0x7c00), (-.infinity, 0xfc00),
        (65520, 0x7c00),                     // halfway between 65504 and 2^16: ties to even -> inf
        (65519.99, 0x7bff), (1e10, 0x7c00), (-1e10, 0xfc00),
        (1 + 0x1p-11, 0x3c00),               // tie, 1.0 is even: down
        (1 + 3 * 0x1p-11, 0x3c02),           // tie, 1+2^-10 is odd: up
        (1 + 0x1p-11 + 0x1p-20, 0x3c01),     // just above the tie: up
        (0x1p-25, 0x0000),                   // half the smallest subnormal: ties to even zero
        (0x1p-25 + 0x1p-40, 0x0001),         // just above: smallest subnormal
        (3 * 0x1p-25, 0x0002),               // 1.5 subnormal units: tie, rounds to even 2
        (-0x1p-26, 0x8000),                  // underflow keeps the sign
    ] as [(Float, UInt16)])
    func float16Patterns(value: Float, bits: UInt16) {
        #expect(HalfPrecision.float16Bits(value) == bits, "\(value)")
    }

    @Test("Float16 widening of known bit patterns", arguments: [
        (UInt16(0x3c00), Float(1)), (0xc000, -2), (0x7bff, 65504), (0x0001, 0x1p-24), (0x03ff, 0x1p-14 - 0x1p-24),
        (0x8000, -0.0), (0x7c00, .infinity), (0xfc00, -.infinity), (0x3555, 0.333251953125),
    ] as [(UInt16, Float)])
    func float16Widening(bits: UInt16, value: Float) {
        let widened = HalfPrecision.float(float16Bits: bits)
        #expect(widened.bitPattern == value.bitPattern, "0x\(String(bits, radix: 16))")
    }

    @Test("BFloat16 known bit patterns", arguments: [
        (Float(1.0), UInt16(0x3f80)), (-2.0, 0xc000), (0, 0x0000), (-0.0, 0x8000),
        (.infinity, 0x7f80), (-.infinity, 0xff80),
        (Float(bitPattern: 0x3f80_8000), 0x3f80),   // tie, even: down
        (Float(bitPattern: 0x3f81_8000), 0x3f82),   // tie, odd: up
        (Float(bitPattern: 0x3f80_8001), 0x3f81),   // above the tie: up
        (.greatestFiniteMagnitude, 0x7f80),         // rounds past the largest bfloat16: inf
        (Float(bitPattern: 0x7f7f_7fff), 0x7f7f),   // largest value that stays finite
        (Float(bitPattern: 0x0000_0001), 0x0000),   // smallest float subnormal
        (Float(bitPattern: 0x0001_8000), 0x0002),   // subnormal tie to even
    ] as [(Float, UInt16)])
    func bfloat16Patterns(value: Float, bits: UInt16) {
        #expect(HalfPrecision.bfloat16Bits(value) == bits, "\(value)")
    }

    @Test("NaN stays NaN and becomes quiet, both ways")
    func nans() {
        for payload: UInt32 in [0x40_0000, 0x00_0001, 0x20_0000, 0x7f_ffff, 0x00_2000] {
            for sign: UInt32 in [0, 0x8000_0000] {
                let nan = Float(bitPattern: sign | 0x7f80_0000 | payload)
                let h = HalfPrecision.float16Bits(nan)
                #expect(h & 0x7c00 == 0x7c00 && h & 0x0200 != 0, "quiet float16 NaN from \(payload)")
                #expect(UInt32(h & 0x8000) << 16 == sign)
                let b = HalfPrecision.bfloat16Bits(nan)
                #expect(b & 0x7f80 == 0x7f80 && b & 0x0040 != 0, "quiet bfloat16 NaN from \(payload)")
                #expect(HalfPrecision.float(float16Bits: h).isNaN)
                #expect(HalfPrecision.float(bfloat16Bits: b).isNaN)
            }
        }
        // Signalling NaNs in the 16-bit formats widen to quiet NaNs.
        #expect(!HalfPrecision.float(float16Bits: 0x7c01).isSignalingNaN)
        #expect(HalfPrecision.float(float16Bits: 0x7c01).isNaN)
        #expect(!HalfPrecision.float(bfloat16Bits: 0x7f81).isSignalingNaN)
        #expect(HalfPrecision.float(bfloat16Bits: 0x7f81).isNaN)
    }

    @Test("every non-NaN Float16 and BFloat16 pattern survives a round trip through Float")
    func exhaustiveRoundTrip() {
        var f16Failures = 0, bf16Failures = 0
        for raw in 0...0xffff {
            let bits = UInt16(raw)
            let f16 = HalfPrecision.float(float16Bits: bits)
            if !f16.isNaN, HalfPrecision.float16Bits(f16) != bits { f16Failures += 1 }
            let bf16 = HalfPrecision.float(bfloat16Bits: bits)
            if !bf16.isNaN {
                if HalfPrecision.bfloat16Bits(bf16) != bits { bf16Failures += 1 }
                if bf16.bitPattern != UInt32(bits) << 16 { bf16Failures += 1 }
            }
        }
        #expect(f16Failures == 0)
        #expect(bf16Failures == 0)
    }

    #if !(os(macOS) && arch(x86_64))
    @Test("Float16 matches Swift's Float16 type on all 65536 patterns and a sweep of floats")
    func againstSwiftFloat16() {
        var mismatches = 0
        for raw in 0...0xffff {
            let bits = UInt16(raw)
            let reference = Float(Float16(bitPattern: bits))
            let ours = HalfPrecision.float(float16Bits: bits)
            if reference.isNaN ? !ours.isNaN : reference.bitPattern != ours.bitPattern { mismatches += 1 }
        }
        // Every 977th float bit pattern (a prime stride: all exponents, varied fractions).
        var pattern: UInt32 = 0
        while true {
            let x = Float(bitPattern: pattern)
            if !x.isNaN, Float16(x).bitPattern != HalfPrecision.float16Bits(x) { mismatches += 1 }
            let (next, overflow) = pattern.addingReportingOverflow(977)
            if overflow { break }
            pattern = next
        }
        #expect(mismatches == 0)
    }
    #endif

    @Test("matches numpy float16 and torch bfloat16 on 8000 floats")
    func againstFixture() {
        let f = HalfFixture.shared.half
        var f16Mismatches: [UInt32] = [], bf16Mismatches: [UInt32] = []
        for (i, bits) in f.float_bits.enumerated() {
            let x = Float(bitPattern: bits)
            if HalfPrecision.float16Bits(x) != f.float16_bits[i] { f16Mismatches.append(bits) }
            if HalfPrecision.bfloat16Bits(x) != f.bfloat16_bits[i] { bf16Mismatches.append(bits) }
        }
        #expect(f.float_bits.count > 7000)
        #expect(f16Mismatches.isEmpty, "first mismatches: \(f16Mismatches.prefix(5))")
        #expect(bf16Mismatches.isEmpty, "first mismatches: \(bf16Mismatches.prefix(5))")
    }

    @Test("bulk converters equal the scalar reference (all lengths around the 16-lane blocks)")
    func bulkConverters() {
        // Every 16-bit pattern, read from an odd (unaligned) address.
        let count = 65536 + 5
        let raw = UnsafeMutableRawPointer.allocate(byteCount: 2 * count + 1, alignment: 16)
        defer { raw.deallocate() }
        let source = raw + 1
        for i in 0..<count { source.storeBytes(of: UInt16(truncatingIfNeeded: i &* 40503), toByteOffset: 2 * i, as: UInt16.self) }
        var widened = [Float](repeating: 0, count: count)
        for (convert, reference) in [
            (HalfPrecision.convertFloat16ToFloat, HalfPrecision.float(float16Bits:)),
            (HalfPrecision.convertBFloat16ToFloat, HalfPrecision.float(bfloat16Bits:)),
        ] as [((UnsafeRawPointer, UnsafeMutablePointer<Float>, Int) -> Void, (UInt16) -> Float)] {
            for n in [0, 1, 15, 16, 17, 33, count] {
                widened.withUnsafeMutableBufferPointer { convert(UnsafeRawPointer(source), $0.baseAddress!, n) }
                var mismatches = 0
                for i in 0..<n {
                    let expected = reference(source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                    if expected.bitPattern != widened[i].bitPattern { mismatches += 1 }
                }
                #expect(mismatches == 0, "n = \(n)")
            }
        }
        // Narrowing: floats with every exponent, ties, NaN and infinities.
        var floats = (0..<4099).map { Float(bitPattern: UInt32(truncatingIfNeeded: $0 &* 1_048_583)) }
        floats += [.nan, -.nan, .infinity, -.infinity, 0, -0.0, 65520, 1 + 0x1p-11, Float(bitPattern: 0x3f81_8000)]
        var out = [UInt16](repeating: 0, count: floats.count)
        for (convert, reference) in [
            (HalfPrecision.convertFloatToFloat16, HalfPrecision.float16Bits),
            (HalfPrecision.convertFloatToBFloat16, HalfPrecision.bfloat16Bits),
        ] as [((UnsafePointer<Float>, UnsafeMutableRawPointer, Int) -> Void, (Float) -> UInt16)] {
            floats.withUnsafeBufferPointer { f in
                out.withUnsafeMutableBytes { convert(f.baseAddress!, $0.baseAddress!, f.count) }
            }
            #expect(out == floats.map(reference))
        }
    }
}
