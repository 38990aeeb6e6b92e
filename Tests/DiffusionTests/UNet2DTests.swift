// UNet2D against diffusers' UNet2DModel (fixture from tools/make_unet_fixtures.py): the same
// weights loaded by name give the same output and the same gradients; a seeded TorchGenerator
// gives diffusers' initial weights; configs round-trip through diffusers' JSON names; bad
// configurations and mismatched weights are thrown errors.
//
// Tolerance: the infinity-norm relative error of `Support/Fixtures.swift`. The forward pass is
// ~40 Float32 layers (GEMM sums reordered relative to PyTorch's), so agreement is expected to
// ~1e-6; `parityTolerance` (1e-4) still fails on any wrong wiring, which moves results by O(1).

import Autograd
import Diffusion
import Foundation
import Tensor
import Testing

@Suite struct UNet2DTests {
    static let fixture = Fixtures.folder.appendingPathComponent("unet2d_tiny.safetensors")

    func loadFixture() throws -> (model: UNet2D, file: SafetensorsFile) {
        let data = try Data(contentsOf: Fixtures.folder.appendingPathComponent("unet2d_tiny.json"))
        let configuration = try JSONDecoder().decode(UNet2DConfiguration.self, from: data)
        let model = try UNet2D(configuration: configuration, seed: 1)
        let file = try SafetensorsFile(contentsOf: Self.fixture)
        var weights: [String: Tensor] = [:]
        for name in file.names where name.hasPrefix("model.") {
            weights[String(name.dropFirst("model.".count))] = try file.tensor(named: name)
        }
        try model.loadStateDictionary(weights)
        return (model, file)
    }

    @Test func parameterNamesAreDiffusers() throws {
        let (model, file) = try loadFixture()
        let ours = Set(model.namedParameters().map(\.name))
        let theirs = Set(file.names.filter { $0.hasPrefix("model.") }.map { String($0.dropFirst(6)) })
        #expect(ours == theirs)
    }

    @Test func forwardMatchesDiffusers() throws {
        let (model, file) = try loadFixture()
        let x = try file.tensor(named: "input.sample")
        let t = try file.tensor(named: "input.timesteps").scalars
        let labels = try file.tensor(named: "input.class_labels").scalars.map { Int($0) }
        let out = withoutGradients { model(Variable(x), timesteps: t, classLabels: labels).value }
        let expected = try file.tensor(named: "output.sample")
        #expect(out.shape == expected.shape)
        #expect(relativeError(out, expected.scalars.map(Double.init)) < parityTolerance)
    }

