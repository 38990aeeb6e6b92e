// Parameters held in 16 bits: the layers give bit for bit the results of the same layers with the
// widened Float32 weights (the reference), shapes are answered without widening, state
// dictionaries load and save them, and Float32 parameters are still updated in place.

import Foundation
import Testing
import Tensor
import Autograd

/// Expects equal shapes and identical bit patterns.
private func expectBitwiseEqual(_ actual: Tensor, _ expected: Tensor, _ comment: String = "",
                                sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.shape == expected.shape, "\(comment): shape", sourceLocation: sourceLocation)
    let x = actual.scalars, y = expected.scalars
    let first = x.indices.first { $0 >= y.count || x[$0].bitPattern != y[$0].bitPattern }
    #expect(actual.shape == expected.shape && first == nil,
            "\(comment): element \(first ?? -1) differs", sourceLocation: sourceLocation)
}

/// Two copies of `make()`'s module: in the first, every parameter of rank >= 2 holds `format`
/// (its value rounded); in the second the same values widened to Float32.
private func halfAndReference<M: Module>(_ make: () -> M, format: HalfPrecisionTensor.Format) -> (M, M) {
    let half = make(), reference = make()
    for ((_, p), (_, r)) in zip(half.namedParameters(), reference.namedParameters()) where p.rank >= 2 {
        let narrowed = HalfPrecisionTensor(narrowing: p.value, format: format)
        p.halfPrecisionValue = narrowed
        r.value = narrowed.widened()
    }
    return (half, reference)
}

@Suite("16-bit parameters: layers, state dictionaries, optimizers")
struct HalfPrecisionParameterTests {
    @Test("Linear with a 16-bit weight equals the widened weight, without gradients", arguments: HalfPrecisionTensor.Format.allCases)
    func linearInference(format: HalfPrecisionTensor.Format) {
        for (inputs, outputs, xShape) in [(7, 13, [1, 7]), (77, 300, [2, 5, 77]), (320, 33, [77, 320]), (13, 1, [3, 13])] {
            let (half, reference) = halfAndReference({
                var g = TorchGenerator(seed: 1)
                return Linear(inputFeatures: inputs, outputFeatures: outputs, generator: &g)
            }, format: format)
            #expect(half.weight.halfPrecisionValue != nil && half.weight.shape == [outputs, inputs])
            let x = randomTensor(xShape, seed: 2)
            let (y, expected) = withoutGradients { (half(Variable(x)).value, reference(Variable(x)).value) }
            expectBitwiseEqual(y, expected, "\(format) \(xShape) -> \(outputs)")
            #expect(half.weight.halfPrecisionValue != nil, "the forward pass keeps the weight 16-bit")
        }
    }

    @Test("Linear with a frozen 16-bit weight passes the input's gradient, equal to the Float32 one")
    func linearInputGradient() {
        let (half, reference) = halfAndReference({
            var g = TorchGenerator(seed: 3)
            return Linear(inputFeatures: 40, outputFeatures: 50, generator: &g)
        }, format: .bfloat16)
        half.weight.requiresGrad = false
        reference.weight.requiresGrad = false
        let x = randomTensor([3, 4, 40], seed: 4), seed = randomTensor([3, 4, 50], seed: 5)
        let xh = Variable(x, requiresGrad: true), xr = Variable(x, requiresGrad: true)
        let yh = half(xh), yr = reference(xr)
        expectBitwiseEqual(yh.value, yr.value, "forward")
        yh.backward(seed)
        yr.backward(seed)
        expectBitwiseEqual(xh.grad!, xr.grad!, "input gradient")
        expectBitwiseEqual(half.bias!.grad!, reference.bias!.grad!, "bias gradient")
        #expect(half.weight.grad == nil && half.weight.halfPrecisionValue != nil)
    }

    @Test("training a 16-bit weight: same gradient, and the first step leaves it Float32, as the reference")
    func linearTraining() {
        let (half, reference) = halfAndReference({
            var g = TorchGenerator(seed: 6)
            return Linear(inputFeatures: 9, outputFeatures: 5, generator: &g)
        }, format: .float16)
        let x = randomTensor([4, 9], seed: 7)
        for model in [half, reference] {
            let optimizer = SGD(parameters: model.namedParameters(), learningRate: 0.1)
            (model(Variable(x)) * model(Variable(x))).sum().backward()
            optimizer.step()
        }
        #expect(half.weight.halfPrecisionValue == nil)
        expectBitwiseEqual(half.weight.value, reference.weight.value, "weight after a step")
        expectBitwiseEqual(half.bias!.value, reference.bias!.value, "bias after a step")
    }

    @Test("Conv2d with a 16-bit weight equals the widened weight", arguments: HalfPrecisionTensor.Format.allCases)
    func conv2d(format: HalfPrecisionTensor.Format) {
        // 3x3 (direct and Winograd sizes), 1x1, strided, grouped.
        let cases: [(c: Int, o: Int, k: Int, stride: Int, padding: Int, groups: Int, side: Int)] = [
            (3, 5, 3, 1, 1, 1, 7), (64, 64, 3, 1, 1, 1, 16), (32, 48, 1, 1, 0, 1, 9), (8, 16, 3, 2, 1, 1, 11),
            (8, 12, 3, 1, 1, 4, 6),
        ]
        for s in cases {
            let (half, reference) = halfAndReference({
                var g = TorchGenerator(seed: 8)
                return Conv2d(inputChannels: s.c, outputChannels: s.o, kernelSize: s.k, stride: s.stride,
                              padding: s.padding, groups: s.groups, generator: &g)
            }, format: format)
            let x = randomTensor([2, s.c, s.side, s.side], seed: 9)
            let (y, expected) = withoutGradients { (half(Variable(x)).value, reference(Variable(x)).value) }
            expectBitwiseEqual(y, expected, "\(format) \(s)")
            #expect(half.weight.halfPrecisionValue != nil)
        }
    }

