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
/// (`strerror`), or the Cocoa error's kind when there is none.
public func fileErrorReason(_ error: any Error) -> String {
    let nsError = error as NSError
    if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
        return String(cString: strerror(Int32(underlying.code)))
    }
    if nsError.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(nsError.code))) }
    if let cocoa = error as? CocoaError {
        switch cocoa.code {
        case .fileNoSuchFile, .fileReadNoSuchFile: return "no such file or directory"
        case .fileReadNoPermission, .fileWriteNoPermission: return "permission denied"
        case .fileReadTooLarge: return "the file is too large to read into memory"
        case .fileReadCorruptFile: return "the file is corrupt"
        case .fileReadInapplicableStringEncoding: return "the file is not valid text in the expected encoding"
        case .fileWriteOutOfSpace: return "no space left on the device"
        case .fileWriteVolumeReadOnly: return "the volume is read-only"
        case .fileWriteFileExists: return "a file already exists there"
        default:
            return "it is not a readable regular file (a folder, a device, or unreadable; Foundation error \(cocoa.code.rawValue))"
        }
    }
    return nsError.localizedDescription
}
