import Testing
import Tensor

/// Shape pairs covering broadcasting corner cases: equal shapes, rank 0, size-1 axes on both
/// sides, different ranks, and an empty axis.
let broadcastPairs: [([Int], [Int])] = [
    ([3, 4], [3, 4]), ([], [2, 3]), ([2, 3], []), ([4, 1, 5], [3, 1]), ([1, 6], [5, 1]), ([2, 3, 4], [4]), ([3, 0], [1]),
]

/// The broadcast multi-index of an operand of `shape` inside an output of higher or equal rank.
private func sourceIndex(_ shape: [Int], _ outIndex: [Int]) -> [Int] {
    let lead = outIndex.count - shape.count
    return shape.enumerated().map { $0.element == 1 ? 0 : outIndex[lead + $0.offset] }
}

/// Naive broadcasting binary op in Double, element by element through multi-indices.
private func naiveBinary(_ a: Tensor, _ b: Tensor, _ f: (Double, Double) -> Double) -> (shape: [Int], values: [Double]) {
    let shape = Tensor.broadcastShape(a.shape, b.shape)!
    return (shape, allIndices(shape).map { f(element(a, sourceIndex(a.shape, $0)), element(b, sourceIndex(b.shape, $0))) })
}

/// Operands with many ties (values from {−1, 0, 1, 2}), one stored transposed when possible.
private func operands(_ pair: ([Int], [Int]), seed: UInt64) -> (Tensor, Tensor) {
    var random = OpsTestRandom(seed: seed)
    func make(_ shape: [Int]) -> Tensor {
        let values = (0..<shape.reduce(1, *)).map { _ in Float(Int(random.uniform(0, 4)) - 1) }
        return layouts(values, shape: shape).last!.tensor
    }
    return (make(pair.0), make(pair.1))
}

@Suite("Ops: elementwise arithmetic, comparisons, where, maximum/minimum")
struct OpsComparisonTests {
    /// Arithmetic on exact small integers is exact.
    @Test(arguments: broadcastPairs)
    func arithmeticBroadcastsLikeNaiveLoops(_ pair: ([Int], [Int])) {
        let (a, b) = operands(pair, seed: 3)
        let cases: [(Tensor, (Double, Double) -> Double)] = [(a + b, +), (a - b, -), (a * b, *)]
        for (result, f) in cases {
            let expected = naiveBinary(a, b, f)
            #expect(result.shape == expected.shape)
            #expect(result.scalars.map(Double.init) == expected.values)
        }
        let quotient = naiveBinary(a, b + 3) { $0 / $1 }
        expectClose((a / (b + 3)).scalars, quotient.values, relative: 1e-7)
    }

    /// Contiguous operands where one repeats along leading axes (a bias row [C] against
    /// [N, T, C]) or trailing ones (a per-channel value): the vectorized broadcast loops, with
    /// the small operand on either side, rows shorter and longer than 16 lanes, and enough
    /// elements to split between threads.
    @Test(arguments: [([5, 3, 37], [37]), ([37], [5, 3, 37]), ([4, 2, 20], [1, 2, 20]), ([300, 2, 64], [2, 64]),
                      ([6, 5], [1, 5]), ([3, 40, 1], [40, 1]), ([2, 3, 17, 20], [3, 1, 1]), ([5, 1, 1], [5, 300, 40])])
    func vectorizedBroadcastsMatchNaiveLoops(_ pair: ([Int], [Int])) {
        var random = OpsTestRandom(seed: 11)
        func make(_ shape: [Int]) -> Tensor {
            Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Float(Int(random.uniform(0, 4)) - 1) })
        }
        let a = make(pair.0), b = make(pair.1)
        let cases: [(Tensor, (Double, Double) -> Double)] = [(a + b, +), (a - b, -), (a * b, *), (a / (b + 3), { $0 / ($1 + 3) })]
        for (result, f) in cases {
            let expected = naiveBinary(a, b, f)
            #expect(result.shape == expected.shape)
            expectClose(result.scalars, expected.values, relative: 1e-7)
        }
    }

    @Test(arguments: broadcastPairs)
    func comparisonsAreMasksWithBroadcasting(_ pair: ([Int], [Int])) {
        let (a, b) = operands(pair, seed: 5)
        let cases: [(Tensor, (Double, Double) -> Bool)] = [
            (Tensor.greater(a, b), { $0 > $1 }), (Tensor.less(a, b), { $0 < $1 }), (Tensor.greaterEqual(a, b), { $0 >= $1 }),
            (Tensor.lessEqual(a, b), { $0 <= $1 }), (Tensor.equal(a, b), { $0 == $1 }),
        ]
        for (result, f) in cases {
            let expected = naiveBinary(a, b) { f($0, $1) ? 1 : 0 }
            #expect(result.shape == expected.shape)
            #expect(result.scalars.map(Double.init) == expected.values)
        }
        #expect(Tensor.maximum(a, b).scalars.map(Double.init) == naiveBinary(a, b) { Swift.max($0, $1) }.values)
        #expect(Tensor.minimum(a, b).scalars.map(Double.init) == naiveBinary(a, b) { Swift.min($0, $1) }.values)
    }

    @Test func nanInComparisonsAndExtrema() {
        let a = Tensor(shape: [3], scalars: [.nan, 1, 2]), b = Tensor(shape: [3], scalars: [0, .nan, 2])
        #expect(Tensor.equal(a, a).scalars == [0, 1, 1])
        #expect(Tensor.greater(a, b).scalars == [0, 0, 0])
        #expect(Tensor.maximum(a, b).scalars[0].isNaN && Tensor.maximum(a, b).scalars[1].isNaN)
        #expect(Tensor.minimum(a, b).scalars[0].isNaN && Tensor.minimum(a, b).scalars[1].isNaN)
        #expect(Tensor.maximum(a, b).scalars[2] == 2)
    }

    /// where broadcasts three operands: condition [4, 1, 5], a [3, 1], b rank 0, and views.
    @Test func whereBroadcastsThreeOperands() {
        var random = OpsTestRandom(seed: 8)
        let condition = Tensor(shape: [4, 1, 5], scalars: (0..<20).map { _ in random.uniform(0, 1) < 0.5 ? 0 : 1 })
        let a = randomTensor([1, 3], seed: 1).expanded(to: [3, 3]).sliced(axis: 1, 0..<1)  // [3, 1] view
        let b = Tensor(Float(-7))
        let r = Tensor.where(condition, a, b)
        #expect(r.shape == [4, 3, 5])
        for index in allIndices([4, 3, 5]) {
            let picked = element(condition, [index[0], 0, index[2]]) != 0 ? element(a, [index[1], 0]) : -7
            #expect(element(r, index) == picked)
        }
        let nanCondition = Tensor(shape: [2], scalars: [.nan, 0])
        #expect(Tensor.where(nanCondition, Tensor(Float(1)), Tensor(Float(2))).scalars == [1, 2])
    }
}
