import Testing
import Tensor
import Autograd

@Suite("Autograd shape ops: finite-difference checks")
struct ShapeGradientTests {
    @Test func reshapePermuteTranspose() {
        let x = randomTensor([2, 3, 4], seed: 10)
        #expect(gradientCheck([x]) { $0[0].reshaped([6, 4]) }.passed)
        #expect(gradientCheck([x]) { $0[0].reshaped([4, -1]).transposed() }.passed)
        #expect(gradientCheck([x]) { $0[0].permuted([2, 0, 1]) * $0[0].permuted([2, 0, 1]) }.passed)
        #expect(gradientCheck([x]) { $0[0].flattened(startAxis: 1) }.passed)
        #expect(gradientCheck([x]) { $0[0].unsqueezed(axis: 1).squeezed(axis: 1) }.passed)
    }

    @Test(arguments: [(0, 1, 2, 1), (1, 0, 3, 2), (2, 1, nil, 1), (-1, -3, nil, 2)] as [(Int, Int, Int?, Int)])
    func slice(axis: Int, start: Int, end: Int?, step: Int) {
        let x = randomTensor([2, 3, 4], seed: 11)
        let report = gradientCheck([x]) { $0[0].sliced(axis: axis, start: start, end: end, step: step) }
        #expect(report.passed, "\(report)")
    }

    /// Two overlapping slices of the same variable: their gradients must add.
    @Test func overlappingSlicesAccumulate() {
        let x = Variable(Tensor(shape: [4], scalars: [1, 2, 3, 4]), requiresGrad: true)
        let y = x.sliced(axis: 0, 0..<3) * x.sliced(axis: 0, 1..<4)
        y.backward(Tensor(shape: [3], repeating: 1))
        // y = [x0x1, x1x2, x2x3] → dx = [x1, x0+x2, x1+x3, x2]
        #expect(x.grad!.scalars == [2, 4, 6, 3])
    }

    @Test func expand() {
        let x = randomTensor([3, 1], seed: 12)
        #expect(gradientCheck([x]) { $0[0].expanded(to: [2, 3, 4]) * 1.5 }.passed)
    }
}
