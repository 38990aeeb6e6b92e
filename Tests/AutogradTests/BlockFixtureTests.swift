import Foundation
import Testing
import Tensor
import Autograd

/// One block case written by tools/make_autograd_fixtures.py: weights by state-dict name,
/// inputs, output, the random output weights w of L = Σ w·output, and dL/d(parameters, inputs).
private struct BlockCase: Decodable {
    var weights: [String: TensorJSON]
    var inputs: [String: TensorJSON]
    var output: TensorJSON
    var output_weights: TensorJSON
    var parameter_grads: [String: TensorJSON]
    var input_grads: [String: TensorJSON]
}

/// diffusers' `ResnetBlock2D` (Ho et al. 2020's residual block with a time embedding) built from
/// Autograd layers under diffusers' names, in channels 4 → out 8, time embedding 6.
private final class ResnetBlock: Module {
    let norm1 = GroupNorm(groups: 2, channels: 4)
    let conv1: Conv2d
    let timeEmbeddingProjection: Linear
    let norm2 = GroupNorm(groups: 4, channels: 8)
    let conv2: Conv2d
    let convShortcut: Conv2d

    init() {
        var g = TorchGenerator(seed: 0)
        conv1 = Conv2d(inputChannels: 4, outputChannels: 8, kernelSize: 3, padding: 1, generator: &g)
        timeEmbeddingProjection = Linear(inputFeatures: 6, outputFeatures: 8, generator: &g)
        conv2 = Conv2d(inputChannels: 8, outputChannels: 8, kernelSize: 3, padding: 1, generator: &g)
        convShortcut = Conv2d(inputChannels: 4, outputChannels: 8, kernelSize: 1, generator: &g)
    }

    var children: [(name: String, module: any Module)] {
        [("norm1", norm1), ("conv1", conv1), ("time_emb_proj", timeEmbeddingProjection), ("norm2", norm2),
         ("conv2", conv2), ("conv_shortcut", convShortcut)]
    }

    func callAsFunction(_ x: Variable, timeEmbedding: Variable) -> Variable {
        var h = conv1(norm1(x).silu())
        h = h + timeEmbeddingProjection(timeEmbedding.silu()).reshaped([x.shape[0], 8, 1, 1])
        h = conv2(norm2(h).silu())
        return convShortcut(x) + h
    }
}

@Suite("Composite blocks against PyTorch/diffusers: forward and every gradient")
struct BlockFixtureTests {
    private static let cases = try! loadFixture("blocks.json", as: [String: BlockCase].self)

    /// Float32 on both sides with different summation orders: values of order 1 agree to about
    /// 1e-6 relative per operation; through a few dozen operations 1e-4·(1 + max|reference|) is
    /// a bound that still catches any wrong rule (errors of order of the values themselves).
    private func expectClose(_ actual: Tensor?, _ expected: TensorJSON, _ what: String) {
        guard let actual else { Issue.record("\(what): no value"); return }
        #expect(actual.shape == expected.shape, "\(what): shape")
        guard actual.shape == expected.shape else { return }
        let scale = 1 + (expected.data.map(abs).max() ?? 0)
        let error = maxAbsDifference(actual, expected.tensor)
        #expect(error <= 1e-4 * scale, "\(what): max error \(error) (scale \(scale))")
    }

    private func check(_ module: any Module, _ fixture: BlockCase, inputs: [String: Variable], output: Variable) {
        expectClose(output.value, fixture.output, "output")
        output.backward(fixture.output_weights.tensor)
        let names = module.namedParameters()
        #expect(Set(names.map(\.name)) == Set(fixture.parameter_grads.keys))
        for (name, p) in names { expectClose(p.grad, fixture.parameter_grads[name]!, "d/d \(name)") }
        for (name, v) in inputs { expectClose(v.grad, fixture.input_grads[name]!, "d/d input \(name)") }
    }

    @Test func resnetBlock() throws {
        let fixture = Self.cases["resnet"]!
        let block = ResnetBlock()
        try block.loadStateDictionary(fixture.weights.mapValues(\.tensor))
        let x = Variable(fixture.inputs["x"]!.tensor, requiresGrad: true)
        let temb = Variable(fixture.inputs["temb"]!.tensor, requiresGrad: true)
        check(block, fixture, inputs: ["x": x, "temb": temb], output: block(x, timeEmbedding: temb))
    }

    @Test func selfAttentionBlock() throws {
        let fixture = Self.cases["self_attention"]!
        var g = TorchGenerator(seed: 0)
        let block = Attention(queryDimension: 8, heads: 2, headDimension: 4, bias: true, groupNormGroups: 4,
                              epsilon: 1e-6, residualConnection: true, generator: &g)
        try block.loadStateDictionary(fixture.weights.mapValues(\.tensor))
        let x = Variable(fixture.inputs["x"]!.tensor, requiresGrad: true)
        check(block, fixture, inputs: ["x": x], output: block(x))
    }

    @Test func crossAttentionBlock() throws {
        let fixture = Self.cases["cross_attention"]!
        var g = TorchGenerator(seed: 0)
        let block = Attention(queryDimension: 8, contextDimension: 6, heads: 2, headDimension: 5, generator: &g)
        try block.loadStateDictionary(fixture.weights.mapValues(\.tensor))
        let x = Variable(fixture.inputs["x"]!.tensor, requiresGrad: true)
        let context = Variable(fixture.inputs["context"]!.tensor, requiresGrad: true)
        check(block, fixture, inputs: ["x": x, "context": context], output: block(x, context: context))
    }
}