    @Test("Embedding with a 16-bit table looks up the widened rows")
    func embedding() {
        let (half, reference) = halfAndReference({
            var g = TorchGenerator(seed: 10)
            return Embedding(count: 50, dimension: 12, generator: &g)
        }, format: .float16)
        let ids = [3, 49, 0, 3, 17, 21]
        expectBitwiseEqual(withoutGradients { half(ids, shape: [2, 3]).value }, reference(ids, shape: [2, 3]).value, "inference")
        expectBitwiseEqual(half(ids).value, reference(ids).value, "recording (widens)")
    }

    @Test("a 16-bit variable answers shape, rank and count without widening; value widens; assignment drops it")
    func variableAccessors() {
        let stored = HalfPrecisionTensor(narrowing: randomTensor([4, 6], seed: 11), format: .bfloat16)
        let v = Variable(halfPrecision: stored, requiresGrad: true)
        #expect(v.shape == [4, 6] && v.rank == 2 && v.count == 24 && v.halfPrecisionValue != nil)
        expectBitwiseEqual(v.value, stored.widened(), "value")
        expectBitwiseEqual(v.detached().value, stored.widened(), "detached")
        #expect(v.detached().halfPrecisionValue != nil)
        v.value = Tensor(shape: [2], scalars: [1, 2])
        #expect(v.halfPrecisionValue == nil && v.shape == [2] && v.value.scalars == [1, 2])
        v.halfPrecisionValue = stored
        #expect(v.shape == [4, 6])
        v.halfPrecisionValue = nil  // keeps the value, in Float32
        #expect(v.shape == [4, 6])
        expectBitwiseEqual(v.value, stored.widened(), "after setting nil")
        v.halfPrecisionValue = stored
        v.value.withUnsafeMutableBufferPointer { $0[0] = 42 }  // in-place mutation: Float32 from now on
        #expect(v.halfPrecisionValue == nil && v.value[0, 0] == 42 && v.value[3, 5] == stored.widened()[3, 5])
    }

    @Test("optimizers still update Float32 parameters in place (no copy of the buffer)")
    func inPlaceUpdates() {
        let optimizers: [([(name: String, variable: Variable)]) -> any Optimizer] = [
            { SGD(parameters: $0, learningRate: 0.1, momentum: 0.9) }, { Adam(parameters: $0, learningRate: 0.01) },
        ]
        for makeOptimizer in optimizers {
            let p = Variable(randomTensor([64, 64], seed: 12), requiresGrad: true)
            let optimizer = makeOptimizer([("p", p)])
            for _ in 0..<2 {
                (p * p).sum().backward()
                let before = p.value.storage.pointer
                optimizer.step()
                #expect(p.value.storage.pointer == before, "\(type(of: optimizer)) copied the parameter")
                optimizer.zeroGrad()
            }
        }
    }

    @Test("state dictionaries: saved widened, loaded 16-bit from ParameterValues and from a file", arguments: HalfPrecisionTensor.Format.allCases)
    func stateDictionaries(format: HalfPrecisionTensor.Format) throws {
        func model() -> Sequential {
            var g = TorchGenerator(seed: 13)
            return Sequential([Conv2d(inputChannels: 3, outputChannels: 8, kernelSize: 3, padding: 1, generator: &g),
                               Conv2d(inputChannels: 8, outputChannels: 4, kernelSize: 1, generator: &g)])
        }
        let (half, reference) = halfAndReference(model, format: format)
        let saved = half.stateDictionary()
        for (name, t) in reference.stateDictionary() { expectBitwiseEqual(saved[name]!, t, name) }

        // ParameterValue: 16-bit values stay 16-bit, Float32 ones are assigned; shapes checked.
        let target = model()
        var values: [String: ParameterValue] = [:]
        for (name, p) in half.namedParameters() {
            values[name] = p.halfPrecisionValue.map { .halfPrecision($0) } ?? .float32(p.value)
        }
        try target.loadStateDictionary(values)
        #expect(target.namedParameters().map { $0.variable.halfPrecisionValue != nil } == [true, false, true, false])
        values["0.weight"] = .halfPrecision(HalfPrecisionTensor(narrowing: Tensor(shape: [8, 3, 3, 1]), format: format))
        #expect(throws: StateDictionaryError.self) { try target.loadStateDictionary(values) }

        // A 16-bit file: matrices and kernels stay mapped, biases are widened; same outputs.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("half-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("model.safetensors")
        try Safetensors.write(reference.stateDictionary(), dtype: format.dtype, to: url)
        let loaded = model(), widened = model()
        try loaded.loadWeights(from: url, keepingHalfPrecision: true)
        try widened.loadWeights(from: url)
        let kept = loaded.namedParameters().map { $0.variable.halfPrecisionValue }
        #expect(kept.map { $0?.isMapped == true } == [true, false, true, false])
        #expect(widened.namedParameters().allSatisfy { $0.variable.halfPrecisionValue == nil })
        // The reference: the same file widened at load (the file rounded the biases too).
        let x = randomTensor([2, 3, 6, 6], seed: 14)
        let (y, expected) = withoutGradients { (loaded(Variable(x)).value, widened(Variable(x)).value) }
        expectBitwiseEqual(y, expected, "loaded from a 16-bit file")
        expectBitwiseEqual(loaded.stateDictionary()["0.weight"]!, reference.stateDictionary()["0.weight"]!, "weights")
    }
}
