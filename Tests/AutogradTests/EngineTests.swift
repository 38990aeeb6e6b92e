import Testing
import Tensor
import Autograd
import Foundation

@Suite("Autograd engine: graph, accumulation, no-grad scope")
struct EngineTests {
    /// micrograd's README example, differentiated by hand: for a = -4, b = 2,
    /// c = a + b, d = a·b + b³ ... here reduced to products and sums with known derivatives.
    @Test func chainRuleOnSmallGraph() {
        let a = Variable(Tensor(shape: [], scalars: [-4]), requiresGrad: true)
        let b = Variable(Tensor(shape: [], scalars: [2]), requiresGrad: true)
        let c = a + b                 // -2
        let d = a * b + b * b * b     // -8 + 8 = 0
        let e = c * d + d / a         // L = (a+b)(ab+b³) + (ab+b³)/a
        e.backward()
        // dL/da = (ab+b³) + (a+b)·b + [b·a − (ab+b³)]/a²  at a=-4, b=2: 0 + (-2)(2) + (-8 - 0)/16 = -4.5
        // dL/db = (ab+b³) + (a+b)(a+3b²) + (a+3b²)/a      = 0 + (-2)(8) + 8/(-4) = -18
        #expect(abs(a.grad!.item - -4.5) < 1e-6)
        #expect(abs(b.grad!.item - -18) < 1e-6)
    }

    @Test func reusedValueAccumulatesGradient() {
        let x = Variable(Tensor(shape: [3], scalars: [1, 2, 3]), requiresGrad: true)
        let y = x * x + x          // dy/dx = 2x + 1
        y.backward(Tensor(shape: [3], repeating: 1))
        #expect(x.grad!.scalars == [3, 5, 7])
        // A second backward through a new graph adds to the existing gradient.
        (x * 2).backward(Tensor(shape: [3], repeating: 1))
        #expect(x.grad!.scalars == [5, 7, 9])
    }

    @Test func noGradScopeRecordsNothing() {
        let w = Variable(Tensor(shape: [2], scalars: [1, 2]), requiresGrad: true)
        let y = withoutGradients { w * w + 1 }
        #expect(!y.requiresGrad)
        #expect(y.value.scalars == [2, 5])
        #expect(GradientRecording.isEnabled)
        let z = w * w
        #expect(z.requiresGrad)
    }

    @Test func constantsGetNoGradient() {
        let c = Variable(Tensor(shape: [2], scalars: [3, 4]))
        let w = Variable(Tensor(shape: [2], scalars: [1, 2]), requiresGrad: true)
        (c * w).backward(Tensor(shape: [2], repeating: 1))
        #expect(c.grad == nil)
        #expect(w.grad!.scalars == [3, 4])
    }

    @Test func intermediateGradientsAreReleasedUnlessRetained() {
        let w = Variable(Tensor(shape: [2], scalars: [1, 2]), requiresGrad: true)
        let hidden = w * 3
        let kept = hidden + 1
        kept.retainsGradient = true
        let loss = kept * kept
        loss.backward(Tensor(shape: [2], repeating: 1))
        #expect(hidden.grad == nil)
        #expect(kept.grad!.scalars == [8, 14])   // 2·(3w + 1)
        #expect(w.grad!.scalars == [24, 42])     // 2·(3w + 1)·3
    }

    /// A long chain must not overflow the stack (the topological sort is iterative).
    @Test func deepChain() {
        let x = Variable(Tensor(shape: [], scalars: [1]), requiresGrad: true)
        var y = x
        for _ in 0..<20_000 { y = y * 1.0001 }
        y.backward()
        let expected = Float(Foundation.pow(1.0001, 20_000.0))
        #expect(abs(x.grad!.item - expected) / expected < 1e-3)
    }

    @Test(arguments: [([2, 3], [3]), ([2, 1, 4], [3, 1]), ([1], [2, 2]), ([], [2, 3])])
    func broadcastingGradientsSumToOperandShape(shapes: ([Int], [Int])) {
        let a = randomTensor(shapes.0, seed: 1), b = randomTensor(shapes.1, seed: 2, low: 0.5, high: 2)
        for op in 0..<4 {
            let report = gradientCheck([a, b]) { v in
                switch op {
                case 0: return v[0] + v[1]
                case 1: return v[0] - v[1]
                case 2: return v[0] * v[1]
                default: return v[0] / v[1]
                }
            }
            #expect(report.passed, "op \(op): \(report)")
        }
    }

    @Test func scalarOperations() {
        let a = randomTensor([2, 3], seed: 3, low: 0.5, high: 2)
        let cases: [(String, (Variable) -> Variable)] = [
            ("a+s", { $0 + 2 }), ("s+a", { 2 + $0 }), ("a-s", { $0 - 2 }), ("s-a", { 2 - $0 }),
            ("a*s", { $0 * 3 }), ("s*a", { 3 * $0 }), ("a/s", { $0 / 3 }), ("s/a", { 3 / $0 }), ("-a", { -$0 }),
        ]
        for (name, f) in cases {
            let report = gradientCheck([a]) { f($0[0]) }
            #expect(report.passed, "\(name): \(report)")
        }
    }

    /// The checker itself must reject a wrong rule.
    @Test func gradientCheckCatchesAWrongRule() {
        let a = randomTensor([4], seed: 4)
        let report = gradientCheck([a]) { v in
            let x = v[0]
            // value x², but a backward rule claiming derivative x (half the truth).
            return Variable(result: x.value * x.value, parents: [x]) { g in x.accumulateGradient(g * x.value) }
        }
        #expect(!report.passed)
    }
}
