// CSVTable: RFC 4180 quoting, exact numbers, empty cells, atomic writes into new folders.
import Foundation
import Tensor
import Testing

@Suite("CSVTable")
struct CSVTableTests {
    @Test("quoting, empty cells and exact numbers")
    func format() {
        var table = CSVTable(header: ["name", "value", "note"])
        table.append(["a,b", 0.1, nil])
        table.append(["say \"hi\"", Float(1e-5), 3])
        #expect(table.text == "name,value,note\n\"a,b\",0.1,\n\"say \"\"hi\"\"\",1e-05,3\n")
    }

    @Test("written files read back and leave no temporary file")
    func atomicWrite() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("csv-\(UUID().uuidString)/nested")
        defer { try? FileManager.default.removeItem(at: folder.deletingLastPathComponent()) }
        var table = CSVTable(header: ["a"])
        table.append([1])
        let url = folder.appendingPathComponent("t.csv")
        try table.write(to: url)
        try table.write(to: url)
        #expect(try String(contentsOf: url, encoding: .utf8) == "a\n1\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["t.csv"])
    }
}
