// Contract: the generation parameters written into a PNG, in AUTOMATIC1111's `parameters`
// text format, so an image says how it was made and can be made again
// (`diffuse txt2img --from-png`):
//
//     a prompt, possibly on several lines
//     Negative prompt: what to avoid
//     Steps: 20, Sampler: Euler a, CFG scale: 7.5, Seed: 1, Size: 512x512, Model hash: 1a2b3c4d, Clip skip: 2
//
// plus the PNG `tEXt` chunks that carry it (written after IHDR, read back by key), and
// AUTOMATIC1111's short model hash (the first 8 hex digits of the SHA-256 of the 64 KiB at
// offset 1 MiB of the weights file, its "old" hash: fast on multi-GB files).

import Foundation

/// How an image was generated, as AUTOMATIC1111 writes it.
public struct GenerationParameters: Equatable, Sendable {
    /// The prompt.
    public var prompt: String
    /// The negative prompt ("" when none).
    public var negativePrompt: String = ""
    /// Sampler steps.
    public var steps: Int
    /// The sampler name as given (an A1111 label, a k-diffusion name or a diffusers class).
    public var sampler: String
    /// A sigma schedule name ("Schedule type"), if one was chosen.
    public var schedule: String?
    /// The guidance scale ("CFG scale").
    public var cfgScale: Double
    /// The seed.
    public var seed: UInt64
    /// Width and height in pixels.
    public var width: Int, height: Int
    /// AUTOMATIC1111's "Clip skip" (1: the last layer, 2: the one before, ...).
    public var clipSkip: Int = 1
    /// The img2img / inpainting strength ("Denoising strength"), if any.
    public var denoisingStrength: Double?
    /// The short model hash, if known.
    public var modelHash: String?
    /// The model's name (file or folder name), if known.
    public var model: String?
    /// Fields this type does not interpret, kept in order so a round trip loses nothing.
    public var otherFields: [(key: String, value: String)] = []

    /// Creates parameters.
    public init(prompt: String, negativePrompt: String = "", steps: Int, sampler: String, schedule: String? = nil,
                cfgScale: Double, seed: UInt64, width: Int, height: Int, clipSkip: Int = 1,
                denoisingStrength: Double? = nil, modelHash: String? = nil, model: String? = nil) {
        self.prompt = prompt
        self.negativePrompt = negativePrompt
        self.steps = steps
        self.sampler = sampler
        self.schedule = schedule
        self.cfgScale = cfgScale
        self.seed = seed
        self.width = width
        self.height = height
        self.clipSkip = clipSkip
        self.denoisingStrength = denoisingStrength
        self.modelHash = modelHash
        self.model = model
    }

    /// Equal when every field, including the uninterpreted ones, is equal.
    public static func == (a: Self, b: Self) -> Bool {
        a.text == b.text
    }

    /// The `parameters` text (see the file comment). Values holding a comma, colon or quote are
    /// written as JSON strings, as AUTOMATIC1111 does.
    public var text: String {
        var fields: [(String, String)] = [("Steps", "\(steps)"), ("Sampler", sampler)]
        if let schedule { fields.append(("Schedule type", schedule)) }
        fields += [("CFG scale", Self.number(cfgScale)), ("Seed", "\(seed)"), ("Size", "\(width)x\(height)")]
        if let modelHash { fields.append(("Model hash", modelHash)) }
        if let model { fields.append(("Model", model)) }
        if let denoisingStrength { fields.append(("Denoising strength", Self.number(denoisingStrength))) }
        if clipSkip != 1 { fields.append(("Clip skip", "\(clipSkip)")) }
        fields += otherFields.map { ($0.key, $0.value) }
        var lines = [prompt]
        if !negativePrompt.isEmpty { lines.append("Negative prompt: " + negativePrompt) }
        lines.append(fields.map { "\($0.0): \(Self.quoted($0.1))" }.joined(separator: ", "))
        return lines.joined(separator: "\n")
    }

