// Safetensors: a file written by Python's `safetensors` (Fixtures/small.safetensors, values
// in small_safetensors.json from torch), round trips through our writer, every validation
// error on hand-made files, a seeded fuzz test, and TAESD's real BF16 decoder weights.

import Foundation
import Testing
import Tensor

private struct SmallFixture: Decodable {
    struct Entry: Decodable { let shape: [Int]; let dtype: String; let float_bits: [UInt32]?; let ints: [Int]? }
    struct TAESD: Decodable {
        let count: Int
        let firstWeights: [UInt32]
        let bias19: [UInt32]
        enum CodingKeys: String, CodingKey { case count, firstWeights = "1.weight_first16_bits", bias19 = "19.bias_bits" }
    }
    let metadata: [String: String]
    let tensors: [String: Entry]
    let taesd_decoder: TAESD
}

/// Builds a safetensors file from a header string and a data section, padding nothing.
private func rawFile(header: String, data: [UInt8] = [], lengthOverride: UInt64? = nil) -> Data {
    var out = Data()
    var length = (lengthOverride ?? UInt64(header.utf8.count)).littleEndian
    withUnsafeBytes(of: &length) { out.append(contentsOf: $0) }
    out.append(contentsOf: Array(header.utf8))
    out.append(contentsOf: data)
    return out
}

/// Writes `data` to a fresh temporary file and tries to open it as safetensors.
private func open(_ data: Data) throws -> SafetensorsFile {
    let url = try TestData.temporaryFolder().appendingPathComponent("t.safetensors")
    try data.write(to: url)
    defer { try? FileManager.default.removeItem(at: url.deletingLastPathComponent()) }
    return try SafetensorsFile(contentsOf: url)
}

/// The kind and tensor of the error opening `data` throws (nil if it opens).
private func failure(_ data: Data) -> (SafetensorsError.Kind, String?)? {
    do { _ = try open(data); return nil } catch let e as SafetensorsError { return (e.kind, e.tensor) } catch { return nil }
}

