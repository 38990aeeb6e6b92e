// Contract: Foundation's file errors as sentences a user can act on. On Linux,
// `Data(contentsOf:)` of a folder, of a file without read permission or of a missing file throws a
// `CocoaError` whose `localizedDescription` is often only "The operation could not be completed"
// or "NSCocoaErrorDomain error 256"; `describeFileError` names the path and the system's reason
// ("Is a directory", "Permission denied", "No such file or directory") instead. Any other error
// is described by its own `description`.

import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A sentence naming the file and the reason for a file error from Foundation ("cannot read
/// models/x/config.json: Is a directory"); other errors give their own description.
public func describeFileError(_ error: any Error) -> String {
    if let cocoa = error as? CocoaError {
        let path = cocoa.filePath ?? cocoa.url?.path
        let verb = (512..<1024).contains(cocoa.code.rawValue) ? "cannot write" : "cannot read"
        return path.map { "\(verb) \($0): \(fileErrorReason(cocoa))" } ?? "\(verb) a file: \(fileErrorReason(cocoa))"
    }
    if let posix = error as? POSIXError {
        return String(cString: strerror(posix.code.rawValue))
    }
    return String(describing: error)
}

/// The reason of a file error without its path: the underlying system error's text
/// (`strerror`), else what the file system says about the error's path (missing, a folder,
/// unreadable), else the Cocoa error's kind.
public func fileErrorReason(_ error: any Error) -> String {
    let nsError = error as NSError
    if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
        return systemMessage(Int32(underlying.code))
    }
    if nsError.domain == NSPOSIXErrorDomain { return systemMessage(Int32(nsError.code)) }
    if let cocoa = error as? CocoaError {
        let isWrite = (512..<1024).contains(cocoa.code.rawValue)
        if !isWrite, let path = cocoa.filePath ?? cocoa.url?.path, let reason = fileSystemReason(path) { return reason }
        switch cocoa.code {
        case .fileNoSuchFile, .fileReadNoSuchFile: return systemMessage(ENOENT)
        case .fileReadNoPermission, .fileWriteNoPermission: return systemMessage(EACCES)
        case .fileReadTooLarge: return "the file is too large to read into memory"
        case .fileReadCorruptFile: return "the file is corrupt"
        case .fileReadInapplicableStringEncoding: return "the file is not valid text in the expected encoding"
        case .fileWriteOutOfSpace: return systemMessage(ENOSPC)
        case .fileWriteVolumeReadOnly: return systemMessage(EROFS)
        case .fileWriteFileExists: return systemMessage(EEXIST)
        default: return isWrite ? "the file could not be written" : "the file could not be read"
        }
    }
    return nsError.localizedDescription
}

/// The system's text for an errno value ("No such file or directory").
private func systemMessage(_ code: Int32) -> String { String(cString: strerror(code)) }

/// Why `path` cannot be read, from the file system: missing, a folder, or not readable; nil
/// when it looks like a readable file.
private func fileSystemReason(_ path: String) -> String? {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return systemMessage(ENOENT) }
    if isDirectory.boolValue { return systemMessage(EISDIR) }
    if !FileManager.default.isReadableFile(atPath: path) { return systemMessage(EACCES) }
    return nil
}
