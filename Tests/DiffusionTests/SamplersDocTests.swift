// docs/samplers.md embeds the samplers table `diffuse samplers --markdown` prints from the
// registry; this test fails when the two disagree (regenerate the block with that command).

import Diffusion
import Foundation
import Testing

@Suite struct SamplersDocTests {
    @Test func samplersDocTableIsTheRegistrysTable() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let doc = try String(contentsOf: root.appendingPathComponent("docs/samplers.md"), encoding: .utf8)
        let begin = try #require(doc.range(of: SamplerRegistry.tableMarkers.begin), "docs/samplers.md lacks the table's begin marker")
        let end = try #require(doc.range(of: SamplerRegistry.tableMarkers.end, range: begin.upperBound..<doc.endIndex),
                               "docs/samplers.md lacks the table's end marker")
        let embedded = doc[begin.upperBound..<end.lowerBound].trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(embedded == SamplerRegistry.markdownTable(),
                "docs/samplers.md's table differs from the registry: paste the output of `diffuse samplers --markdown`")
        for name in SamplerName.allCases { #expect(embedded.contains("`\(name.rawValue)`"), "\(name) missing") }
    }
}