/// Writes a new file with plain POSIX calls: `Data.write` fsyncs, and truncating a file that
/// has data makes ext4 flush it on close; either would dominate the fuzz test's time.
private func writeWithoutSync(_ bytes: [UInt8], to path: String) {
    unlink(path)
    let fd = Foundation.open(path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
    precondition(fd >= 0, "cannot create \(path)")
    bytes.withUnsafeBytes { precondition(Foundation.write(fd, $0.baseAddress, $0.count) == $0.count) }
    close(fd)
}

@Suite("Safetensors: read, write, validate")
struct SafetensorsTests {
    @Test("reads a file written by Python's safetensors, every dtype")
    func pythonFixture() throws {
        let fixture = try JSONDecoder().decode(SmallFixture.self, from: Data(contentsOf: TestData.fixture("small_safetensors.json")))
        let file = try SafetensorsFile(contentsOf: TestData.fixture("small.safetensors"))
        #expect(Set(file.names) == Set(fixture.tensors.keys))
        #expect(file.metadata == fixture.metadata)
        for (name, expected) in fixture.tensors {
            let t = try file.tensor(named: name)
            #expect(t.shape == expected.shape, "\(name)")
            if let bits = expected.float_bits {
                #expect(t.scalars.map(\.bitPattern) == bits, "\(name)")
            } else if let ints = expected.ints {
                #expect(try file.integers(named: name) == ints, "\(name)")
                #expect(t.scalars == ints.map { Float($0) }, "\(name)")
            }
        }
        #expect(try file.info(named: "bf16").dtype == .bf16)
        #expect(try file.info(named: "i64").dtype == .i64)
        #expect(throws: SafetensorsError.self) { try file.integers(named: "f32") }
        do {
            _ = try file.tensor(named: "nope")
            Issue.record("missing tensor did not throw")
        } catch let e as SafetensorsError {
            #expect(e.kind == .missingTensor && e.tensor == "nope")
            #expect(e.description.contains("nope"))
        }
    }

    @Test("write then read returns the same values, for each dtype", arguments: [SafetensorsDType.f32, .f16, .bf16, .i32, .i64])
    func roundTrip(dtype: SafetensorsDType) throws {
        let folder = try TestData.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var rng = Xoshiro256StarStar(seed: 3)
        var tensors: [String: Tensor] = [
            "a.weight": rng.randn([3, 5]) * 4,
            "b": rng.randn([17]),
            "scalar": Tensor(2.25),
            "empty": Tensor(shape: [0, 4]),
            "view": rng.randn([4, 6]).transposed(0, 1),        // non-contiguous input
            "name with \"quotes\"\n": Tensor(shape: [2], scalars: [1, -1]),
        ]
        if !dtype.isFloatingPoint { tensors = tensors.mapValues { $0.map { $0.rounded() } } }
        let url = folder.appendingPathComponent("x.safetensors")
        try Safetensors.write(tensors, dtype: dtype, metadata: ["format": "pt", "step": "12"], to: url)
        let file = try SafetensorsFile(contentsOf: url)
        #expect(file.metadata == ["format": "pt", "step": "12"])
        #expect(Set(file.names) == Set(tensors.keys))
        // Header padded with spaces to a multiple of 8, like the reference writer.
        let bytes = try Data(contentsOf: url)
        let headerLength = bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        #expect(headerLength % 8 == 0)
        for (name, t) in tensors {
            let back = try file.tensor(named: name)
            #expect(back.shape == t.shape)
            let expected: [Float]
            switch dtype {
            case .f16: expected = t.scalars.map { HalfPrecision.float(float16Bits: HalfPrecision.float16Bits($0)) }
            case .bf16: expected = t.scalars.map { HalfPrecision.float(bfloat16Bits: HalfPrecision.bfloat16Bits($0)) }
            default: expected = t.scalars
            }
            #expect(back.scalars == expected, "\(name)")
        }
        // No temporary files left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["x.safetensors"])
    }

    @Test("header JSON, space padding and little-endian data as the reference writer lays them out")
    func layoutMatchesReference() throws {
        let folder = try TestData.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("y.safetensors")
        try Safetensors.write(["b": Tensor(shape: [2], scalars: [1, 2]), "a": Tensor(3)], to: url)
        let bytes = try Data(contentsOf: url)
        let n = Int(bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let header = String(decoding: bytes[8..<(8 + n)], as: UTF8.self)
        #expect(header.hasPrefix(#"{"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#))
        let json = #"{"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        #expect(header.dropFirst(json.count).allSatisfy { $0 == " " } && header.count == n && n - json.count < 8)
        #expect(bytes.count == 8 + n + 12)
        #expect(Array(bytes.suffix(12)) == [0, 0, 0x40, 0x40, 0, 0, 0x80, 0x3f, 0, 0, 0, 0x40])
    }

    @Test("integers are refused as I32 when not integral")
    func unrepresentable() throws {
        let folder = try TestData.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(throws: SafetensorsError.self) {
            try Safetensors.write(["x": Tensor(shape: [2], scalars: [1, 0.5])], dtype: .i32, to: folder.appendingPathComponent("z.safetensors"))
        }
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("z.safetensors").path))
    }

    static let validHeader = #"{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#

    @Test("each malformed header is a thrown error naming the problem and the tensor", arguments: [
        (rawFile(header: "")[0..<5], SafetensorsError.Kind.fileTooShort, nil),
        (rawFile(header: validHeader, data: Array(repeating: 0, count: 8), lengthOverride: 1000), .headerOutOfRange, nil),
        (rawFile(header: validHeader, data: [], lengthOverride: UInt64.max), .headerOutOfRange, nil),
        // Within 8 bytes past the end (a check against the file size instead of size - 8 passes these).
        (rawFile(header: validHeader, data: Array(repeating: 0, count: 8), lengthOverride: UInt64(validHeader.utf8.count + 8 + 1)), .headerOutOfRange, nil),
        (rawFile(header: validHeader, data: Array(repeating: 0, count: 8), lengthOverride: UInt64(validHeader.utf8.count + 8 + 8)), .headerOutOfRange, nil),
        (rawFile(header: #"{"t":{"dtype":"F32","#), .malformedHeader, nil),
        (rawFile(header: "[1, 2]"), .malformedHeader, nil),
        (rawFile(header: #"{"t": 5}"#), .malformedEntry, "t"),
        (rawFile(header: #"{"t":{"shape":[2],"data_offsets":[0,8]}}"#, data: Array(repeating: 0, count: 8)), .malformedEntry, "t"),
        (rawFile(header: #"{"t":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}"#, data: Array(repeating: 0, count: 8)), .unknownDType, "t"),
        (rawFile(header: #"{"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: Array(repeating: 0, count: 8)), .shapeMismatch, "t"),
        (rawFile(header: #"{"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, data: Array(repeating: 0, count: 8)), .malformedEntry, "t"),
        (rawFile(header: #"{"t":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}"#, data: Array(repeating: 0, count: 8)), .malformedEntry, "t"),
        (rawFile(header: #"{"t":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}"#, data: Array(repeating: 0, count: 8)), .shapeMismatch, "t"),
        (rawFile(header: #"{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}}"#, data: Array(repeating: 0, count: 8)), .offsetsOutOfRange, "t"),
        (rawFile(header: #"{"t":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#, data: Array(repeating: 0, count: 8)), .offsetsOutOfRange, "t"),
        (rawFile(header: #"{"t":{"dtype":"F32","shape":[2],"data_offsets":[0]}}"#, data: Array(repeating: 0, count: 8)), .malformedEntry, "t"),
        (rawFile(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: Array(repeating: 0, count: 8)), .overlappingData, "b"),
        (rawFile(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#, data: Array(repeating: 0, count: 12)), .nonContiguousData, "b"),
        (rawFile(header: validHeader, data: Array(repeating: 0, count: 12)), .nonContiguousData, "t"),
        (rawFile(header: #"{"__metadata__":{"a":1}}"#), .malformedHeader, nil),
        (rawFile(header: #"{"__metadata__":[]}"#), .malformedHeader, nil),
    ] as [(Data, SafetensorsError.Kind, String?)])
    func validation(file: Data, kind: SafetensorsError.Kind, tensor: String?) throws {
        let result = failure(file)
        #expect(result?.0 == kind)
        #expect(result?.1 == tensor)
    }

    @Test("the valid hand-made file opens, so the cases above fail for their one defect")
    func validHandMade() throws {
        let file = try open(rawFile(header: Self.validHeader, data: [0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0]))
        #expect(try file.tensor(named: "t").scalars == [1, -2])
    }

    @Test("fuzz: 3000 seeded mutations of a valid file never crash or hang")
    func fuzz() throws {
        let folder = try TestData.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("seed.safetensors")
        var rng = Xoshiro256StarStar(seed: 2024)
        try Safetensors.write(["w": rng.randn([3, 4]), "b": rng.randn([4]), "h": rng.randn([5])],
                              dtype: .bf16, metadata: ["k": "v"], to: url)
        let original = [UInt8](try Data(contentsOf: url))
        let headerEnd = 8 + Int(original.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let target = folder.appendingPathComponent("mutant.safetensors")
        var opened = 0, rejected = 0
        let edits: [(String, String)] = [("F32", "F16"), ("BF16", "I64"), ("[3,4]", "[4,3]"), ("[3,4]", "[12]"),
                                         ("\"k\"", "\"__metadata__\""), ("data_offsets", "data_offset"), (":[", ":[-"), ("0,", "1,")]
        for round in 0..<3000 {
            var bytes = original
            switch round % 4 {
            case 0:  // bit flips anywhere
                for _ in 0..<(1 + Int(rng.next() % 4)) {
                    let i = Int(rng.next() % UInt64(bytes.count))
                    bytes[i] ^= UInt8(1 << (rng.next() % 8))
                }
            case 1:  // truncation
                bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count))))
            case 2:  // header byte replaced by a JSON-significant character
                let i = 8 + Int(rng.next() % UInt64(headerEnd - 8))
                let characters = Array("{}[]\",:0123456789-e. ".utf8)
                bytes[i] = characters[Int(rng.next() % UInt64(characters.count))]
            default:  // textual header edit, keeping or breaking the length
                var header = String(decoding: bytes[8..<headerEnd], as: UTF8.self)
                let (from, to) = edits[Int(rng.next() % UInt64(edits.count))]
                if let r = header.range(of: from) { header.replaceSubrange(r, with: to) }
                let data = Array(bytes[headerEnd...])
                let keep = rng.next() % 2 == 0
                bytes = [UInt8](rawFile(header: header, data: data, lengthOverride: keep ? nil : UInt64(headerEnd - 8)))
            }
            writeWithoutSync(bytes, to: target.path)
            do {
                let file = try SafetensorsFile(contentsOf: target)
                for name in file.names { _ = try file.tensor(named: name) }
                opened += 1
            } catch is SafetensorsError {
                rejected += 1
            }
        }
        #expect(opened + rejected == 3000)
        #expect(rejected > 1500)       // most mutations break something; all were handled
    }

    @Test("reads TAESD's real BF16 decoder weights from ../shared", .enabled(if: TestData.hasShared, TestData.sharedSkipMessage))
    func taesdDecoder() throws {
        let shared = try #require(TestData.sharedFolder)
        let url = shared.appendingPathComponent("weights/taesd-sd1/taesd_decoder.safetensors")
        let file = try SafetensorsFile(contentsOf: url)
        #expect(file.names.count == 67)
        let first = try file.info(named: "1.weight")
        #expect(first.dtype == .bf16)
        #expect(first.shape == [64, 4, 3, 3])
        #expect(try file.info(named: "1.bias").shape == [64])
        #expect(try file.info(named: "19.weight").shape == [3, 64, 3, 3])
        #expect(try file.info(named: "18.conv.4.weight").shape == [64, 64, 3, 3])
        // Values as torch read them (fixture written from the same file).
        let fixture = try JSONDecoder().decode(SmallFixture.self, from: Data(contentsOf: TestData.fixture("small_safetensors.json")))
        #expect(fixture.taesd_decoder.count == 67)
        #expect(Array(try file.tensor(named: "1.weight").scalars.prefix(16)).map(\.bitPattern) == fixture.taesd_decoder.firstWeights)
        #expect(try file.tensor(named: "19.bias").scalars.map(\.bitPattern) == fixture.taesd_decoder.bias19)
    }
}
