// AtomicFile replaces only regular files: a pipe or a folder at the destination is refused and
// left as it was (a device such as /dev/full is the same case as the pipe; it is not used here
// so that a regression could never replace a real device), and a symbolic link is followed.

import Foundation
import Tensor
import Testing

@Suite("AtomicFile")
struct AtomicFileTests {
    @Test("writes a new file and replaces a regular one")
    func regularFiles() throws {
        let folder = try TestData.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("a.txt")
        try AtomicFile.write("one", to: url)
        try AtomicFile.write("two", to: url)
        #expect(try String(contentsOf: url, encoding: .utf8) == "two")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["a.txt"])  // no temporary left
    }

    @Test("a pipe or a folder at the destination is refused and left in place")
    func specialFilesAreRefused() throws {
        let folder = try TestData.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let pipe = folder.appendingPathComponent("pipe")
        #expect(mkfifo(pipe.path, 0o644) == 0)
        let directory = folder.appendingPathComponent("dir")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false)
        for (url, kind, expected) in [(pipe, "a pipe", S_IFIFO), (directory, "a folder", S_IFDIR)] {
            let error = #expect(throws: FileWriteError.self) { try AtomicFile.write("x", to: url) }
            #expect(error?.reason.contains(kind) == true, "\(String(describing: error))")
            var info = stat()
            #expect(lstat(url.path, &info) == 0 && info.st_mode & S_IFMT == expected, "\(kind) was replaced")
            // The tool-written path (gnuplot figures) refuses the same way and removes its temporary.
            let temporary = AtomicFile.temporaryURL(besides: url)
            try Data("y".utf8).write(to: temporary)
            #expect(throws: FileWriteError.self) { try AtomicFile.replace(url, withFileAt: temporary) }
            #expect(!FileManager.default.fileExists(atPath: temporary.path))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted() == ["dir", "pipe"])
    }

    @Test("a symbolic link is followed: its target is replaced, the link stays")
    func symbolicLinks() throws {
        let folder = try TestData.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let target = folder.appendingPathComponent("target.txt"), link = folder.appendingPathComponent("link.txt")
        try AtomicFile.write("old", to: target)
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: target)
        try AtomicFile.write("new", to: link)
        #expect(try String(contentsOf: target, encoding: .utf8) == "new")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link.path) == target.path)
    }
}
