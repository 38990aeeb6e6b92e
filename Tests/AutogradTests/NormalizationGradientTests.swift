import Testing
import Tensor
import Autograd

@Suite("Autograd norms, padding, embedding, resampling: finite-difference checks")
struct NormalizationGradientTests {
    @Test(arguments: [1, 2, 4])
    func groupNorm(groups: Int) {
        let x = randomTensor([2, 4, 3, 2], seed: 50, low: -2, high: 2)
        let w = randomTensor([4], seed: 51, low: 0.5, high: 1.5), b = randomTensor([4], seed: 52)
        let report = gradientCheck([x, w, b]) { $0[0].groupNorm(groups: groups, weight: $0[1], bias: $0[2]) }
        #expect(report.passed, "\(report)")
        let plain = gradientCheck([x]) { $0[0].groupNorm(groups: groups, weight: nil, bias: nil) }
        #expect(plain.passed, "\(plain)")
    }

    /// With recording on, groupNormSiLU is the two recorded ops (finite differences); with it
    /// off, the fused kernel gives the same values.
    @Test func groupNormSiLU() {
        let x = randomTensor([2, 4, 3, 2], seed: 60, low: -2, high: 2)
        let w = randomTensor([4], seed: 61, low: 0.5, high: 1.5), b = randomTensor([4], seed: 62)
        let report = gradientCheck([x, w, b]) { $0[0].groupNormSiLU(groups: 2, weight: $0[1], bias: $0[2]) }
        #expect(report.passed, "\(report)")
        let recorded = Variable(x).groupNormSiLU(groups: 2, weight: Variable(w), bias: Variable(b)).value
        let fused = withoutGradients { Variable(x).groupNormSiLU(groups: 2, weight: Variable(w), bias: Variable(b)).value }
        #expect(zip(recorded.scalars, fused.scalars).allSatisfy { abs($0 - $1) <= 1e-6 * max(1, abs($0)) })
    }

    @Test func layerNorm() {
        let x = randomTensor([2, 3, 5], seed: 53, low: -2, high: 2)
        let w = randomTensor([5], seed: 54, low: 0.5, high: 1.5), b = randomTensor([5], seed: 55)
        let report = gradientCheck([x, w, b]) { $0[0].layerNorm(weight: $0[1], bias: $0[2]) }
        #expect(report.passed, "\(report)")
        #expect(gradientCheck([x]) { $0[0].layerNorm(weight: nil, bias: nil) }.passed)
    }

    @Test func padding() {
        let x = randomTensor([2, 3, 2], seed: 56)
        let report = gradientCheck([x]) { $0[0].padded([(0, 1), (2, 0), (1, 1)], value: 0.5) }
        #expect(report.passed, "\(report)")
    }

    /// Repeated indices: the table row receives the sum of every gradient row that read it.
    @Test func embedding() {
        let table = randomTensor([5, 3], seed: 57)
        let report = gradientCheck([table]) { Variable.embedding($0[0], indices: [4, 1, 1, 0, 4, 4], indexShape: [2, 3]) }
        #expect(report.passed, "\(report)")
    }

    @Test func upsampleNearest() {
        let x = randomTensor([2, 2, 3, 2], seed: 58)
        #expect(gradientCheck([x]) { $0[0].upsampledNearest2x() }.passed)
    }

    @Test(arguments: [(2, nil), (2, 1), (3, 2)] as [(Int, Int?)])
    func averagePool(kernel: Int, stride: Int?) {
        let x = randomTensor([1, 2, 5, 6], seed: 59)
        let report = gradientCheck([x]) { $0[0].averagePooled2d(kernel: kernel, stride: stride) }
        #expect(report.passed, "\(report)")
    }
}