    /// Parses a `parameters` text.
    /// - Throws: `StableDiffusionPipelineError` when the last line is not a "Key: value, ..."
    ///   list with Steps, Sampler, CFG scale, Seed and Size, or a value is malformed.
    public init(parsing text: String) throws {
        var lines = text.replacingOccurrences(of: "\r\n", with: "\n").components(separatedBy: "\n")
        guard let last = lines.popLast(), last.hasPrefix("Steps: ") else {
            throw StableDiffusionPipelineError("the parameters text does not end with a \"Steps: ..., Sampler: ..., Seed: ...\" line (AUTOMATIC1111's format)")
        }
        var promptLines: [String] = [], negativeLines: [String] = []
        var inNegative = false
        for line in lines {
            if line.hasPrefix("Negative prompt: ") { inNegative = true; negativeLines.append(String(line.dropFirst(17))); continue }
            if inNegative { negativeLines.append(line) } else { promptLines.append(line) }
        }
        var fields: [(key: String, value: String)] = []
        var rest = Substring(last)
        while !rest.isEmpty {
            guard let colon = rest.range(of: ": ") else {
                throw StableDiffusionPipelineError("malformed parameters field \"\(rest)\": expected \"Key: value\"")
            }
            let key = rest[..<colon.lowerBound].trimmingCharacters(in: .whitespaces)
            rest = rest[colon.upperBound...]
            var value: String
            if rest.hasPrefix("\"") {
                // A JSON string: up to the closing unescaped quote.
                var i = rest.index(after: rest.startIndex), escaped = false
                while i < rest.endIndex, escaped || rest[i] != "\"" { escaped = !escaped && rest[i] == "\\"; i = rest.index(after: i) }
                guard i < rest.endIndex, let decoded = try? JSONDecoder().decode(String.self, from: Data(rest[...i].utf8)) else {
                    throw StableDiffusionPipelineError("unterminated quoted value of \"\(key)\" in the parameters text")
                }
                value = decoded
                rest = rest[rest.index(after: i)...]
            } else {
                let end = rest.range(of: ", ")?.lowerBound ?? rest.endIndex
                value = String(rest[..<end])
                rest = rest[end...]
            }
            if rest.hasPrefix(", ") { rest = rest.dropFirst(2) }
            fields.append((key, value))
        }
        func field(_ key: String) -> String? { fields.first { $0.key == key }?.value }
        func required(_ key: String) throws -> String {
            guard let v = field(key) else { throw StableDiffusionPipelineError("the parameters text has no \"\(key)\" field") }
            return v
        }
        func parse<T>(_ key: String, _ make: (String) -> T?) throws -> T {
            let v = try required(key)
            guard let parsed = make(v) else { throw StableDiffusionPipelineError("the parameters field \"\(key)\" has the malformed value \"\(v)\"") }
            return parsed
        }
        let size = try parse("Size") { s -> (Int, Int)? in
            let parts = s.split(separator: "x")
            guard parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]) else { return nil }
            return (w, h)
        }
        self.init(prompt: promptLines.joined(separator: "\n"), negativePrompt: negativeLines.joined(separator: "\n"),
                  steps: try parse("Steps") { Int($0) }, sampler: try required("Sampler"), schedule: field("Schedule type"),
                  cfgScale: try parse("CFG scale") { Double($0) }, seed: try parse("Seed") { UInt64($0) },
                  width: size.0, height: size.1, clipSkip: try field("Clip skip").map { _ in try parse("Clip skip") { Int($0) } } ?? 1,
                  denoisingStrength: try field("Denoising strength").map { _ in try parse("Denoising strength") { Double($0) } },
                  modelHash: field("Model hash"), model: field("Model"))
        let known: Set = ["Steps", "Sampler", "Schedule type", "CFG scale", "Seed", "Size", "Clip skip", "Denoising strength", "Model hash", "Model"]
        otherFields = fields.filter { !known.contains($0.key) }
    }

    private static func number(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(format: "%.1f", v) : "\(v)"
    }

    private static func quoted(_ v: String) -> String {
        guard v.contains(",") || v.contains(":") || v.contains("\"") || v.contains("\n") else { return v }
        let data = (try? JSONEncoder().encode(v)) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

/// PNG text chunks (`tEXt`: a Latin-1 keyword, a zero byte, Latin-1 text; `iTXt` for UTF-8 text).
public enum PNGText {
    private static let signature: [UInt8] = [137, 80, 78, 71, 13, 10, 26, 10]

    /// `png` with one text chunk per entry inserted after IHDR: `tEXt` when the text is Latin-1,
    /// otherwise an uncompressed `iTXt` (UTF-8).
    /// - Throws: `StableDiffusionPipelineError` when `png` is not a PNG stream.
    public static func inserting(_ entries: [(key: String, text: String)], into png: Data) throws -> Data {
        let bytes = [UInt8](png)
        guard bytes.count > 33, Array(bytes[0..<8]) == signature, String(decoding: bytes[12..<16], as: UTF8.self) == "IHDR" else {
            throw StableDiffusionPipelineError("not a PNG stream (no signature and IHDR chunk)")
        }
        let ihdrEnd = 8 + 12 + Int(readUInt32(bytes, 8))
        var out = Array(bytes[0..<ihdrEnd])
        for (key, text) in entries {
            if let latin = text.data(using: .isoLatin1), let k = key.data(using: .isoLatin1) {
                out += chunk("tEXt", [UInt8](k) + [0] + [UInt8](latin))
            } else {
                out += chunk("iTXt", [UInt8](key.utf8) + [0, 0, 0, 0, 0] + [UInt8](text.utf8))
            }
        }
        out += bytes[ihdrEnd...]
        return Data(out)
    }

    /// The text chunks (`tEXt`, uncompressed `iTXt`) of a PNG stream, keyword → text.
    /// - Throws: `StableDiffusionPipelineError` for a stream that is not a PNG or is truncated.
    public static func read(_ png: Data) throws -> [String: String] {
        let bytes = [UInt8](png)
        guard bytes.count >= 8, Array(bytes[0..<8]) == signature else {
            throw StableDiffusionPipelineError("not a PNG file (the 8-byte PNG signature is missing)")
        }
        var result: [String: String] = [:]
        var offset = 8
        while offset + 12 <= bytes.count {
            let length = Int(readUInt32(bytes, offset))
            let type = String(decoding: bytes[(offset + 4)..<(offset + 8)], as: UTF8.self)
            guard offset + 12 + length <= bytes.count else { throw StableDiffusionPipelineError("the PNG file is truncated inside its \(type) chunk") }
            let body = Array(bytes[(offset + 8)..<(offset + 8 + length)])
            if let zero = body.firstIndex(of: 0) {
                let key = String(decoding: body[..<zero], as: UTF8.self)
                if type == "tEXt" {
                    result[key] = String(data: Data(body[(zero + 1)...]), encoding: .isoLatin1)
                } else if type == "iTXt", body.count > zero + 2, body[zero + 1] == 0 {
                    // compression flag 0, method, language tag \0, translated keyword \0, text.
                    var i = zero + 3, zeros = 0
                    while i < body.count, zeros < 2 { if body[i] == 0 { zeros += 1 }; i += 1 }
                    result[key] = String(decoding: body[min(i, body.count)...], as: UTF8.self)
                }
            }
            if type == "IEND" { break }
            offset += 12 + length
        }
        return result
    }

    private static func readUInt32(_ b: [UInt8], _ i: Int) -> UInt32 {
        UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3])
    }

    private static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let n = UInt32(data.count)
        let typed = [UInt8](type.utf8) + data
        let crc = crc32(typed)
        return [UInt8(n >> 24), UInt8(n >> 16 & 255), UInt8(n >> 8 & 255), UInt8(n & 255)] + typed
            + [UInt8(crc >> 24), UInt8(crc >> 16 & 255), UInt8(crc >> 8 & 255), UInt8(crc & 255)]
    }

    /// CRC-32 (ISO 3309, the polynomial 0xEDB88320 reflected), as the PNG specification defines it.
    static func crc32(_ data: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for byte in data {
            c ^= UInt32(byte)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        }
        return c ^ 0xFFFF_FFFF
    }
}

