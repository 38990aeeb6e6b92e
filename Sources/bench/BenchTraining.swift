// Training-step cases: forward, backward and one AdamW step of a whole model, the unit of work
// of every training loop. The PyTorch reference (tools/bench_reference.py, kind
// `train_classifier`) builds the same network and times the same step.

import Autograd
import Tensor

/// Multiply-adds of one FashionClassifier forward pass for one 28×28 image:
/// conv1 28²·32·9 + conv2 14²·32·32·9 + conv3 7²·64·32·9 + fc1 3136·128 + fc2 128·10.
let classifierMultiplyAdds = 28 * 28 * 32 * 9 + 14 * 14 * 32 * 32 * 9 + 7 * 7 * 64 * 32 * 9 + 3136 * 128 + 128 * 10

/// One training step (zero gradients, forward, cross-entropy, backward, AdamW) of the lesson-03
/// classifier on a batch of `batch` images. FLOPs: 3 × the forward's 2 × multiply-adds (the
/// backward costs about twice the forward).
func classifierTrainingCase(batch: Int) -> BenchCase {
    BenchCase(name: "train-classifier-b\(batch)", shape: "FashionClassifier, batch \(batch) x 1x28x28, AdamW",
              flops: 3 * 2 * Double(classifierMultiplyAdds) * Double(batch)) {
        var generator = TorchGenerator(seed: 0)
        let model = FashionClassifier(generator: &generator)
        let optimizer = Adam.adamW(parameters: model.namedParameters(), learningRate: 1e-3)
        let images = generator.rand([batch, 1, 28, 28])
        let labels = (0..<batch).map { $0 % 10 }
        return {
            optimizer.zeroGrad()
            let loss = crossEntropy(logits: model(Variable(images)), labels: labels)
            loss.backward()
            optimizer.step()
        }
    }
}
