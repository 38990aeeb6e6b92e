// AtomicFile: write a file so that readers see either the old content or the complete new one.
//
// Contract: `AtomicFile.write(to:)` creates a temporary file in the destination's folder, lets
// the caller stream bytes into it, flushes it to disk and renames it over the destination
// (rename(2) is atomic within one file system). On any error the temporary file is removed and
// the destination is untouched. Errors are thrown as `FileWriteError`, naming path and cause.
// Only a regular file (or nothing) is ever replaced: a device (`/dev/null`, `/dev/full`), a
// folder, a pipe or a socket at the destination is refused before anything is written, since a
// rename would silently put a file in its place. A symbolic link is followed, so the file it
// points to is replaced and the link stays.

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

    /// Writes `url` atomically with the bytes `body` streams into the writer, creating the
    /// destination's folder when it does not exist.
    public static func write(to url: URL, _ body: (Writer) throws -> Void) throws {
        let destination = try replaceableDestination(url.standardizedFileURL.path)
        let folder = (destination as NSString).deletingLastPathComponent
        if !folder.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            } catch {
                throw FileWriteError(path: destination, reason: "cannot create the folder \(folder): \(fileErrorReason(error))")
            }
        }
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

    /// Writes `text` as UTF-8 to `url` atomically.
    public static func write(_ text: String, to url: URL) throws {
        try write(Data(text.utf8), to: url)
    }

    /// The path to write for `path`: itself when it is missing or a regular file, the file a
    /// symbolic link points to; anything else is refused with a `FileWriteError`.
    static func replaceableDestination(_ path: String) throws -> String {
        var info = stat()
        guard lstat(path, &info) == 0 else { return path }  // nothing there yet
        var kind = info.st_mode & S_IFMT
        var resolved = path
        if kind == S_IFLNK {
            guard stat(path, &info) == 0, let real = realpath(path, nil) else {
                return (path as NSString).resolvingSymlinksInPath  // a dangling link
            }
            resolved = String(cString: real)
            free(real)
            kind = info.st_mode & S_IFMT
        }
        if kind == S_IFREG { return resolved }
        let what: String
        switch kind {
        case S_IFDIR: what = "a folder"
        case S_IFCHR, S_IFBLK: what = "a device"
        case S_IFIFO: what = "a pipe"
        case S_IFSOCK: what = "a socket"
        default: what = "not a regular file"
        }
        throw FileWriteError(path: path, reason: "it is \(what), which would be replaced by a file; refusing (give the path of a file to write)")
    }

    /// A fresh hidden file name in the same folder as `url`, for a tool (such as gnuplot) that
    /// writes a file itself; move it into place with `replace(_:withFileAt:)`.
    public static func temporaryURL(besides url: URL) -> URL {
        let name = ".\(url.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).\(UUID().uuidString).tmp"
        return url.deletingLastPathComponent().appendingPathComponent(name)
    }

    /// Renames `temporary` over `url` in one step (`rename(2)`, atomic within a file system),
    /// refusing, as `write(to:_:)` does, a destination that is not a regular file.
    public static func replace(_ url: URL, withFileAt temporary: URL) throws {
        let destination: String
        do { destination = try replaceableDestination(url.path) } catch {
            unlink(temporary.path)
            throw error
        }
        if rename(temporary.path, destination) != 0 {
            throw FileWriteError(path: url.path, reason: "cannot rename \(temporary.path) over it: \(String(cString: strerror(errno)))")
        }
    }
}
