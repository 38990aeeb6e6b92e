// A small convolutional classifier for 28×28 gray images (Fashion-MNIST), trained in lesson 03.
// Its 128 penultimate features are the feature space the project uses for a Fréchet distance
// between image sets (Heusel et al. 2017 use Inception-v3's pool features; those weights are
// not available here, so the distance is computed in this classifier's feature space).
//
//   x [N, 1, 28, 28]
//   conv1 3×3, 32, pad 1, ReLU          → [N, 32, 28, 28]
//   conv2 3×3, 32, stride 2, pad 1, ReLU → [N, 32, 14, 14]
//   conv3 3×3, 64, stride 2, pad 1, ReLU → [N, 64, 7, 7]
//   flatten, fc1 3136 → 128, ReLU        → features [N, 128]
//   fc2 128 → 10                          → logits [N, 10]

import Tensor

/// The lesson-03 Fashion-MNIST classifier (about 0.43 M parameters).
public final class FashionClassifier: Module {
    /// The convolutions, in order.
    public let conv1: Conv2d, conv2: Conv2d, conv3: Conv2d
    /// The fully connected layers.
    public let fc1: Linear, fc2: Linear

    /// Creates the network with PyTorch's default initialization from `generator`.
    public init(generator: inout some RandomTensorGenerator) {
        conv1 = Conv2d(inputChannels: 1, outputChannels: 32, kernelSize: 3, padding: 1, generator: &generator)
        conv2 = Conv2d(inputChannels: 32, outputChannels: 32, kernelSize: 3, stride: 2, padding: 1, generator: &generator)
        conv3 = Conv2d(inputChannels: 32, outputChannels: 64, kernelSize: 3, stride: 2, padding: 1, generator: &generator)
        fc1 = Linear(inputFeatures: 64 * 7 * 7, outputFeatures: 128, generator: &generator)
        fc2 = Linear(inputFeatures: 128, outputFeatures: 10, generator: &generator)
    }

    /// conv1, conv2, conv3, fc1, fc2.
    public var children: [(name: String, module: any Module)] {
        [("conv1", conv1), ("conv2", conv2), ("conv3", conv3), ("fc1", fc1), ("fc2", fc2)]
    }

    /// The penultimate features [N, 128] of images [N, 1, 28, 28] in [0, 1].
    public func features(_ images: Variable) -> Variable {
        var h = conv1(images).relu()
        h = conv2(h).relu()
        h = conv3(h).relu()
        return fc1(h.flattened(startAxis: 1)).relu()
    }

    /// Class logits [N, 10].
    public func callAsFunction(_ images: Variable) -> Variable {
        fc2(features(images))
    }
}

extension FashionClassifier {
    /// The predicted class of every image in `images` [N, 1, 28, 28], computed in batches
    /// without recording gradients.
    public func predictions(_ images: Tensor, batchSize: Int = 500) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(images.shape[0])
        withoutGradients {
            for start in stride(from: 0, to: images.shape[0], by: batchSize) {
                let batch = images.sliced(axis: 0, start: start, end: Swift.min(start + batchSize, images.shape[0]))
                out += self(Variable(batch)).value.argmax(axis: 1).scalars.map { Int($0) }
            }
        }
        return out
    }

    /// The fraction of examples of `dataset` classified correctly.
    public func accuracy(on dataset: LabelledDataset, batchSize: Int = 500) -> Double {
        let predicted = predictions(dataset.inputs, batchSize: batchSize)
        return Double(zip(predicted, dataset.labels).filter { $0 == $1 }.count) / Double(dataset.count)
    }
}
