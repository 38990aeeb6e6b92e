// Stable Diffusion's models against diffusers/transformers: tiny random-weight SD 1.x-style and
// SD 2.x-style models (and a 9-channel inpainting UNet), each stored as a diffusers folder and
// as a single-file CompVis checkpoint in F32, F16 or BF16, with reference outputs computed by
// diffusers and transformers in float32 (fixtures from tools/make_sd_fixtures.py):
// text-encoder states (last layer and clip skip), one UNet call with text conditioning, VAE
// encode (mean, log-variance) and decode. Also the loader's errors.
//
// Tolerance: `relativeError` (infinity norm relative to the reference's, Support/Fixtures.swift)
// ≤ 1e-4. Both sides compute in Float32 from the same weights (rounded to 16 bits by the
// script, so every stored format holds them exactly); they differ in summation order only
// (~1e-6 here), while a wrong layer, name mapping or convention moves outputs by 1e-2 or more.

import Autograd
import Diffusion
import Foundation
import Tensor
import Testing

/// The tiny models' files.
enum TinySD {
    static func url(_ name: String) -> URL { Fixtures.folder.appendingPathComponent("sd").appendingPathComponent(name) }

    /// The reference outputs of `model` ("tiny-sd1", "tiny-sd2", "tiny-sd1-inpaint").
    static func reference(_ model: String) throws -> SafetensorsFile {
        try SafetensorsFile(contentsOf: url("\(model)-reference.safetensors"))
    }

    /// The two stored forms of a model: its diffusers folder and its single file (configured
    /// by the folder's config files).
    static func checkpoints(_ model: String) throws -> [(String, StableDiffusionCheckpoint)] {
        [("folder", try StableDiffusionCheckpoint(contentsOf: url(model))),
         ("single file", try StableDiffusionCheckpoint(contentsOf: url("\(model).safetensors"), configurationFolder: url(model)))]
    }
}

@Suite("Stable Diffusion models against diffusers")
struct StableDiffusionModelTests {
    @Test("text encoder: last layer and clip skip", arguments: ["tiny-sd1", "tiny-sd2"])
    func textEncoder(model: String) throws {
        let reference = try TinySD.reference(model)
        let ids = try reference.integers(named: "prompt_ids")
        let rows = stride(from: 0, to: ids.count, by: 77).map { Array(ids[$0..<($0 + 77)]) }
        let last = try reference.tensor(named: "text.last_hidden_state").scalars.map(Double.init)
        let penultimate = try reference.tensor(named: "text.penultimate_normed").scalars.map(Double.init)
        for (form, checkpoint) in try TinySD.checkpoints(model) {
            for keep in [true, false] {
                let encoder = try checkpoint.loadTextEncoder(keepHalfPrecision: keep)
                let e1 = relativeError(encoder(rows), last), e2 = relativeError(encoder(rows, skippedLayers: 1), penultimate)
                #expect(e1 <= parityTolerance, "\(model) \(form) keep16=\(keep): last layer off by \(e1)")
                #expect(e2 <= parityTolerance, "\(model) \(form) keep16=\(keep): clip skip off by \(e2)")
            }
        }
    }

    @Test("UNet: one text-conditioned call", arguments: ["tiny-sd1", "tiny-sd2", "tiny-sd1-inpaint"])
    func unet(model: String) throws {
        let reference = try TinySD.reference(model)
        let sample = try reference.tensor(named: "unet.sample"), states = try reference.tensor(named: "unet.encoder_hidden_states")
        let timesteps = try reference.tensor(named: "unet.timesteps").scalars
        let expected = try reference.tensor(named: "unet.output").scalars.map(Double.init)
        let unets: [(String, UNet2DConditionModel)] = model == "tiny-sd1-inpaint"
            ? [("folder", try StableDiffusionCheckpoint.loadUNet(folder: TinySD.url("tiny-sd1-inpaint/unet"))),
               ("single file", try StableDiffusionCheckpoint(contentsOf: TinySD.url("tiny-sd1-inpaint.safetensors"),
                                                             configurationFolder: TinySD.url("tiny-sd1")).loadUNet())]
            : try TinySD.checkpoints(model).map { ($0.0, try $0.1.loadUNet()) }
        for (form, unet) in unets {
            #expect(unet.configuration.inChannels == sample.shape[1])
            let output = withoutGradients { unet(Variable(sample), timesteps: timesteps, context: Variable(states)).value }
            let error = relativeError(output, expected)
            #expect(error <= parityTolerance, "\(model) \(form): UNet output off by \(error)")
        }
    }

    /// Latent sizes that are not multiples of the UNet's factor (10x6 and 7x13 for a UNet that
    /// halves twice): the down path rounds up, the upsamplers come back to each skip's size, as
    /// in diffusers (tools/make_sd_odd_size_fixture.py).
    @Test("UNet: latent sizes that are not multiples of its factor", arguments: ["tiny-sd1", "tiny-sd2"])
    func unetOddSizes(model: String) throws {
        let reference = try SafetensorsFile(contentsOf: TinySD.url("odd-size-reference.safetensors"))
        let unet = try StableDiffusionCheckpoint(contentsOf: TinySD.url(model)).loadUNet()
        for k in 0..<2 {
            let sample = try reference.tensor(named: "\(model).\(k).sample")
            let states = try reference.tensor(named: "\(model).\(k).encoder_hidden_states")
            let timesteps = try reference.tensor(named: "\(model).\(k).timesteps").scalars
            let expected = try reference.tensor(named: "\(model).\(k).output").scalars.map(Double.init)
            let output = withoutGradients { unet(Variable(sample), timesteps: timesteps, context: Variable(states)).value }
            #expect(output.shape == sample.shape)
            let error = relativeError(output, expected)
            #expect(error <= parityTolerance, "\(model) \(sample.shape): UNet output off by \(error)")
        }
    }

    @Test("VAE: encode (mean, log-variance) and decode", arguments: ["tiny-sd1", "tiny-sd2"])
    func vae(model: String) throws {
        let reference = try TinySD.reference(model)
        let image = try reference.tensor(named: "vae.image"), latent = try reference.tensor(named: "vae.latent")
        for (form, checkpoint) in try TinySD.checkpoints(model) {
            let vae = try checkpoint.loadVAE()
            #expect(vae.configuration.scalingFactor == 0.18215)
            let posterior = vae.encode(image)
            let eMean = relativeError(posterior.mean, try reference.tensor(named: "vae.mean").scalars.map(Double.init))
            let eLog = relativeError(posterior.logVariance, try reference.tensor(named: "vae.logvar").scalars.map(Double.init))
            let eDecode = relativeError(vae.decode(latent), try reference.tensor(named: "vae.decoded").scalars.map(Double.init))
            #expect(eMean <= parityTolerance, "\(model) \(form): mean off by \(eMean)")
            #expect(eLog <= parityTolerance, "\(model) \(form): log-variance off by \(eLog)")
            #expect(eDecode <= parityTolerance, "\(model) \(form): decode off by \(eDecode)")
        }
    }
}
