import Testing
import Tensor
import Autograd

@Suite("Autograd unary math, reductions, softmax, concatenation: finite-difference checks")
struct MathGradientTests {
    /// Unary functions on inputs in a range where each is smooth (away from 0 for log/sqrt/abs/relu).
    @Test(arguments: ["exp", "log", "sqrt", "rsqrt", "tanh", "sigmoid", "silu", "gelu", "geluTanh",
                      "square", "pow3", "pow-0.5", "relu", "abs"])
    func unary(name: String) {
        let positiveOnly = ["log", "sqrt", "rsqrt", "pow-0.5"].contains(name)
        var x = randomTensor([3, 4], seed: 30, low: positiveOnly ? 0.5 : -2, high: 2)
        if name == "relu" || name == "abs" { x = x.map { $0 >= 0 ? $0 + 0.1 : $0 - 0.1 } }   // stay off the kink
        let report = gradientCheck([x]) { v in
            let a = v[0]
            switch name {
            case "exp": return a.exp()
            case "log": return a.log()
            case "sqrt": return a.sqrt()
            case "rsqrt": return a.rsqrt()
            case "tanh": return a.tanh()
            case "sigmoid": return a.sigmoid()
            case "silu": return a.silu()
            case "gelu": return a.gelu()
            case "geluTanh": return a.gelu(approximation: .tanh)
            case "square": return a.square()
            case "pow3": return a.pow(3)
            case "pow-0.5": return a.pow(-0.5)
            case "relu": return a.relu()
            default: return a.abs()
            }
        }
        #expect(report.passed, "\(name): \(report)")
    }

    /// The fused GEGLU gate against finite differences, and its forward against the composition
    /// a * gelu(g) of the two halves.
    @Test func gatedGELU() {
        let x = randomTensor([3, 10], seed: 31, low: -2, high: 2)
        let report = gradientCheck([x]) { $0[0].gatedGELU() }
        #expect(report.passed, "\(report)")
        let v = Variable(x)
        let composed = v.sliced(axis: -1, 0..<5) * v.sliced(axis: -1, 5..<10).gelu()
        #expect(v.gatedGELU().value.scalars == composed.value.scalars)
    }

    @Test(arguments: [nil, [0], [1], [0, 2], [-1]] as [[Int]?], [false, true])
    func sumAndMean(axes: [Int]?, keepingDims: Bool) {
        let x = randomTensor([2, 3, 4], seed: 31)
        #expect(gradientCheck([x]) { $0[0].sum(axes: axes, keepingDims: keepingDims) }.passed)
        #expect(gradientCheck([x]) { $0[0].mean(axes: axes, keepingDims: keepingDims) }.passed)
    }

    @Test(arguments: [nil, [0], [1], [1, 2], [-1]] as [[Int]?], [false, true])
    func max(axes: [Int]?, keepingDims: Bool) {
        let x = distinctTensor([2, 3, 4], seed: 32)
        let report = gradientCheck([x]) { $0[0].max(axes: axes, keepingDims: keepingDims) }
        #expect(report.passed, "\(report)")
    }

    /// With ties the whole gradient goes to the first maximal element, as torch.max(dim) does.
    @Test func maxTieGoesToFirstElement() {
        let x = Variable(Tensor(shape: [2, 3], scalars: [1, 5, 5, 2, 2, 0]), requiresGrad: true)
        x.max(axes: [1]).backward(Tensor(shape: [2], scalars: [1, 1]))
        #expect(x.grad!.scalars == [0, 1, 0, 1, 0, 0])
    }

    @Test(arguments: [0, 1, -1])
    func softmaxAndLogSoftmax(axis: Int) {
        let x = randomTensor([3, 4, 5], seed: 33, low: -3, high: 3)
        #expect(gradientCheck([x]) { $0[0].softmax(axis: axis) }.passed)
        #expect(gradientCheck([x]) { $0[0].logSoftmax(axis: axis) }.passed)
    }

    @Test(arguments: [0, 1, 2])
    func concatenate(axis: Int) {
        let a = randomTensor([2, 3, 2], seed: 34)
        var bShape = [2, 3, 2]; bShape[axis] = 1
        let b = randomTensor(bShape, seed: 35)
        let report = gradientCheck([a, b]) { v in Variable.concatenate([v[0], v[1], v[0]], axis: axis) }
        #expect(report.passed, "\(report)")
    }
}
