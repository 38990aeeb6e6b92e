import Testing
import Tensor

@Suite("Ops: nearest upsampling and average pooling")
struct OpsResamplingTests {
    @Test func upsampleRepeatsEachPixel() {
        var random = OpsTestRandom(seed: 15)
        let shape = [2, 3, 4, 5]
        for (name, t) in layouts(random.uniforms(120), shape: shape) {
            let r = t.upsampledNearest2x()
            #expect(r.shape == [2, 3, 8, 10])
            let expected = allIndices([2, 3, 8, 10]).map { element(t, [$0[0], $0[1], $0[2] / 2, $0[3] / 2]) }
            #expect(r.scalars.map(Double.init) == expected, "\(name)")
        }
    }

    /// A large input takes the threaded path; checked against the same naive rule.
    @Test func upsampleLargeInput() {
        let t = randomTensor([1, 8, 64, 33], seed: 3)
        let r = t.upsampledNearest2x()
        let expected = allIndices(r.shape).map { element(t, [$0[0], $0[1], $0[2] / 2, $0[3] / 2]) }
        #expect(r.scalars.map(Double.init) == expected)
    }

    /// Sums of at most 9 values of order 1: relative 1e-6 plus absolute 1e-7.
    @Test(arguments: [(2, nil), (2, 1), (3, 2), (3, nil), (1, 1)] as [(Int, Int?)])
    func averagePoolMatchesNaiveReference(kernel: Int, stride: Int?) {
        var random = OpsTestRandom(seed: 16)
        let shape = [2, 3, 7, 8]
        let s = stride ?? kernel
        let (oh, ow) = ((7 - kernel) / s + 1, (8 - kernel) / s + 1)
        var inputs = layouts(random.uniforms(336), shape: shape)
        inputs.append(("expanded", expandedTensor(shape, axis: 1, seed: 6)))
        inputs.append(("large", randomTensor([4, 16, 40, 40], seed: 7)))
        for (name, t) in inputs {
            let (h, w) = (t.shape[2], t.shape[3])
            let (oh, ow) = name == "large" ? ((h - kernel) / s + 1, (w - kernel) / s + 1) : (oh, ow)
            let outShape = [t.shape[0], t.shape[1], oh, ow]
            let r = t.averagePooled2d(kernel: kernel, stride: stride)
            #expect(r.shape == outShape)
            let expected = allIndices(outShape).map { o -> Double in
                var sum = 0.0
                for i in 0..<kernel { for j in 0..<kernel { sum += element(t, [o[0], o[1], o[2] * s + i, o[3] * s + j]) } }
                return sum / Double(kernel * kernel)
            }
            expectClose(r.scalars, expected, relative: 1e-6, absolute: 1e-7, "\(name)")
        }
    }
}
