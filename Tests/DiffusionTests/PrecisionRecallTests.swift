// Improved precision and recall (Kynkäänniemi et al. 2019) against an independent NumPy
// implementation (tools/make_precision_recall_fixtures.py: full distance matrices, radii by
// np.partition, in float64), and against cases whose answer is known without computing.
//
// Tolerance. Both results are counts divided by the set size, so they agree exactly unless a
// point lies within roundoff of a ball's boundary; the fixtures are random Gaussians in 8 and
// 32 dimensions, where no distance is within 1e-12 of a radius, so the test asks for equality
// up to 1e-12.

import Diffusion
import Foundation
import Tensor
import Testing

struct PrecisionRecallFixture: Decodable {
    struct Case: Decodable {
        let name: String
        let dimension: Int, k: Int
        let realCount: Int, generatedCount: Int
        let real: [Double], generated: [Double]
        let precision: Double, recall: Double
    }
    let cases: [Case]

    static func load() throws -> PrecisionRecallFixture { try Fixtures.load("precision_recall.json", as: PrecisionRecallFixture.self) }
}

@Suite struct PrecisionRecallTests {
    @Test func fixtureHasCases() throws {
        #expect(try PrecisionRecallFixture.load().cases.count == 6)
    }

    @Test(arguments: 0..<6) func matchesNumPy(caseIndex: Int) throws {
        let c = try PrecisionRecallFixture.load().cases[caseIndex]
        let real = Tensor(shape: [c.realCount, c.dimension], scalars: c.real.map(Float.init))
        let generated = Tensor(shape: [c.generatedCount, c.dimension], scalars: c.generated.map(Float.init))
        let result = try PrecisionRecall(real: real, generated: generated, k: c.k)
        #expect(abs(result.precision - c.precision) < 1e-12, "\(c.name): precision \(result.precision) vs \(c.precision)")
        #expect(abs(result.recall - c.recall) < 1e-12, "\(c.name): recall \(result.recall) vs \(c.recall)")
    }

    /// Identical sets: every point is the centre of its own ball, so both are 1.
    @Test func identicalSetsGiveOne() throws {
        var generator = TorchGenerator(seed: 3)
        let x = generator.randn([40, 5])
        let result = try PrecisionRecall(real: x, generated: x, k: 3)
        #expect(result == PrecisionRecall(precision: 1, recall: 1))
    }

    /// A generated set far from the real one: no point lies in the other set's balls.
    @Test func disjointSetsGiveZero() throws {
        var generator = TorchGenerator(seed: 4)
        let real = generator.randn([30, 4])
        let generated = generator.randn([30, 4]) + 100
        let result = try PrecisionRecall(real: real, generated: generated, k: 3)
        #expect(result == PrecisionRecall(precision: 0, recall: 0))
    }

    /// Mode collapse on a line: the real points are 0, 1, ..., 9 (3rd-neighbour radii 3 at the
    /// ends, 2 elsewhere), the generated ones crowd into 0.5, 0.6, 0.7, 0.8 (radii 0.3, 0.2, 0.2,
    /// 0.3). Every generated point lies in the ball of real point 0 (precision 1); the only real
    /// point inside a generated ball is 1 (0.2 from 0.8, whose radius is 0.3), so recall is 1/10.
    @Test func modeCollapseKeepsPrecisionAndLosesRecall() throws {
        let real = Tensor(shape: [10, 1], scalars: (0..<10).map { Float($0) })
        let generated = Tensor(shape: [4, 1], scalars: [0.5, 0.6, 0.7, 0.8])
        let result = try PrecisionRecall(real: real, generated: generated, k: 3)
        #expect(result.precision == 1)
        #expect(result.recall == 0.1)
    }

    @Test func badInputThrows() throws {
        let a = Tensor(shape: [5, 2], repeating: 0), b = Tensor(shape: [5, 3], repeating: 0)
        #expect(throws: FIDError.self) { try PrecisionRecall(real: a, generated: b) }
        #expect(throws: FIDError.self) { try PrecisionRecall(real: a, generated: Tensor(shape: [3, 2], repeating: 0), k: 3) }
        #expect(throws: FIDError.self) { try PrecisionRecall(real: a, generated: a, k: 0) }
        let nan = Tensor(shape: [5, 2], scalars: [.nan, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        #expect(throws: FIDError.self) { try PrecisionRecall(real: a, generated: nan) }
    }
}
