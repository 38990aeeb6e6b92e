// PNG: read and write PNG images through libpng's simplified `png_image` API.
//
// Contract: `PNG.read` decodes any PNG libpng accepts into a [C, H, W] Float tensor with values
// k / 255 in [0, 1], keeping the file's channels: gray → C = 1, gray+alpha → 2, RGB → 3,
// RGBA → 4; palette images expand to RGB, or RGBA when they carry transparency (tRNS); 16-bit
// images are reduced to 8 bits by libpng. `PNG.write` encodes [C, H, W] with C in 1...4 as 8-bit
// gray, gray+alpha, RGB or RGBA, values clamped to [0, 1] and rounded to the nearest k / 255
// (NaN becomes 0), and writes the file atomically. A corrupt, truncated or non-PNG input is a
// thrown `PNGError` carrying libpng's own message. The simplified API reports errors as return
// values (libpng's longjmp stays inside libpng), so no C error handling crosses Swift frames.

import CLibPNG
import Foundation

/// A PNG that could not be read or written, with libpng's message.
public struct PNGError: Error, CustomStringConvertible {
    /// The file concerned (or "<memory>").
    public let path: String
    /// What went wrong, usually libpng's own words.
    public let message: String

    /// A sentence naming the file and the problem.
    public var description: String { "PNG \(path): \(message)" }
}

