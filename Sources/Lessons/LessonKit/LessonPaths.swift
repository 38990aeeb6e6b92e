// LessonPaths: where a lesson finds the package's files and the shared data folder, whatever
// the working directory it is started from.

import Foundation

/// The package root: the nearest folder above this source file that holds `Package.swift`
/// (the working directory when none is found).
public let packageRoot: URL = {
    var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    while url.path != "/" {
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        url = url.deletingLastPathComponent()
    }
    return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
}()

/// `$SWIFTDIFFUSION_SHARED`, else `../shared` beside the package.
public let sharedFolder: URL = {
    if let path = ProcessInfo.processInfo.environment["SWIFTDIFFUSION_SHARED"] { return URL(fileURLWithPath: path) }
    return packageRoot.deletingLastPathComponent().appendingPathComponent("shared")
}()

/// A path relative to the working directory if it exists there, else relative to the package.
public func lessonPath(_ path: String) -> URL {
    if path.hasPrefix("/") || FileManager.default.fileExists(atPath: path) { return URL(fileURLWithPath: path) }
    return packageRoot.appendingPathComponent(path)
}
