// Safetensors: read (memory-mapped, lazy) and write (atomic) the safetensors format.
//
// Format (https://github.com/huggingface/safetensors): 8 bytes little-endian header length N,
// N bytes of JSON header, then the data section. The header maps tensor names to
// `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets relative to the data section)
// and may hold `"__metadata__": {string: string}`. Tensors are stored row-major, little-endian.
//
// Contract:
// - `SafetensorsFile(contentsOf:)` maps the file, parses and validates the whole header, and
//   converts nothing; `tensor(named:)` converts one tensor to a Float32 `Tensor` when asked.
//   F32, F16 and BF16 convert exactly. I64 and I32 are readable too: `tensor(named:)` rounds
//   them to the nearest Float (exact up to 2^24 in magnitude), `integers(named:)` returns them
//   exactly as `[Int]`. `halfPrecisionTensor(named:)` returns an F16/BF16 tensor as stored,
//   reading the mapping in place (the mapping lives as long as any tensor taken from it).
// - Every header field is checked, as the reference implementation does: file shorter than 8
//   bytes, header length past the end of the file, malformed JSON, entries that are not
//   objects, unknown dtype, shape not matching the byte count, offsets out of range,
//   overlapping or non-contiguous data, bytes left unclaimed, a missing tensor name. Each is a
//   thrown `SafetensorsError` naming the file, the tensor and the problem.
// - `Safetensors.write` writes atomically (temporary file, then rename), tensors in name
//   order, the header padded with spaces to a multiple of 8 bytes like the reference writer.
// - The mapping is read-only and private; a file truncated by another process *while mapped*
//   makes the OS raise SIGBUS on access, which no file format can guard against.

import Foundation

/// The element types a safetensors file may hold that this library reads.
public enum SafetensorsDType: String, Sendable, CaseIterable {
    /// IEEE binary32.
    case f32 = "F32"
    /// IEEE binary16.
    case f16 = "F16"
    /// bfloat16 (the top half of a binary32).
    case bf16 = "BF16"
    /// Signed 64-bit integer.
    case i64 = "I64"
    /// Signed 32-bit integer.
    case i32 = "I32"

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .f32, .i32: return 4
        case .f16, .bf16: return 2
        case .i64: return 8
        }
    }

    /// Whether the type holds floating-point values.
    public var isFloatingPoint: Bool { self == .f32 || self == .f16 || self == .bf16 }
}

/// A problem with a safetensors file: what, where, and which tensor.
public struct SafetensorsError: Error, CustomStringConvertible, Equatable {
    /// The kinds of problems reported.
    public enum Kind: String, Sendable {
        /// The file could not be opened or mapped.
        case unreadable
        /// Fewer than 8 bytes: no header length.
        case fileTooShort
        /// The header length points past the end of the file.
        case headerOutOfRange
        /// The header is not valid UTF-8 JSON, or not a JSON object.
        case malformedHeader
        /// A tensor entry is not an object with a dtype, a shape and two data offsets.
        case malformedEntry
        /// The dtype is not one of F32, F16, BF16, I64, I32.
        case unknownDType
        /// The shape's element count times the dtype size is not the entry's byte count.
        case shapeMismatch
        /// Offsets beyond the data section or reversed.
        case offsetsOutOfRange
        /// Two tensors share bytes.
        case overlappingData
        /// Bytes between two tensors, or after the last one, belong to no tensor.
        case nonContiguousData
        /// No tensor has the requested name.
        case missingTensor
        /// The tensor's dtype does not fit the accessor used (e.g. `integers(named:)` on F32).
        case wrongDType
        /// The values cannot be stored in the requested dtype (e.g. 0.5 as I32).
        case unrepresentable
    }

    /// The kind of problem.
    public let kind: Kind
    /// The file concerned.
    public let path: String
    /// The tensor concerned, if the problem is about one tensor.
    public let tensor: String?
    /// Details: the values found and what was expected.
    public let detail: String

    /// A sentence naming the file, the tensor and the problem.
    public var description: String {
        let which = tensor.map { " (tensor \"\($0)\")" } ?? ""
        return "Safetensors file \(path)\(which): \(detail)"
    }
}

/// Read-only memory mapping of a whole file, unmapped when the last reference goes (the
/// `SafetensorsFile` values and the `HalfPrecisionTensor`s read from it).
private final class MappedFile: @unchecked Sendable {   // immutable after init
    let base: UnsafeRawPointer
    let size: Int