/// PNG decoding and encoding for [C, H, W] tensors in [0, 1].
public enum PNG {
    /// Reads the PNG file at `url` as a [C, H, W] tensor in [0, 1].
    /// - Parameter maxPixels: refuse, from the header and before allocating, an image of more
    ///   pixels (width × height) than this; nil allows up to 2³¹ values.
    public static func read(_ url: URL, maxPixels: Int? = nil) throws -> Tensor {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw PNGError(path: url.path, message: "cannot read the file: \(fileErrorReason(error))")
        }
        return try decode(data, path: url.path, maxPixels: maxPixels)
    }

    /// Decodes PNG bytes into a [C, H, W] tensor in [0, 1].
    /// - Parameter maxPixels: as in `read(_:maxPixels:)`.
    public static func decode(_ data: Data, path: String = "<memory>", maxPixels: Int? = nil) throws -> Tensor {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        let begun = data.withUnsafeBytes { bytes in
            png_image_begin_read_from_memory(&image, bytes.baseAddress, bytes.count)
        }
        if begun == 0 { throw PNGError(path: path, message: message(of: image)) }
        // Keep the file's channels: palette files become RGB(A); no 16-bit (LINEAR) output.
        let source = image.format
        let alpha = source & UInt32(PNG_FORMAT_FLAG_ALPHA) != 0
        let color = source & UInt32(PNG_FORMAT_FLAG_COLOR) != 0
        image.format = (alpha ? UInt32(PNG_FORMAT_FLAG_ALPHA) : 0) | (color ? UInt32(PNG_FORMAT_FLAG_COLOR) : 0)
        let channels = (color ? 3 : 1) + (alpha ? 1 : 0)
        let width = Int(image.width), height = Int(image.height)
        let (pixelCount, overflow) = width.multipliedReportingOverflow(by: height)
        guard !overflow, pixelCount <= (1 << 31) / channels else {
            png_image_free(&image)
            throw PNGError(path: path, message: "image of \(width)x\(height) pixels is too large")
        }
        if let maxPixels, pixelCount > maxPixels {
            png_image_free(&image)
            throw PNGError(path: path, message: "image of \(width)x\(height) pixels is larger than the \(maxPixels) pixels accepted here; scale it down first")
        }
        // Deflate expands at most 1032:1, so a header promising more pixels than the file could
        // hold is corrupt; refuse it before allocating (protects against hostile headers).
        let (bound, boundOverflow) = data.count.multipliedReportingOverflow(by: 1032)
        if !boundOverflow, pixelCount / 8 > bound {
            png_image_free(&image)
            throw PNGError(path: path, message: "a \(data.count)-byte file cannot hold \(width)x\(height) pixels (truncated or corrupt)")
        }
        var pixels = [UInt8](repeating: 0, count: pixelCount * channels)
        let finished = data.withUnsafeBytes { _ in           // the input must stay alive while libpng reads it
            pixels.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
        }
        if finished == 0 { throw PNGError(path: path, message: message(of: image)) }
        // Interleaved [H, W, C] bytes → planar [C, H, W] floats.
        return Tensor(shape: [channels, height, width]) { out in
            pixels.withUnsafeBufferPointer { p in
                for c in 0..<channels {
                    for i in 0..<pixelCount { out[c * pixelCount + i] = Float(p[i * channels + c]) / 255 }
                }
            }
        }
    }

    /// Writes a [C, H, W] tensor (C = 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA) to `url` atomically.
    public static func write(_ image: Tensor, to url: URL) throws {
        let data = try encode(image, path: url.path)
        do { try AtomicFile.write(data, to: url) } catch {
            throw PNGError(path: url.path, message: "\(error)")
        }
    }

    /// Encodes a [C, H, W] tensor in [0, 1] (C in 1...4) as PNG bytes.
    public static func encode(_ image: Tensor, path: String = "<memory>") throws -> Data {
        guard image.rank == 3, (1...4).contains(image.shape[0]), image.shape[1] > 0, image.shape[2] > 0 else {
            throw PNGError(path: path, message: "expected a [C, H, W] tensor with C in 1...4 and H, W > 0, got shape \(image.shape)")
        }
        let channels = image.shape[0], height = image.shape[1], width = image.shape[2]
        guard width < 1 << 24, height < 1 << 24 else {
            throw PNGError(path: path, message: "image of \(width)x\(height) pixels is too large for PNG encoding here")
        }
        let pixelCount = width * height
        var pixels = [UInt8](repeating: 0, count: pixelCount * channels)
        image.withUnsafeBufferPointer { src in
            for c in 0..<channels {
                for i in 0..<pixelCount {
                    let v = src[c * pixelCount + i]
                    pixels[i * channels + c] = v.isNaN ? 0 : UInt8((Swift.min(Swift.max(v, 0), 1) * 255).rounded())
                }
            }
        }
        var png = png_image()
        png.version = UInt32(PNG_IMAGE_VERSION)
        png.width = UInt32(width)
        png.height = UInt32(height)
        png.format = [0, UInt32(PNG_FORMAT_FLAG_ALPHA), UInt32(PNG_FORMAT_FLAG_COLOR),
                      UInt32(PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA)][channels - 1]
        // One pass into a buffer of libpng's own upper bound (PNG_IMAGE_PNG_SIZE_MAX: zlib's
        // deflate bound of the pixel bytes plus chunk overheads, with extra slack); should it
        // still be short, libpng reports the size it needs and the write is repeated once.
        let rawBytes = pixelCount * channels + height
        let compressedMax = rawBytes + (rawBytes + 7) >> 3 + (rawBytes + 63) >> 6 + 11
        var size = compressedMax + 12 * (compressedMax / 1024 + 1) + 1024
        var out = Data(count: size)
        var written: Int32 = 0
        for _ in 0..<2 {
            let capacity = size
            written = out.withUnsafeMutableBytes { dst in
                pixels.withUnsafeBytes { png_image_write_to_memory(&png, dst.baseAddress, &size, 0, $0.baseAddress, 0, nil) }
            }
            if written != 0 || size <= capacity || size == 0 { break }
            out = Data(count: size)                 // too small: libpng told us the size it needs
        }
        if written == 0 { throw PNGError(path: path, message: message(of: png)) }
        out.count = size
        return out
    }

    /// libpng's message for the last error or warning of `image`.
    private static func message(of image: png_image) -> String {
        var message = image.message
        let text = withUnsafeBytes(of: &message) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        return text.isEmpty ? "libpng reported an error without a message" : text
    }
}
