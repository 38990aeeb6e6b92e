// Gzip through zlib: a stream written by Python's gzip module (Fixtures/hello.txt.gz with its
// text in gzip.json), concatenated members, and corrupt, truncated and non-gzip input.

import Foundation
import Testing
import Tensor

@Suite("Gzip: zlib inflate")
struct GzipTests {
    private struct Fixture: Decodable { let text: String }

    @Test("decompresses a file written by Python's gzip, alone and as two concatenated members")
    func pythonFixture() throws {
        let compressed = try Data(contentsOf: TestData.fixture("hello.txt.gz"))
        let expected = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: TestData.fixture("gzip.json"))).text
        #expect(String(decoding: try Gzip.decompress(compressed), as: UTF8.self) == expected)
        #expect(String(decoding: try Gzip.decompress(compressed + compressed), as: UTF8.self) == expected + expected)
    }

    @Test("corrupt, truncated and non-gzip input are thrown errors")
    func errors() throws {
        let compressed = try Data(contentsOf: TestData.fixture("hello.txt.gz"))
        var corrupt = compressed
        corrupt[compressed.count / 2] ^= 0x55
        var badCRC = compressed
        badCRC[compressed.count - 6] ^= 0x01                      // the CRC-32 trailer
        for (label, data) in [("corrupt", corrupt), ("bad CRC", badCRC), ("truncated", compressed.prefix(compressed.count - 10)),
                              ("header only", compressed.prefix(10)), ("not gzip", Data("plain text".utf8)), ("empty", Data())] {
            #expect(throws: GzipError.self, "\(label)") { try Gzip.decompress(data) }
        }
    }

    @Test("reads the CLIP vocabulary from ../shared", .enabled(if: TestData.hasShared, TestData.sharedSkipMessage))
    func clipVocabulary() throws {
        let shared = try #require(TestData.sharedFolder)
        let data = try Gzip.decompress(Data(contentsOf: shared.appendingPathComponent("clip/bpe_simple_vocab_16e6.txt.gz")))
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n")
        #expect(lines.count > 262_000)
        #expect(lines.first?.hasPrefix("\"bpe_simple_vocab_16e6.txt#version") == true)
    }
}