    @Test func gradientsMatchDiffusers() throws {
        let (model, file) = try loadFixture()
        let x = Variable(try file.tensor(named: "input.sample"), requiresGrad: true)
        let t = try file.tensor(named: "input.timesteps").scalars
        let labels = try file.tensor(named: "input.class_labels").scalars.map { Int($0) }
        let r = try file.tensor(named: "input.weights")
        let loss = (model(x, timesteps: t, classLabels: labels) * Variable(r)).sum()
        loss.backward()
        let parameters = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.name, $0.variable) })
        let gradientNames = file.names.filter { $0.hasPrefix("grad.") && $0 != "grad.input.sample" }
        #expect(gradientNames.count >= 5)
        for name in gradientNames {
            let key = String(name.dropFirst("grad.".count))
            let grad = try #require(parameters[key]?.grad, "no gradient for \(key)")
            let error = relativeError(grad, try file.tensor(named: name).scalars.map(Double.init))
            #expect(error < parityTolerance, "\(key): relative error \(error)")
        }
        let inputGrad = try #require(x.grad)
        #expect(relativeError(inputGrad, try file.tensor(named: "grad.input.sample").scalars.map(Double.init)) < parityTolerance)
    }

    /// `torch.manual_seed(0); UNet2DModel(**config)` creates the fixture's weights; the script then
    /// perturbs only the normalization parameters, so every other weight is diffusers' init.
    @Test func seededInitializationMatchesTorch() throws {
        let (reference, _) = try loadFixture()
        let fresh = try UNet2D(configuration: reference.configuration, seed: 0)
        let expected = reference.stateDictionary()
        var compared = 0
        for (name, p) in fresh.namedParameters() where !name.contains("norm") {
            #expect(p.value.scalars == expected[name]!.scalars, "\(name) differs from torch's initialization")
            compared += 1
        }
        #expect(compared > 50)
    }

    @Test func configurationRoundTripsThroughJSON() throws {
        let configuration = UNet2DConfiguration(blockOutChannels: [32, 64, 128], attentionLevels: [2], numClassEmbeds: 10)
        let data = try JSONEncoder().encode(configuration)
        let decoded = try JSONDecoder().decode(UNet2DConfiguration.self, from: data)
        #expect(decoded == configuration)
        #expect(configuration.downBlockTypes == ["DownBlock2D", "DownBlock2D", "AttnDownBlock2D"])
        #expect(configuration.upBlockTypes == ["AttnUpBlock2D", "UpBlock2D", "UpBlock2D"])
        let json = try #require(String(data: data, encoding: .utf8))
        #expect(json.contains("\"block_out_channels\""))
        #expect(json.contains("\"_class_name\":\"UNet2DModel\""))
    }

    @Test(arguments: [
        #"{"block_out_channels": [32, 64], "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"], "up_block_types": ["UpBlock2D", "UpBlock2D"]}"#,
        #"{"block_out_channels": [32, 64], "down_block_types": ["DownBlock2D"], "up_block_types": ["UpBlock2D"]}"#,
        #"{"block_out_channels": [32, 48], "down_block_types": ["DownBlock2D", "DownBlock2D"], "up_block_types": ["UpBlock2D", "UpBlock2D"]}"#,
        #"{"block_out_channels": [32, 64], "down_block_types": ["DownBlock2D", "DownBlock2D"], "up_block_types": ["UpBlock2D", "UpBlock2D"], "resnet_time_scale_shift": "scale_shift"}"#,
        #"{"block_out_channels": [32, 64], "down_block_types": ["DownBlock2D", "DownBlock2D"], "up_block_types": ["UpBlock2D", "UpBlock2D"], "time_embedding_type": "fourier"}"#,
    ])
    func unsupportedConfigurationsAreErrors(json: String) throws {
        let configuration = try JSONDecoder().decode(UNet2DConfiguration.self, from: Data(json.utf8))
        #expect(throws: UNet2DConfigurationError.self) { try UNet2D(configuration: configuration) }
    }

    @Test func mismatchedWeightsNameTheProblem() throws {
        let (model, file) = try loadFixture()
        var weights: [String: Tensor] = [:]
        for name in file.names where name.hasPrefix("model.") {
            weights[String(name.dropFirst(6))] = try file.tensor(named: name)
        }
        weights["conv_in.weight"] = Tensor.zeros([8, 3, 3, 3])
        weights.removeValue(forKey: "conv_out.bias")
        let error = try #require(throws: StateDictionaryError.self) { try model.loadStateDictionary(weights) }
        #expect(error.description.contains("conv_in.weight"))
        #expect(error.description.contains("conv_out.bias"))
    }

    @Test func sinusoidalEmbeddingMatchesFormula() {
        let e = sinusoidalTimestepEmbedding([0, 10], dimension: 6)
        // half = 3, f = [1, 10000^(-1/3), 10000^(-2/3)]; flip: [cos, sin].
        let f = [1.0, pow(10000.0, -1.0 / 3), pow(10000.0, -2.0 / 3)]
        let expected = [1.0, 1, 1, 0, 0, 0] + f.map { cos(10 * $0) } + f.map { sin(10 * $0) }
        #expect(relativeError(e, expected) < 1e-6)
    }
}
