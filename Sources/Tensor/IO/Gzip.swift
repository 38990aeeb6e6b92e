// Gzip: decompress gzip (and zlib) streams with the system zlib.
//
// Contract: `Gzip.decompress` inflates a gzip file's bytes (RFC 1952), detecting a gzip or
// zlib header automatically (windowBits 15 + 32), and concatenated gzip members are joined as
// `zcat` does. Corrupt or truncated input is a thrown `GzipError` with zlib's message.

import CZlib
import Foundation

/// A gzip stream that could not be decompressed.
public struct GzipError: Error, CustomStringConvertible {
    /// What went wrong, with zlib's message when it gave one.
    public let message: String

    /// A sentence naming the problem.
    public var description: String { "gzip: \(message)" }
}

/// gzip decompression through zlib.
public enum Gzip {
    /// The decompressed bytes of a gzip (or zlib) stream.
    public static func decompress(_ data: Data) throws -> Data {
        var stream = z_stream()
        // windowBits 15 + 32: up to 32 KiB window, gzip or zlib header detected automatically.
        guard inflateInit2_(&stream, 15 + 32, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw GzipError(message: "zlib could not be initialized")
        }
        defer { inflateEnd(&stream) }
        var output = Data()
        let chunkSize = 1 << 16
        var chunk = [UInt8](repeating: 0, count: chunkSize)
        try data.withUnsafeBytes { (input: UnsafeRawBufferPointer) in
            guard let base = input.baseAddress, input.count > 0 else {
                throw GzipError(message: "empty input is not a gzip stream")
            }
            stream.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: Bytef.self))
            stream.avail_in = uInt(input.count)
            while true {
                let status = chunk.withUnsafeMutableBufferPointer { out -> Int32 in
                    stream.next_out = out.baseAddress
                    stream.avail_out = uInt(chunkSize)
                    return inflate(&stream, Z_NO_FLUSH)
                }
                output.append(contentsOf: chunk[0..<(chunkSize - Int(stream.avail_out))])
                switch status {
                case Z_OK:
                    continue
                case Z_STREAM_END:
                    // Another gzip member may follow (as `cat a.gz b.gz` makes).
                    if stream.avail_in == 0 { return }
                    guard inflateReset(&stream) == Z_OK else { throw GzipError(message: "zlib could not restart after a member") }
                case Z_BUF_ERROR where stream.avail_in == 0:
                    throw GzipError(message: "truncated input: the stream ends after \(input.count) bytes without its end marker")
                default:
                    let text = stream.msg.map { String(cString: $0) } ?? "error code \(status)"
                    throw GzipError(message: "corrupt input (\(text)) after \(Int(stream.total_in)) bytes")
                }
            }
        }
        return output
    }
}
