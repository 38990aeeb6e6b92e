// AtomicFile: write a file so that readers see either the old content or the complete new one.
//
// Contract: `AtomicFile.write(to:)` creates a temporary file in the destination's folder, lets
// the caller stream bytes into it, flushes it to disk and renames it over the destination
// (rename(2) is atomic within one file system). On any error the temporary file is removed and
// the destination is untouched. Errors are thrown as `FileWriteError`, naming path and cause.

import Foundation

/// A failure to write a file, with the path and the operating system's reason.
public struct FileWriteError: Error, CustomStringConvertible {
    /// The file that could not be written.
    public let path: String
    /// What went wrong.
    public let reason: String

    /// A sentence naming the file and the cause.
    public var description: String { "Cannot write \(path): \(reason)" }
}

/// Atomic file writing: temporary file in the same folder, then rename.
public enum AtomicFile {
    /// A sink for the bytes of a file being written.
    public struct Writer {
        fileprivate let descriptor: Int32
        fileprivate let path: String

        /// Appends raw bytes to the file.
        public func write(_ bytes: UnsafeRawBufferPointer) throws {
            var done = 0
            while done < bytes.count {
                let n = Foundation.write(descriptor, bytes.baseAddress! + done, bytes.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FileWriteError(path: path, reason: String(cString: strerror(errno)))
                }
                done += n
            }
        }

        /// Appends the bytes of `data`.
        public func write(_ data: Data) throws {
            try data.withUnsafeBytes { try write($0) }
        }
    }

    /// Writes `url` atomically with the bytes `body` streams into the writer.
    public static func write(to url: URL, _ body: (Writer) throws -> Void) throws {
        let destination = url.standardizedFileURL.path
        let folder = (destination as NSString).deletingLastPathComponent
        let name = (destination as NSString).lastPathComponent
        var template = Array("\(folder.isEmpty ? "." : folder)/.\(name).tmp-XXXXXX".utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        if descriptor < 0 {
            throw FileWriteError(path: destination, reason: "cannot create a temporary file in \(folder): \(String(cString: strerror(errno)))")
        }
        let temporary = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        var closed = false
        do {
            try body(Writer(descriptor: descriptor, path: destination))
            fchmod(descriptor, 0o644)
            if fsync(descriptor) != 0 {
                throw FileWriteError(path: destination, reason: "fsync failed: \(String(cString: strerror(errno)))")
            }
            closed = true
            if close(descriptor) != 0 {
                throw FileWriteError(path: destination, reason: "close failed: \(String(cString: strerror(errno)))")
            }
            if rename(temporary, destination) != 0 {
                throw FileWriteError(path: destination, reason: "rename failed: \(String(cString: strerror(errno)))")
            }
        } catch {
            if !closed { close(descriptor) }
            unlink(temporary)
            throw error
        }
    }

    /// Writes `data` to `url` atomically.
    public static func write(_ data: Data, to url: URL) throws {
        try write(to: url) { try $0.write(data) }
    }
}
