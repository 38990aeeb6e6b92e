// CSVTable: RFC 4180 quoting, exact numbers, empty cells, atomic writes into new folders, and
// reading back what was written (or a malformed file, as a thrown error naming the line).
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

    @Test("a written table reads back equal, quoted commas, quotes and line breaks included")
    func roundTrip() throws {
        var table = CSVTable(header: ["name", "value", "note"])
        table.append(["a,b", 0.1, nil])
        table.append(["say \"hi\"", Float(1e-5), "two\nlines"])
        #expect(try CSVTable(parsing: table.text) == table)
        #expect(try CSVTable(parsing: "x,y\r\n1,2\r\n").rows == [["1", "2"]])
    }

    @Test("malformed text is a thrown error naming the problem")
    func malformed() {
        #expect(throws: CSVError.empty(source: "t.csv")) { try CSVTable(parsing: "", source: "t.csv") }
        #expect(throws: CSVError.cellCount(source: "t.csv", line: 3, cells: 1, expected: 2)) {
            try CSVTable(parsing: "a,b\n1,2\n3\n", source: "t.csv")
        }
        #expect(throws: CSVError.unterminatedQuote(source: "t.csv")) { try CSVTable(parsing: "a\n\"open", source: "t.csv") }
    }
}
