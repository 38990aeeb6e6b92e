// The reference kernels (Sources/Tensor/Reference) against closed forms worked by hand, so the
// oracle the fast kernels are tested against is itself checked independently of them.

import Tensor
import Testing

@Suite("Reference kernels: closed forms")
struct ReferenceTests {
    @Test func matmulOfSmallMatrices() {
        // [[1, 2], [3, 4]] · [[5, 6, 7], [8, 9, 10]] = [[21, 24, 27], [47, 54, 61]]
        let a = Tensor(shape: [2, 2], scalars: [1, 2, 3, 4])
        let b = Tensor(shape: [2, 3], scalars: [5, 6, 7, 8, 9, 10])
        #expect(Reference.matmul(a, b).scalars == [21, 24, 27, 47, 54, 61])
        // A vector on the left drops its axis: [1, 1] · b = column sums.
        #expect(Reference.matmul(Tensor(shape: [2], scalars: [1, 1]), b).scalars == [13, 15, 17])
    }

    /// A 3x3 image holding 1...9 and a 2x2 kernel of ones: each output is the sum of a 2x2
    /// window, each input pixel is covered by 1, 2 or 4 windows, and each weight sees the four
    /// pixels at its offset.
    @Test func convolutionPassesOfAWindowSum() {
        let x = Tensor(shape: [1, 1, 3, 3], scalars: (1...9).map(Float.init))
        let w = Tensor(shape: [1, 1, 2, 2], repeating: 1)
        let y = Reference.conv2d(x, weight: w, bias: Tensor(shape: [1], scalars: [1]))
        #expect(y.shape == [1, 1, 2, 2])
        #expect(y.scalars == [13, 17, 25, 29])
        let dy = Tensor(shape: [1, 1, 2, 2], repeating: 1)
        #expect(Reference.conv2dBackwardInput(dy, weight: w, inputShape: x.shape).scalars == [1, 2, 1, 2, 4, 2, 1, 2, 1])
        #expect(Reference.conv2dBackwardWeight(dy, input: x, weightShape: w.shape).scalars == [12, 16, 24, 28])
        // Stride 2 with padding 1 reads the corners only: windows (-1..0) x (-1..0), and so on.
        let strided = Reference.conv2d(x, weight: w, stride: 2, padding: 1)
        #expect(strided.scalars == [1, 5, 11, 28])
    }

    @Test func attentionWithEqualScoresAveragesTheValues() {
        // A zero query scores every key 0: the softmax is uniform and the output the mean value.
        let q = Tensor(shape: [1, 2], repeating: 0)
        let k = Tensor(shape: [3, 2], scalars: [1, 2, 3, 4, 5, 6])
        let v = Tensor(shape: [3, 1], scalars: [3, 6, 12])
        #expect(Reference.scaledDotProductAttention(query: q, key: k, value: v).scalars == [7])
        // Causal: query 0 sees key 0 only, so it returns value 0 exactly.
        let q2 = Tensor(shape: [2, 2], scalars: [1, 0, 0, 1])
        let out = Reference.scaledDotProductAttention(query: q2, key: k.sliced(axis: 0, 0..<2), value: v.sliced(axis: 0, 0..<2),
                                                      causal: true)
        #expect(out.scalars[0] == 3)
    }

    @Test func normalizationOfKnownStatistics() {
        // [1, 2, 3, 4]: mean 2.5, variance 1.25.
        let x = Tensor(shape: [1, 4], scalars: [1, 2, 3, 4])
        let expected: [Float] = [-1.5, -0.5, 0.5, 1.5].map { Float($0 / 1.25.squareRoot()) }
        let l = Reference.layerNorm(x, weight: nil, bias: nil, epsilon: 0)
        #expect(zip(l.scalars, expected).allSatisfy { Swift.abs($0 - $1) <= 1e-6 })
        // Two groups of one channel each, affine 2x + 1 on channel 1 only.
        let g = Reference.groupNorm(Tensor(shape: [1, 2, 2], scalars: [9999, 10001, 5, 7]), groups: 2,
                                    weight: Tensor(shape: [2], scalars: [1, 2]), bias: Tensor(shape: [2], scalars: [0, 1]),
                                    epsilon: 0)
        #expect(g.scalars == [-1, 1, -1, 3])
    }
}