    init(path: String) throws {
        func fail(_ kind: SafetensorsError.Kind, _ detail: String) -> SafetensorsError {
            SafetensorsError(kind: kind, path: path, tensor: nil, detail: detail)
        }
        let fd = open(path, O_RDONLY)
        if fd < 0 { throw fail(.unreadable, "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        if fstat(fd, &info) != 0 { throw fail(.unreadable, "cannot stat: \(String(cString: strerror(errno)))") }
        size = Int(info.st_size)
        if size < 8 {
            throw fail(.fileTooShort, "the file has \(size) bytes; a safetensors file starts with an 8-byte header length (truncated download?)")
        }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw fail(.unreadable, "cannot map \(size) bytes: \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(p)
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), size) }
}

/// A safetensors file opened for reading: header parsed and validated, data mapped, tensors
/// converted on demand.
public struct SafetensorsFile: Sendable {
    /// Where and how one tensor is stored.
    public struct TensorInfo: Sendable, Equatable {
        /// The stored element type.
        public let dtype: SafetensorsDType
        /// The tensor's shape.
        public let shape: [Int]
        /// The byte range in the data section (after the header).
        public let dataRange: Range<Int>
    }

    /// The file this was read from.
    public let url: URL
    /// Tensor names in the order their data appears in the file.
    public let names: [String]
    /// The `__metadata__` entries (empty when the file has none).
    public let metadata: [String: String]
    /// Every tensor's dtype, shape and byte range, by name.
    public let infos: [String: TensorInfo]
    private let file: MappedFile
    private let dataStart: Int

