import Foundation
import Testing
import Tensor
import Autograd

@Suite("Scalar engine (lesson 02): against finite differences and the tensor engine")
struct ScalarTests {
    /// A neuron tanh(w1·x1 + w2·x2 + b) as in micrograd's README, and a rational expression.
    private func expression(_ x: [Scalar]) -> Scalar {
        let n = (x[0] * x[2] + x[1] * x[3] + x[4]).tanh()
        return n * n.exp() / (x[0] * x[0] + Scalar(1)) - x[1].pow(3)
    }

    @Test func gradientsMatchCentralDifferences() {
        let point = [2.0, -0.5, -3.0, 1.0, 6.8813735870195432]
        let inputs = point.map { Scalar($0) }
        let out = expression(inputs)
        out.backward()
        let h = 1e-5
        for i in 0..<point.count {
            var plus = point, minus = point
            plus[i] += h
            minus[i] -= h
            let numeric = (expression(plus.map { Scalar($0) }).value - expression(minus.map { Scalar($0) }).value) / (2 * h)
            // Double, h = 1e-5: truncation ~h² = 1e-10, rounding ~1e-16/1e-5 = 1e-11.
            #expect(abs(inputs[i].grad - numeric) <= 1e-8 * max(1, abs(numeric)), "input \(i)")
        }
    }

    @Test func agreesWithTheTensorEngine() {
        let point: [Float] = [2, -0.5, -3, 1, 0.7]
        let s = point.map { Scalar(Double($0)) }
        let sn = (s[0] * s[2] + s[1] * s[3] + s[4]).tanh()
        sn.backward()
        let v = point.map { Variable(Tensor($0), requiresGrad: true) }
        let vn = (v[0] * v[2] + v[1] * v[3] + v[4]).tanh()
        vn.backward()
        for i in 0..<5 { #expect(abs(Double(v[i].grad!.item) - s[i].grad) <= 1e-6) }
    }

    @Test func reusedNodeAccumulates() {
        let a = Scalar(3)
        let b = a * a + a   // db/da = 2a + 1 = 7
        b.backward()
        #expect(a.grad == 7)
    }
}
