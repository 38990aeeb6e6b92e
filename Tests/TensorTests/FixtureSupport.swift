// Helpers shared by the io tests: fixture paths, the shared data folder, ULP distances.

import Foundation
import Testing

/// Locations of test inputs, found from this file's path (no bundle resources).
enum TestData {
    /// `Tests/TensorTests/Fixtures/<name>`.
    static func fixture(_ name: String) -> URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures").appendingPathComponent(name)
    }

    /// The package root (two levels above this file's folder).
    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The shared data folder `../shared` next to the package (or `$SWIFTDIFFUSION_SHARED`
    /// when set, for checkouts that live elsewhere); nil when neither exists.
    static var sharedFolder: URL? {
        var candidates = [packageRoot.deletingLastPathComponent().appendingPathComponent("shared")]
        if let env = ProcessInfo.processInfo.environment["SWIFTDIFFUSION_SHARED"] {
            candidates.insert(URL(fileURLWithPath: env), at: 0)
        }
        return candidates.first { FileManager.default.fileExists(atPath: $0.path) }
    }

    /// The condition and message that skip a test needing `../shared` when it is absent.
    static let hasShared = sharedFolder != nil
    static let sharedSkipMessage: Comment = "../shared (or $SWIFTDIFFUSION_SHARED) is missing"

    /// A fresh, empty temporary folder for one test.
    static func temporaryFolder() throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("tensor-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// Distance in units in the last place between two finite floats (0 when bit-identical;
/// +0 and -0 count as equal). Consecutive representable floats are 1 apart.
func ulpDistance(_ a: Float, _ b: Float) -> Int {
    func ordered(_ x: Float) -> Int {
        let bits = Int(Int32(bitPattern: x.bitPattern))
        return bits < 0 ? Int(Int32.min) - bits : bits
    }
    return abs(ordered(a) - ordered(b))
}
