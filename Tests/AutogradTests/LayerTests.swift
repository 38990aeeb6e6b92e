import Foundation
import Testing
import Tensor
import Autograd

@Suite("Layers: initialization, names, matmul gradients")
struct LayerTests {
    @Test(arguments: [([3], [3]), ([2, 3], [3]), ([3], [3, 4]), ([2, 3], [3, 4]), ([2, 1, 2, 3], [3, 3, 2]), ([4, 2, 3], [3, 2])])
    func matmulGradients(shapes: ([Int], [Int])) {
        let a = randomTensor(shapes.0, seed: 20), b = randomTensor(shapes.1, seed: 21)
        let report = gradientCheck([a, b]) { $0[0].matmul($0[1]) }
        #expect(report.passed, "\(report)")
    }

    /// The same seed gives torch's own initial weights (TorchGenerator replays torch's draws).
    @Test func linearMatchesTorchInitialization() throws {
        let fixture = try loadFixture("initialization.json", as: [String: [String: TensorJSON]].self)
        var generator = TorchGenerator(seed: 0)
        let linear = Linear(inputFeatures: 5, outputFeatures: 3, generator: &generator)
        #expect(linear.namedParameters().map(\.name) == ["weight", "bias"])
        #expect(maxAbsDifference(linear.weight.value, fixture["linear"]!["weight"]!.tensor) == 0)
        #expect(maxAbsDifference(linear.bias!.value, fixture["linear"]!["bias"]!.tensor) == 0)
    }

    @Test func linearIsAffineMap() {
        var generator = TorchGenerator(seed: 1)
        let linear = Linear(inputFeatures: 3, outputFeatures: 2, generator: &generator)
        let x = randomTensor([4, 3], seed: 22)
        let y = linear(Variable(x)).value
        let w = linear.weight.value, b = linear.bias!.value
        for i in 0..<4 { for o in 0..<2 {
            var expected = b[o]
            for j in 0..<3 { expected += x[i, j] * w[o, j] }
            #expect(abs(y[i, o] - expected) <= 1e-6)
        } }
        // Through the layer: L = Σ y·g gives dW = gᵀx and db = Σᵢ gᵢ.
        let g = randomTensor([4, 2], seed: 23)
        linear(Variable(x)).backward(g)
        for o in 0..<2 {
            var db: Float = 0
            for i in 0..<4 { db += g[i, o] }
            #expect(abs(linear.bias!.grad![o] - db) <= 1e-6)
            for j in 0..<3 {
                var dw: Float = 0
                for i in 0..<4 { dw += g[i, o] * x[i, j] }
                #expect(abs(linear.weight.grad![o, j] - dw) <= 1e-6)
            }
        }
    }
}

@Suite("Layers: state-dict names and modes")
struct LayerNamingTests {
    @Test func sequentialNamesChildrenByIndex() {
        var g = TorchGenerator(seed: 0)
        let model = Sequential([Linear(inputFeatures: 2, outputFeatures: 3, generator: &g), SiLU(),
                                Sequential([LayerNorm(dimension: 3), Linear(inputFeatures: 3, outputFeatures: 1, bias: false, generator: &g)])])
        #expect(model.namedParameters().map(\.name) == ["0.weight", "0.bias", "2.0.weight", "2.0.bias", "2.1.weight"])
        #expect(model.parameterCount == 6 + 3 + 3 + 3 + 3)
    }

    @Test func embeddingMatchesTorchInitialization() throws {
        let fixture = try loadFixture("initialization.json", as: [String: [String: TensorJSON]].self)
        var g = TorchGenerator(seed: 0)
        _ = Linear(inputFeatures: 5, outputFeatures: 3, generator: &g)
        _ = Initialization.kaimingUniform([4, 2, 3, 3], fanIn: 18, generator: &g)   // Conv2d(2, 4, 3) weight
        _ = Initialization.biasUniform([4], fanIn: 18, generator: &g)                // and bias
        let embedding = Embedding(count: 4, dimension: 6, generator: &g)
        #expect(maxAbsDifference(embedding.weight.value, fixture["embedding"]!["weight"]!.tensor) == 0)
        let linear = Linear(inputFeatures: 7, outputFeatures: 2, bias: false, generator: &g)
        #expect(maxAbsDifference(linear.weight.value, fixture["linear_no_bias"]!["weight"]!.tensor) == 0)
    }

    @Test func dropoutScalesInTrainingAndIsIdentityInEvaluation() {
        let dropout = Dropout(probability: 0.25, seed: 3)
        let model = Sequential([dropout])
        let x = Variable(Tensor(shape: [1000], repeating: 1))
        let y = model(x).value.scalars
        #expect(y.allSatisfy { $0 == 0 || $0 == 1 / 0.75 })
        let kept = y.filter { $0 != 0 }.count
        #expect(kept > 700 && kept < 800)    // Binomial(1000, 0.75): mean 750, sd ≈ 14
        model.train(false)
        #expect(model(x).value.scalars == x.value.scalars)
    }
}

@Suite("State dictionaries")
struct StateDictionaryTests {
    private func model(seed: UInt64) -> Sequential {
        var g = TorchGenerator(seed: seed)
        return Sequential([Linear(inputFeatures: 2, outputFeatures: 3, generator: &g), GroupNorm(groups: 1, channels: 3)])
    }

    @Test func roundTripByName() throws {
        let a = model(seed: 1), b = model(seed: 2)
        #expect(a.stateDictionary()["0.weight"]!.scalars != b.stateDictionary()["0.weight"]!.scalars)
        try b.loadStateDictionary(a.stateDictionary())
        for (name, t) in a.stateDictionary() { #expect(b.stateDictionary()[name]!.scalars == t.scalars) }
    }

    @Test func strictLoadingReportsEveryProblemAndChangesNothing() {
        let m = model(seed: 1)
        let before = m.stateDictionary()
        var bad = before
        bad["0.bias"] = nil
        bad["0.weight"] = Tensor.zeros([3, 4])
        bad["1.weight"] = Tensor.zeros([3])
        bad["extra.weight"] = Tensor.zeros([1])
        #expect {
            try m.loadStateDictionary(bad)
        } throws: { error in
            guard let e = error as? StateDictionaryError else { return false }
            return e.missingKeys == ["0.bias"] && e.unexpectedKeys == ["extra.weight"]
                && e.shapeMismatches.map(\.name) == ["0.weight"] && String(describing: e).contains("[3, 4]")
        }
        #expect(m.stateDictionary()["1.weight"]!.scalars == before["1.weight"]!.scalars)
    }

    @Test func nonStrictIgnoresMissingAndUnexpectedButNotShapes() throws {
        let m = model(seed: 1)
        try m.loadStateDictionary(["1.weight": Tensor(shape: [3], scalars: [2, 2, 2]), "other": Tensor.zeros([1])], strict: false)
        #expect(m.stateDictionary()["1.weight"]!.scalars == [2, 2, 2])
        #expect(throws: StateDictionaryError.self) { try m.loadStateDictionary(["1.weight": Tensor.zeros([4])], strict: false) }
    }
}
