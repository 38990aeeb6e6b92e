// The three passes of a convolution (forward, input gradient, weight gradient) at the levels of
// the shipped small UNets (batch 32, 3x3, padding 1), where a training step spends most of its
// time. Each pass is its own case, so a difference with PyTorch (tools/bench_reference.py kind
// `conv_pass`, which times `aten::convolution_backward` with one output mask per pass) points to
// the layer and the pass that cause it.

import Tensor

/// The (channels, output channels, image side) of each level: the latent model's 2x2 and 4x4
/// levels, its and the pixel model's 8x8-32x32 levels.
let convPassShapes: [(c: Int, o: Int, side: Int)] = [
    (128, 128, 2), (128, 128, 4), (64, 64, 4), (64, 64, 8), (32, 32, 8), (32, 32, 16), (16, 16, 32),
]

/// The forward (`forward`), input-gradient (`input`) and weight-gradient (`weight`) cases of one level.
func convPassCases(c: Int, o: Int, side: Int, batch: Int = 32) -> [BenchCase] {
    let name = "convpass-\(batch)x\(c)x\(side)x\(side)-\(o)"
    let shape = "N=\(batch) C=\(c) \(side)x\(side) -> \(o), 3x3 pad 1"
    let flops = 2 * Double(batch * o * c * 9 * side * side)
    let input = [batch, c, side, side], output = [batch, o, side, side], weightShape = [o, c, 3, 3]
    return [
        BenchCase(name: "\(name)-forward", shape: shape, flops: flops) {
            let x = benchTensor(input, seed: 3), w = benchTensor(weightShape, seed: 4)
            return { _ = conv2d(x, weight: w, padding: 1) }
        },
        BenchCase(name: "\(name)-input", shape: shape + ", dL/dx", flops: flops) {
            let dy = benchTensor(output, seed: 5), w = benchTensor(weightShape, seed: 4)
            return { _ = conv2dBackwardInput(dy, weight: w, inputShape: input, padding: 1) }
        },
        BenchCase(name: "\(name)-weight", shape: shape + ", dL/dw", flops: flops) {
            let dy = benchTensor(output, seed: 5), x = benchTensor(input, seed: 3)
            return { _ = conv2dBackwardWeight(dy, input: x, weightShape: weightShape, padding: 1) }
        },
    ]
}