    /// Maps `url` and validates its header; throws `SafetensorsError` on any inconsistency.
    public init(contentsOf url: URL) throws {
        let path = url.path
        let file = try MappedFile(path: path)
        func fail(_ kind: SafetensorsError.Kind, _ tensor: String?, _ detail: String) -> SafetensorsError {
            SafetensorsError(kind: kind, path: path, tensor: tensor, detail: detail)
        }
        let headerLength = file.base.loadUnaligned(as: UInt64.self).littleEndian
        guard headerLength <= UInt64(file.size - 8) else {
            throw fail(.headerOutOfRange, nil, "header length \(headerLength) runs past the end of the \(file.size)-byte file (truncated or not a safetensors file)")
        }
        let parsed: JSONValue
        do {
            // The mapped header, read in place (the mapping outlives the parse).
            parsed = try JSONValue.parse(Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: file.base + 8),
                                              count: Int(headerLength), deallocator: .none))
        } catch {
            throw fail(.malformedHeader, nil, "the \(headerLength)-byte header is not valid JSON (\(error))")
        }
        guard case .object(let entries) = parsed else {
            throw fail(.malformedHeader, nil, "the header must be a JSON object of tensor entries")
        }
        let dataSize = file.size - 8 - Int(headerLength)
        var metadata: [String: String] = [:]
        var infos: [String: TensorInfo] = [:]
        for (name, entry) in entries {
            if name == "__metadata__" {
                guard case .object(let fields) = entry else {
                    throw fail(.malformedHeader, nil, "__metadata__ must be an object of strings")
                }
                for (key, value) in fields {
                    guard case .string(let s) = value else {
                        throw fail(.malformedHeader, nil, "__metadata__ value for \"\(key)\" is not a string")
                    }
                    metadata[key] = s
                }
                continue
            }
            infos[name] = try Self.validatedEntry(name, entry, dataSize: dataSize, fail: fail)
        }
        // Data must tile the data section exactly: sorted by offset, each tensor starts where
        // the previous ended and the last ends at the end of the file.
        let ordered = infos.sorted {
            ($0.value.dataRange.lowerBound, $0.value.dataRange.upperBound, $0.key)
                < ($1.value.dataRange.lowerBound, $1.value.dataRange.upperBound, $1.key)
        }
        var expected = 0
        var previous: String?
        for (name, info) in ordered {
            let begin = info.dataRange.lowerBound
            if begin < expected {
                throw fail(.overlappingData, name, "bytes \(info.dataRange) overlap tensor \"\(previous ?? "")\" which ends at \(expected)")
            }
            if begin > expected {
                throw fail(.nonContiguousData, name, "data starts at \(begin) but the previous tensor\(previous.map { " \"\($0)\"" } ?? "") ends at \(expected): \(begin - expected) bytes belong to no tensor")
            }
            expected = info.dataRange.upperBound
            previous = name
        }
        if expected != dataSize {
            throw fail(.nonContiguousData, previous, "the tensors cover \(expected) bytes but the data section has \(dataSize): \(dataSize - expected) trailing bytes belong to no tensor")
        }
        self.url = url
        self.file = file
        self.dataStart = 8 + Int(headerLength)
        self.metadata = metadata
        self.infos = infos
        self.names = ordered.map(\.key)
    }

    private static func validatedEntry(
        _ name: String, _ entry: JSONValue, dataSize: Int,
        fail: (SafetensorsError.Kind, String?, String) -> SafetensorsError
    ) throws -> TensorInfo {
        guard case .object(let fields) = entry else {
            throw fail(.malformedEntry, name, "the entry is not a JSON object")
        }
        guard case .string(let dtypeName)? = fields["dtype"] else {
            throw fail(.malformedEntry, name, "missing or non-string \"dtype\"")
        }
        guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
            throw fail(.unknownDType, name, "dtype \"\(dtypeName)\" is not supported (supported: F32, F16, BF16, I64, I32)")
        }
        guard case .array(let shapeValues)? = fields["shape"] else {
            throw fail(.malformedEntry, name, "missing or non-array \"shape\"")
        }
        var shape: [Int] = []
        var elements = 1
        for value in shapeValues {
            guard case .integer(let size) = value, size >= 0 else {
                throw fail(.malformedEntry, name, "shape \(shapeValues.map(\.summary)) has an entry that is not a non-negative integer")
            }
            shape.append(Int(size))
            let (product, overflow) = elements.multipliedReportingOverflow(by: Int(size))
            if overflow { throw fail(.shapeMismatch, name, "shape \(shape)... has more elements than memory can hold") }
            elements = product
        }
        guard case .array(let offsets)? = fields["data_offsets"], offsets.count == 2,
              case .integer(let begin) = offsets[0], case .integer(let end) = offsets[1] else {
            throw fail(.malformedEntry, name, "\"data_offsets\" must be an array of two integers")
        }
        guard begin >= 0, begin <= end, end <= dataSize else {
            throw fail(.offsetsOutOfRange, name, "data_offsets [\(begin), \(end)] are outside the \(dataSize)-byte data section or reversed")
        }
        let (bytes, overflow) = elements.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow, bytes == Int(end - begin) else {
            throw fail(.shapeMismatch, name, "shape \(shape) of \(dtypeName) needs \(overflow ? "too many" : String(bytes)) bytes but data_offsets [\(begin), \(end)] hold \(end - begin)")
        }
        return TensorInfo(dtype: dtype, shape: shape, dataRange: Int(begin)..<Int(end))
    }

    // MARK: - Access

    /// Where and how the tensor `name` is stored; throws `.missingTensor` if absent.
    public func info(named name: String) throws -> TensorInfo {
        guard let info = infos[name] else {
            let near = names.filter { $0.hasSuffix(name.split(separator: ".").last.map(String.init) ?? name) }.prefix(3)
            let hint = near.isEmpty ? "" : "; similar names: \(near.joined(separator: ", "))"
            throw SafetensorsError(kind: .missingTensor, path: url.path, tensor: name,
                                   detail: "no tensor with this name among \(names.count)\(hint)")
        }
        return info
    }

    /// Whether the file holds a tensor called `name`.
    public func contains(_ name: String) -> Bool { infos[name] != nil }

    /// The raw little-endian bytes of tensor `name`, valid while this value is alive.
    public func withRawBytes<R>(named name: String, _ body: (SafetensorsDType, [Int], UnsafeRawBufferPointer) throws -> R) throws -> R {
        let info = try info(named: name)
        let start = file.base + dataStart + info.dataRange.lowerBound
        return try body(info.dtype, info.shape, UnsafeRawBufferPointer(start: start, count: info.dataRange.count))
    }

    /// Tensor `name` converted to Float32 (I64/I32 values rounded to the nearest Float).
    public func tensor(named name: String) throws -> Tensor {
        try withRawBytes(named: name) { dtype, shape, bytes in
            Tensor(shape: shape) { out in
                let n = out.count
                guard n > 0, let src = bytes.baseAddress, let dst = out.baseAddress else { return }
                switch dtype {
                case .f32: UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: 4 * n)
                case .f16: HalfPrecision.convertFloat16ToFloat(src, dst, count: n)
                case .bf16: HalfPrecision.convertBFloat16ToFloat(src, dst, count: n)
                case .i64: for i in 0..<n { dst[i] = Float(src.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)) }
                case .i32: for i in 0..<n { dst[i] = Float(src.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)) }
                }
            }
        }
    }

    /// Tensor `name` as stored when it is F16 or BF16, nil for any other dtype. Zero-copy: the
    /// result reads the mapped file (which it keeps mapped while it lives) and converts nothing.
    public func halfPrecisionTensor(named name: String) throws -> HalfPrecisionTensor? {
        let info = try info(named: name)
        guard let format = HalfPrecisionTensor.Format(info.dtype) else { return nil }
        let bytes = HalfPrecisionStorage(borrowing: file.base + dataStart + info.dataRange.lowerBound,
                                         byteCount: info.dataRange.count, owner: file)
        return HalfPrecisionTensor(shape: info.shape, format: format, storage: bytes)
    }

    /// The exact values of an I64 or I32 tensor in row-major order; throws `.wrongDType` for
    /// floating-point tensors.
    public func integers(named name: String) throws -> [Int] {
        try withRawBytes(named: name) { dtype, _, bytes in
            switch dtype {
            case .i64: return (0..<bytes.count / 8).map { Int(bytes.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) }
            case .i32: return (0..<bytes.count / 4).map { Int(bytes.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self)) }
            default:
                throw SafetensorsError(kind: .wrongDType, path: url.path, tensor: name,
                                       detail: "integers(named:) needs an I64 or I32 tensor, this one is \(dtype.rawValue); use tensor(named:)")
            }
        }
    }
}

