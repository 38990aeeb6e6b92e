import Testing
import Tensor
import Autograd

@Suite("Autograd convolution and attention: finite-difference checks")
struct ConvolutionAttentionGradientTests {
    @Test(arguments: [(1, 0, 1, 1), (1, 1, 1, 1), (2, 1, 1, 1), (1, 2, 2, 1), (1, 1, 1, 2),
                      (2, 0, 1, 1), (2, 2, 1, 2), (3, 1, 1, 1), (2, 1, 2, 1)])
    func conv2d(stride: Int, padding: Int, dilation: Int, groups: Int) {
        let x = randomTensor([2, 4, 5, 5], seed: 60)
        let w = randomTensor([6, 4 / groups, 3, 3], seed: 61)
        let b = randomTensor([6], seed: 62)
        let report = gradientCheck([x, w, b]) {
            Variable.conv2d($0[0], weight: $0[1], bias: $0[2], stride: stride, padding: padding, dilation: dilation, groups: groups)
        }
        #expect(report.passed, "\(report)")
    }

    @Test(arguments: [false, true])
    func attention(causal: Bool) {
        let q = randomTensor([2, 2, 3, 4], seed: 63), k = randomTensor([2, 2, 5, 4], seed: 64)
        let v = randomTensor([2, 2, 5, 3], seed: 65)
        let report = gradientCheck([q, k, v]) {
            Variable.scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2], causal: causal)
        }
        #expect(report.passed, "\(report)")
    }

    @Test func attentionWithScaleAndBroadcastKeys() {
        let q = randomTensor([2, 3, 4], seed: 66), k = randomTensor([3, 4], seed: 67), v = randomTensor([3, 2], seed: 68)
        let report = gradientCheck([q, k, v]) {
            Variable.scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2], scale: 0.7)
        }
        #expect(report.passed, "\(report)")
    }
}
