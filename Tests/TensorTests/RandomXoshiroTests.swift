// Xoshiro256StarStar against words computed by a transcription of the authors' reference C
// code (Fixtures/half_and_xoshiro.json), SplitMix64's published first output, and sample
// statistics of its uniforms and normals (seeded, so the checks are deterministic).

import Foundation
import Testing
import Tensor

private struct XoshiroFixture: Decodable {
    struct Case: Decodable { let seed: String; let words: [String] }
    let xoshiro: [Case]
    static let shared: XoshiroFixture = {
        let data = try! Data(contentsOf: TestData.fixture("half_and_xoshiro.json"))
        return try! JSONDecoder().decode(XoshiroFixture.self, from: data)
    }()
}

@Suite("Xoshiro256StarStar: fast seedable generator")
struct RandomXoshiroTests {
    @Test("words equal the reference implementation", arguments: XoshiroFixture.shared.xoshiro.indices)
    func referenceWords(case index: Int) {
        let fixture = XoshiroFixture.shared.xoshiro[index]
        var generator = Xoshiro256StarStar(seed: UInt64(fixture.seed)!)
        let words = fixture.words.map { _ in generator.next() }
        #expect(words == fixture.words.map { UInt64($0)! })
    }

    @Test("SplitMix64 seeding: seed 0 starts from 0xe220a8397b1dcdaf (Vigna's splitmix64.c)")
    func splitMixSeeding() {
        #expect(Xoshiro256StarStar(seed: 0).state.words[0] == 0xe220_a839_7b1d_cdaf)
    }

    @Test("uniforms lie in [0, 1) with mean 1/2 and variance 1/12; normals have mean 0, variance 1")
    func moments() {
        var generator = Xoshiro256StarStar(seed: 7)
        let n = 200_000
        let u = generator.rand([n]).scalars.map(Double.init)
        #expect(u.allSatisfy { $0 >= 0 && $0 < 1 })
        let uMean = u.reduce(0, +) / Double(n)
        let uVar = u.map { ($0 - uMean) * ($0 - uMean) }.reduce(0, +) / Double(n)
        // Standard errors: sqrt(1/12/n) ~ 6.5e-4 for the mean; ~2.9e-4 for the variance. 5 sigma.
        #expect(abs(uMean - 0.5) < 5 * 6.5e-4)
        #expect(abs(uVar - 1.0 / 12) < 5 * 2.9e-4)
        let z = generator.randn([n + 1]).scalars.map(Double.init)   // odd count: last pair half used
        let zMean = z.reduce(0, +) / Double(z.count)
        let zVar = z.map { ($0 - zMean) * ($0 - zMean) }.reduce(0, +) / Double(z.count)
        let kurtosis = z.map { pow($0 - zMean, 4) }.reduce(0, +) / Double(z.count) / (zVar * zVar)
        // Standard errors: 1/sqrt(n) ~ 2.2e-3 (mean), sqrt(2/n) ~ 3.2e-3 (variance),
        // sqrt(24/n) ~ 1.1e-2 (kurtosis, 3 for a normal). 5 sigma.
        #expect(abs(zMean) < 5 * 2.2e-3)
        #expect(abs(zVar - 1) < 5 * 3.2e-3)
        #expect(abs(kurtosis - 3) < 5 * 1.1e-2)
        // Fraction beyond 2 sigma: 0.0455 for a normal; standard error ~4.7e-4.
        let tail = Double(z.filter { abs($0) > 2 }.count) / Double(z.count)
        #expect(abs(tail - 0.0455) < 5 * 4.7e-4)
    }

    @Test("a saved state resumes exactly; malformed states are errors")
    func stateRoundTrip() throws {
        var generator = Xoshiro256StarStar(seed: 11)
        _ = generator.randn([5])
        let saved = try JSONEncoder().encode(generator.state)
        let expected = generator.randn([9]).scalars
        var resumed = try Xoshiro256StarStar(state: JSONDecoder().decode(Xoshiro256StarStar.State.self, from: saved))
        #expect(resumed.randn([9]).scalars == expected)
        #expect(throws: RandomStateError.self) { try Xoshiro256StarStar(state: .init(words: [0, 0, 0, 0])) }
        #expect(throws: RandomStateError.self) { try Xoshiro256StarStar(state: .init(words: [1, 2])) }
    }
}
