import Foundation
import Testing
import Tensor

@Suite("Ops: layer norm and group norm")
struct OpsNormalizationTests {
    /// Normalized values are of order 1 (weights up to 2): absolute 2e-6, relative 1e-6.
    @Test(arguments: [true, false])
    func layerNormMatchesReference(affine: Bool) {
        var random = OpsTestRandom(seed: 17)
        let shape = [3, 4, 37]
        var inputs = layouts(random.uniforms(3 * 4 * 37, -3, 5), shape: shape)
        inputs.append(("expanded", expandedTensor(shape, axis: 0, seed: 3)))
        inputs.append(("large", randomTensor([64, 1030], seed: 4)))
        for (name, t) in inputs {
            let d = t.shape.last!
            let w = affine ? randomTensor([d], seed: 1, low: 0.5, high: 2) : nil
            let b = affine ? randomTensor([d], seed: 2) : nil
            let r = t.layerNorm(weight: w, bias: b, epsilon: 1e-5)
            let expected = Reference.layerNorm(t, weight: w, bias: b, epsilon: 1e-5).scalars.map { Double($0) }
            #expect(r.shape == t.shape)
            expectClose(r.scalars, expected, relative: 1e-6, absolute: 2e-6, "\(name)")
        }
    }

    @Test(arguments: [(1, [2, 6, 5, 3]), (2, [2, 6, 5, 3]), (3, [1, 6, 4]), (6, [3, 6, 2, 2, 2]), (4, [2, 8])] as [(Int, [Int])])
    func groupNormMatchesReference(groups: Int, shape: [Int]) {
        var random = OpsTestRandom(seed: 18)
        let c = shape[1]
        let weight = randomTensor([c], seed: 5, low: 0.5, high: 2), bias = randomTensor([c], seed: 6)
        for (name, t) in layouts(random.uniforms(shape.reduce(1, *), -2, 4), shape: shape) {
            for affine in [true, false] {
                let r = t.groupNorm(groups: groups, weight: affine ? weight : nil, bias: affine ? bias : nil, epsilon: 1e-5)
                let expected = Reference.groupNorm(t, groups: groups, weight: affine ? weight : nil, bias: affine ? bias : nil,
                                                   epsilon: 1e-5).scalars.map { Double($0) }
                #expect(r.shape == shape)
                expectClose(r.scalars, expected, relative: 1e-6, absolute: 2e-6, "\(name), affine \(affine)")
            }
        }
    }

    /// Stable Diffusion's shape class ([N, 320, H, W], 32 groups) on the threaded path.
    @Test func groupNormLargeInput() {
        let t = randomTensor([2, 64, 24, 24], seed: 9, low: -1, high: 3)
        let weight = randomTensor([64], seed: 10), bias = randomTensor([64], seed: 11)
        let r = t.groupNorm(groups: 32, weight: weight, bias: bias, epsilon: 1e-6)
        let expected = Reference.groupNorm(t, groups: 32, weight: weight, bias: bias, epsilon: 1e-6).scalars.map { Double($0) }
        expectClose(r.scalars, expected, relative: 1e-6, absolute: 2e-6)
    }

    /// The fused SiLU(groupNorm(x)) against the reference group norm followed by x·σ(x) in
    /// Double, on the serial and the threaded path.
    @Test(arguments: [[2, 8, 3, 5], [2, 64, 24, 24]])
    func groupNormThenSiLUMatchesNaiveReference(shape: [Int]) {
        let channels = shape[1]
        let t = randomTensor(shape, seed: 12, low: -2, high: 3)
        let weight = randomTensor([channels], seed: 13), bias = randomTensor([channels], seed: 14)
        let fused = t.groupNorm(groups: channels / 2, weight: weight, bias: bias, epsilon: 1e-5, thenSiLU: true)
        let normalized = Reference.groupNorm(t, groups: channels / 2, weight: weight, bias: bias, epsilon: 1e-5).scalars.map { Double($0) }
        expectClose(fused.scalars, normalized.map { $0 / (1 + Foundation.exp(-$0)) }, relative: 1e-5, absolute: 2e-6)
    }

    /// A large common offset (10⁴ on a spread of 1) must not cost accuracy: a one-pass
    /// E[x²] − E[x]² in Float would return garbage here. The closed form: {−1, 1} → {−1, 1}
    /// up to ε.
    @Test func offsetDataStaysAccurate() {
        let t = Tensor(shape: [1, 2, 4], scalars: [9999, 10001, 9999, 10001, 10001, 9999, 10001, 9999])
        let g = t.groupNorm(groups: 1, weight: nil, bias: nil, epsilon: 0)
        expectClose(g.scalars, [-1, 1, -1, 1, 1, -1, 1, -1], relative: 1e-6)
        let l = t.layerNorm(weight: nil, bias: nil, epsilon: 0)
        expectClose(l.scalars, [-1, 1, -1, 1, 1, -1, 1, -1], relative: 1e-6)
        // Known variance: layer norm of [1, 2, 3, 4] (mean 2.5, variance 1.25).
        let k = Tensor(shape: [4], scalars: [1, 2, 3, 4]).layerNorm(weight: nil, bias: nil, epsilon: 0)
        expectClose(k.scalars, [-1.5, -0.5, 0.5, 1.5].map { $0 / 1.25.squareRoot() }, relative: 1e-6)
    }
}