/// Writing safetensors files.
public enum Safetensors {
    /// Writes `tensors` to `url` atomically, each stored as `dtype` (F32, F16 and BF16 round to
    /// nearest even; I64/I32 require integral values and throw `.unrepresentable` otherwise).
    public static func write(
        _ tensors: [String: Tensor], dtype: SafetensorsDType = .f32,
        metadata: [String: String] = [:], to url: URL
    ) throws {
        let names = tensors.keys.sorted()
        if let bad = names.first(where: { $0 == "__metadata__" }) {
            throw SafetensorsError(kind: .malformedEntry, path: url.path, tensor: bad, detail: "\"__metadata__\" is reserved for metadata")
        }
        if !dtype.isFloatingPoint {
            for name in names {
                if let value = tensors[name]!.scalars.first(where: { $0.rounded() != $0 || abs($0) > 0x1p62 }) {
                    throw SafetensorsError(kind: .unrepresentable, path: url.path, tensor: name,
                                           detail: "value \(value) is not an integer that \(dtype.rawValue) can hold")
                }
            }
        }
        // Header: {"__metadata__":{...},"name":{"dtype":..,"shape":[..],"data_offsets":[b,e]},...}
        var header = "{"
        var fields: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            fields.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
        }
        var offset = 0
        for name in names {
            let t = tensors[name]!
            let bytes = t.count * dtype.byteSize
            let shape = t.shape.map(String.init).joined(separator: ",")
            fields.append("\(jsonString(name)):{\"dtype\":\"\(dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + bytes)]}")
            offset += bytes
        }
        header += fields.joined(separator: ",") + "}"
        var headerBytes = Array(header.utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }   // pad with spaces
        try AtomicFile.write(to: url) { writer in
            var length = UInt64(headerBytes.count).littleEndian
            try withUnsafeBytes(of: &length) { try writer.write($0) }
            try headerBytes.withUnsafeBytes { try writer.write($0) }
            for name in names {
                try tensors[name]!.withUnsafeBufferPointer { values in
                    try writeElements(values, as: dtype, to: writer)
                }
            }
        }
    }

    /// Converts and writes elements in chunks of 64 Ki values.
    private static func writeElements(_ values: UnsafeBufferPointer<Float>, as dtype: SafetensorsDType, to writer: AtomicFile.Writer) throws {
        let chunk = 1 << 16
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: chunk * 8, alignment: 64)
        defer { buffer.deallocate() }
        var start = 0
        while start < values.count {
            let n = Swift.min(chunk, values.count - start)
            let src = values.baseAddress! + start
            switch dtype {
            case .f32: buffer.copyMemory(from: src, byteCount: 4 * n)
            case .f16: HalfPrecision.convertFloatToFloat16(src, buffer, count: n)
            case .bf16: HalfPrecision.convertFloatToBFloat16(src, buffer, count: n)
            case .i64: for i in 0..<n { buffer.storeBytes(of: Int64(src[i]).littleEndian, toByteOffset: 8 * i, as: Int64.self) }
            case .i32: for i in 0..<n { buffer.storeBytes(of: Int32(clamping: Int64(src[i])).littleEndian, toByteOffset: 4 * i, as: Int32.self) }
            }
            try writer.write(UnsafeRawBufferPointer(start: buffer, count: n * dtype.byteSize))
            start += n
        }
    }

    /// A JSON string literal for `s` (RFC 8259 §7 escapes).
    static func jsonString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
