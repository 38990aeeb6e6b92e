import Foundation
import LessonKit
import Tensor
import Testing

@Suite("CSV groups and spreads")
struct CSVGroupsTests {
    /// Two samplers × two step counts, three seeds for one configuration, one for the others.
    let text = """
        sampler,steps,seed,fid,recall
        euler,5,0,10,0.5
        euler,5,1,12,0.7
        euler_ancestral,5,0,20,
        euler,5,2,17,0.6
        euler,10,0,8,0.9
        real-train,0,0,3,0.95

        """

    @Test func spreadIsTheSampleMeanAndStandardDeviation() {
        // 10, 12, 17: mean 13, deviations −3, −1, 4, Σ² = 26, sample variance 26 / 2 = 13.
        let s = Spread([10, 12, 17])
        #expect(s.count == 3 && s.mean == 13 && s.minimum == 10 && s.maximum == 17)
        #expect(abs(s.standardDeviation - 13.0.squareRoot()) < 1e-12)
        #expect(Spread([4]).standardDeviation == 0 && Spread([4]).text(digits: 1) == "4.0")
        #expect(Spread([]).count == 0 && Spread([]).mean.isNaN && Spread([]).text() == "–")
        #expect(Spread([1, 3]).text(digits: 2) == "2.00 ± 1.41")
    }

    @Test func clearlyBelowNeedsTheSpreadsApart() {
        #expect(Spread([1, 1.2]).isClearlyBelow(Spread([2, 2.2])))
        #expect(!Spread([1, 2]).isClearlyBelow(Spread([2, 3])))     // 1.5 + 0.71 > 2.5 − 0.71
        #expect(!Spread([2, 2.2]).isClearlyBelow(Spread([1, 1.2])))
    }

    @Test func groupsKeepFirstAppearanceOrderAndSkipEmptyCells() throws {
        let table = try CSVTable(parsing: text, source: "sweep.csv")
        let groups = try CSVGroups(table, by: ["sampler", "steps"], values: ["fid", "recall"], source: "sweep.csv") {
            $0["sampler"] != "real-train"
        }
        #expect(groups.groups.map { "\($0.key["sampler"]!)@\($0.key["steps"]!)" } == ["euler@5", "euler_ancestral@5", "euler@10"])
        let euler5 = try #require(groups.group(["sampler": "euler", "steps": "5"]))
        #expect(euler5["fid"].count == 3 && euler5["fid"].mean == 13 && euler5.rows.count == 3)
        #expect(abs(euler5["recall"].mean - 0.6) < 1e-12)
        let ancestral = try #require(groups.group(["sampler": "euler_ancestral"]))
        #expect(ancestral["fid"].count == 1 && ancestral["recall"].count == 0)
        #expect(groups.groups(["steps": "5"]).count == 2)
        #expect(groups.distinct("steps") == ["5", "10"])
        #expect(groups.group(["sampler": "heun"]) == nil)
    }

    @Test func missingColumnsAndBadNumbersAreNamed() throws {
        let table = try CSVTable(parsing: text, source: "sweep.csv")
        #expect(throws: CSVGroupError.missingColumn(source: "sweep.csv", column: "precision",
                                                   available: ["sampler", "steps", "seed", "fid", "recall"])) {
            try CSVGroups(table, by: ["sampler"], values: ["precision"], source: "sweep.csv")
        }
        let bad = try CSVTable(parsing: "sampler,fid\neuler,1\neuler,abc\n", source: "bad.csv")
        let error = CSVGroupError.notANumber(source: "bad.csv", line: 3, column: "fid", text: "abc")
        #expect(throws: error) { try CSVGroups(bad, by: ["sampler"], values: ["fid"], source: "bad.csv") }
        #expect(error.description.contains("line 3") && error.description.contains("\"fid\""))
    }
}