/// AUTOMATIC1111's short ("old") model hash: the first 8 hex digits of SHA-256 over the 64 KiB
/// at offset 0x100000 of the file (fewer bytes when the file is shorter).
/// - Throws: the file's read error.
public func automatic1111ModelHash(of url: URL) throws -> String {
    let handle = try FileHandle(forReadingFrom: url)
    defer { try? handle.close() }
    try handle.seek(toOffset: 0x100000)
    let data = try handle.read(upToCount: 0x10000) ?? Data()
    return String(SHA256.hex(of: [UInt8](data)).prefix(8))
}

/// SHA-256 (FIPS 180-4), for the model hash.
enum SHA256 {
    private static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    /// The digest of `message` as 64 lowercase hex digits.
    static func hex(of message: [UInt8]) -> String {
        var h: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
        var m = message + [0x80]
        while m.count % 64 != 56 { m.append(0) }
        let bits = UInt64(message.count) * 8
        for i in (0..<8).reversed() { m.append(UInt8(bits >> (UInt64(i) * 8) & 0xff)) }
        func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { x >> n | x << (32 - n) }
        var w = [UInt32](repeating: 0, count: 64)
        for block in stride(from: 0, to: m.count, by: 64) {
            for t in 0..<16 {
                w[t] = UInt32(m[block + 4 * t]) << 24 | UInt32(m[block + 4 * t + 1]) << 16 | UInt32(m[block + 4 * t + 2]) << 8 | UInt32(m[block + 4 * t + 3])
            }
            for t in 16..<64 {
                let s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3)
                let s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10)
                w[t] = w[t - 16] &+ s0 &+ w[t - 7] &+ s1
            }
            var (a, b, c, d, e, f, g, hh) = (h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7])
            for t in 0..<64 {
                let t1 = hh &+ (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) &+ ((e & f) ^ (~e & g)) &+ k[t] &+ w[t]
                let t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) &+ ((a & b) ^ (a & c) ^ (b & c))
                (hh, g, f, e, d, c, b, a) = (g, f, e, d &+ t1, c, b, a, t1 &+ t2)
            }
            for (i, v) in [a, b, c, d, e, f, g, hh].enumerated() { h[i] = h[i] &+ v }
        }
        return h.map { String(format: "%08x", $0) }.joined()
    }
}
