import Foundation
import Tensor
import Autograd
var g = TorchGenerator(seed: 0)
let model = FashionClassifier(generator: &g)
let opt = Adam.adamW(parameters: model.namedParameters(), learningRate: 1e-3)
let x = g.rand([64, 1, 28, 28])
let labels = (0..<64).map { $0 % 10 }
for i in 0..<6 {
    let t0 = Date()
    opt.zeroGrad()
    let loss = crossEntropy(logits: model(Variable(x)), labels: labels)
    let t1 = Date()
    loss.backward()
    let t2 = Date()
    opt.step()
    let t3 = Date()
    print(i, loss.value.item, String(format: "fwd %.1f ms bwd %.1f ms opt %.1f ms", t1.timeIntervalSince(t0)*1000, t2.timeIntervalSince(t1)*1000, t3.timeIntervalSince(t2)*1000))
}
