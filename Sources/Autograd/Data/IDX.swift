// The idx file format of MNIST and Fashion-MNIST (LeCun et al., http://yann.lecun.com/exdb/mnist/):
//   bytes 0–1: zero; byte 2: element type (0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32,
//   0x0E f64); byte 3: number of dimensions d; then d big-endian UInt32 sizes; then the elements,
//   big-endian, row-major. Every field is checked; a malformed file is a thrown `IDXError`.

import Foundation
import Tensor

/// A malformed idx file.
public struct IDXError: Error, CustomStringConvertible {
    /// What is wrong and with which file.
    public var description: String
}

/// Reading the idx format.
public enum IDX {
    /// Parses an (uncompressed) idx file into a Float tensor of its shape (bytes stay 0…255).
    ///
    /// - Parameter name: the file name used in error messages.
    public static func parse(_ data: Data, name: String = "idx data") throws -> Tensor {
        let bytes = [UInt8](data)
        guard bytes.count >= 4 else {
            throw IDXError(description: "\(name): \(bytes.count) bytes is too short for an idx header (4 bytes)")
        }
        guard bytes[0] == 0 && bytes[1] == 0 else {
            throw IDXError(description: "\(name): wrong magic number \(String(format: "0x%02X%02X", bytes[0], bytes[1])) (an idx file starts with two zero bytes; is it still gzip-compressed?)")
        }
        let elementSize: Int
        switch bytes[2] {
        case 0x08, 0x09: elementSize = 1
        case 0x0B: elementSize = 2
        case 0x0C, 0x0D: elementSize = 4
        case 0x0E: elementSize = 8
        default: throw IDXError(description: "\(name): unknown element type 0x\(String(bytes[2], radix: 16)) (expected 08, 09, 0B, 0C, 0D or 0E)")
        }
        let rank = Int(bytes[3])
        let headerSize = 4 + 4 * rank
        guard bytes.count >= headerSize else {
            throw IDXError(description: "\(name): header declares \(rank) dimensions but the file has only \(bytes.count) bytes")
        }
        func bigEndian32(_ at: Int) -> UInt32 {
            UInt32(bytes[at]) << 24 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 8 | UInt32(bytes[at + 3])
        }
        let shape = (0..<rank).map { Int(bigEndian32(4 + 4 * $0)) }
        let (count, overflow) = shape.reduce((1, false)) { acc, size in
            let (p, o) = acc.0.multipliedReportingOverflow(by: size)
            return (p, acc.1 || o)
        }
        let expected = overflow ? Int.max : headerSize + count * elementSize
        guard !overflow && bytes.count == expected else {
            throw IDXError(description: "\(name): sizes \(shape) need \(overflow ? "more than Int.max" : String(expected)) bytes but the file has \(bytes.count)")
        }
        let type = bytes[2]
        return Tensor(shape: shape) { out in
            for i in 0..<count {
                let at = headerSize + i * elementSize
                switch type {
                case 0x08: out[i] = Float(bytes[at])
                case 0x09: out[i] = Float(Int8(bitPattern: bytes[at]))
                case 0x0B: out[i] = Float(Int16(bitPattern: UInt16(bytes[at]) << 8 | UInt16(bytes[at + 1])))
                case 0x0C: out[i] = Float(Int32(bitPattern: bigEndian32(at)))
                case 0x0D: out[i] = Float(bitPattern: bigEndian32(at))
                default:
                    let word = UInt64(bigEndian32(at)) << 32 | UInt64(bigEndian32(at + 4))
                    out[i] = Float(Double(bitPattern: word))
                }
            }
        }
    }

    /// Encodes unsigned bytes as an idx file (type 0x08), for tests and tools.
    public static func encode(bytes values: [UInt8], shape: [Int]) -> Data {
        precondition(Tensor.elementCount(shape) == values.count, "IDX.encode: \(values.count) values for shape \(shape)")
        var data = Data([0, 0, 0x08, UInt8(shape.count)])
        for size in shape {
            let s = UInt32(size)
            data.append(contentsOf: [UInt8(s >> 24), UInt8(s >> 16 & 0xFF), UInt8(s >> 8 & 0xFF), UInt8(s & 0xFF)])
        }
        data.append(contentsOf: values)
        return data
    }
}
