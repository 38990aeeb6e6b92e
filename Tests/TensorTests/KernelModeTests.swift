// `Kernels.withMode(.reference)` routes every kernel family to its reference: inside the scope
// each public op returns exactly (bit for bit) what the matching `Reference` function computes.
// Whether the references are right is the business of the kernel tests (MatmulTests,
// Conv2dTests, AttentionTests, OpsNormalizationTests), which compare the two paths.

import Tensor
import Testing

@Suite("Kernels.mode: the reference switch reaches every kernel family")
struct KernelModeTests {
    @Test func matmulTakesTheReference() {
        let a = kernelTestTensor([2, 7, 19], seed: 1), b = kernelTestTensor([19, 5], seed: 2)
        let routed = Kernels.withMode(.reference) { a.matmul(b) }
        #expect(routed.scalars == Reference.matmul(a, b).scalars)
        let w = HalfPrecisionTensor(narrowing: kernelTestTensor([5, 19], seed: 3), format: .bfloat16)
        let half = Kernels.withMode(.reference) { a.matmul(transposed: w) }
        #expect(half.shape == [2, 7, 5])
        #expect(half.scalars == Reference.matmul(a, w.widened().transposed()).scalars)
    }

    @Test func convolutionPassesTakeTheReference() {
        let x = kernelTestTensor([2, 4, 6, 5], seed: 4), w = kernelTestTensor([6, 2, 3, 3], seed: 5)
        let bias = kernelTestTensor([6], seed: 6)
        let y = Kernels.withMode(.reference) { conv2d(x, weight: w, bias: bias, stride: 2, padding: 1, groups: 2) }
        #expect(y.scalars == Reference.conv2d(x, weight: w, bias: bias, stride: 2, padding: 1, groups: 2).scalars)
        let dy = kernelTestTensor(y.shape, seed: 7)
        let dx = Kernels.withMode(.reference) {
            conv2dBackwardInput(dy, weight: w, inputShape: x.shape, stride: 2, padding: 1, groups: 2)
        }
        #expect(dx.scalars == Reference.conv2dBackwardInput(dy, weight: w, inputShape: x.shape, stride: 2, padding: 1,
                                                            groups: 2).scalars)
        let dw = Kernels.withMode(.reference) {
            conv2dBackwardWeight(dy, input: x, weightShape: w.shape, stride: 2, padding: 1, groups: 2)
        }
        #expect(dw.scalars == Reference.conv2dBackwardWeight(dy, input: x, weightShape: w.shape, stride: 2, padding: 1,
                                                             groups: 2).scalars)
    }

    @Test func attentionAndNormsTakeTheReference() {
        let q = kernelTestTensor([3, 9, 8], seed: 8), k = kernelTestTensor([3, 11, 8], seed: 9)
        let v = kernelTestTensor([3, 11, 4], seed: 10)
        let o = Kernels.withMode(.reference) { scaledDotProductAttention(query: q, key: k, value: v) }
        #expect(o.scalars == Reference.scaledDotProductAttention(query: q, key: k, value: v).scalars)
        let x = kernelTestTensor([2, 6, 3, 3], seed: 11), gamma = kernelTestTensor([6], seed: 12)
        let g = Kernels.withMode(.reference) { x.groupNorm(groups: 3, weight: gamma, bias: nil) }
        #expect(g.scalars == Reference.groupNorm(x, groups: 3, weight: gamma, bias: nil).scalars)
        let l = Kernels.withMode(.reference) { x.layerNorm(weight: nil, bias: nil) }
        #expect(l.scalars == Reference.layerNorm(x, weight: nil, bias: nil).scalars)
    }

    /// The scope is the task's own: outside it the process-wide mode holds again.
    @Test func scopeEndsWithTheClosure() {
        #expect(Kernels.withMode(.reference) { Kernels.current } == .reference)
        #expect(Kernels.current == Kernels.mode)
    }
}
