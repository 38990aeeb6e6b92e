// AtomicFile: write a file so that readers see either the old file or the complete new one.
//
// Contract: data is written to a temporary file in the destination's own folder (so the final
// step is a same-filesystem `rename(2)`, which is atomic), then renamed over the destination.
// A failure leaves the destination untouched and removes the temporary file.

import Foundation

/// Atomic file writes through a temporary file and a rename.
public enum AtomicFile {
    /// Writes `data` to `url` atomically, creating the folder if needed.
    public static func write(_ data: Data, to url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let temporary = temporaryURL(besides: url)
        do {
            guard FileManager.default.createFile(atPath: temporary.path, contents: data) else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: temporary.path])
            }
            try replace(url, withFileAt: temporary)
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
    }

    /// Writes `text` as UTF-8 to `url` atomically.
    public static func write(_ text: String, to url: URL) throws {
        try write(Data(text.utf8), to: url)
    }

    /// A fresh temporary file name in the same folder as `url` (hidden, unique per call).
    public static func temporaryURL(besides url: URL) -> URL {
        let name = ".\(url.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).\(UUID().uuidString).tmp"
        return url.deletingLastPathComponent().appendingPathComponent(name)
    }

    /// Renames `temporary` over `url` in one step (`rename(2)`).
    public static func replace(_ url: URL, withFileAt temporary: URL) throws {
        if rename(temporary.path, url.path) != 0 {
            let code = errno
            throw CocoaError(.fileWriteUnknown, userInfo: [
                NSFilePathErrorKey: url.path,
                NSLocalizedDescriptionKey: "could not rename \(temporary.path) to \(url.path): \(String(cString: strerror(code)))",
            ])
        }
    }
}
