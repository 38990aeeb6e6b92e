import Foundation
import Testing
import Tensor
import Autograd

@Suite("Losses: values against closed forms, gradients against finite differences")
struct LossTests {
    @Test(arguments: [LossReduction.mean, .sum, .none])
    func meanSquaredErrorGradient(reduction: LossReduction) {
        let a = randomTensor([3, 4], seed: 40), b = randomTensor([3, 4], seed: 41)
        #expect(gradientCheck([a, b]) { meanSquaredError($0[0], $0[1], reduction: reduction) }.passed)
    }

    @Test func meanSquaredErrorValue() {
        let p = Variable(Tensor(shape: [4], scalars: [1, 2, 3, 4]))
        let t = Variable(Tensor(shape: [4], scalars: [0, 2, 5, 3]))
        #expect(meanSquaredError(p, t).value.item == 1.5)       // (1 + 0 + 4 + 1)/4
        #expect(meanSquaredError(p, t, reduction: .sum).value.item == 6)
    }

    @Test(arguments: [LossReduction.mean, .sum, .none])
    func crossEntropyGradient(reduction: LossReduction) {
        let logits = randomTensor([4, 5], seed: 42, low: -3, high: 3)
        let labels = [0, 3, 4, 3]
        let report = gradientCheck([logits]) { crossEntropy(logits: $0[0], labels: labels, reduction: reduction) }
        #expect(report.passed, "\(report)")
    }

    /// Against the definition −log(e^{z_y}/Σe^{z}) in Double, including logits of size 1000
    /// where a naive exp would overflow Float32.
    @Test func crossEntropyValueIsStable() {
        let rows: [[Float]] = [[1, 2, 3], [1000, 0, -1000], [-5, 5, 0.5]]
        let labels = [2, 1, 0]
        let logits = Variable(Tensor(shape: [3, 3], scalars: rows.flatMap { $0 }))
        let losses = crossEntropy(logits: logits, labels: labels, reduction: .none).value.scalars
        for (i, row) in rows.enumerated() {
            let m = Double(row.max()!)
            let lse = m + Foundation.log(row.map { Foundation.exp(Double($0) - m) }.reduce(0, +))
            let expected = lse - Double(row[labels[i]])
            #expect(abs(Double(losses[i]) - expected) <= 1e-4 * max(1, expected), "row \(i)")
        }
    }
}
