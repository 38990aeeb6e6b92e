// The real Stable Diffusion 1.5 architecture at full size (860 M-parameter UNet, 84 M VAE,
// 123 M text encoder, configurations from ../shared/sd15) with seeded random F16 weights, against
// diffusers/transformers in float32 on the same weights: text-encoder states of two prompts, one
// UNet call at batch 2 on a 64x64 latent, one VAE decode of a 64x64 latent to 512x512. The folder
// (1.9 GB) is built by `tools/make_sd_fixtures.py --full-size DIR`, not by CI: this test runs only
// when `SWIFTDIFFUSION_SD15_RANDOM=DIR` is set.
//
// Tolerance: `relativeError` ≤ 1e-4 (infinity norm relative to the reference's), as for the tiny
// models. Both sides compute in Float32 from the same 16-bit weights and differ in summation
// order only; measured here: text 1.7e-6, UNet 2.1e-6, VAE decode 4.8e-6 — any wrong layer or
// convention moves outputs by 1e-2 or more.

import Autograd
import Diffusion
import Foundation
import Tensor
import Testing

/// The full-size folder, when configured.
private let fullSizeFolder = ProcessInfo.processInfo.environment["SWIFTDIFFUSION_SD15_RANDOM"].map { URL(fileURLWithPath: $0) }

@Suite("Stable Diffusion 1.5 at full size (random weights)", .enabled(if: fullSizeFolder != nil, "set SWIFTDIFFUSION_SD15_RANDOM=DIR"))
struct StableDiffusionFullSizeTests {
    let tolerance = 1e-4

    @Test("text encoder, UNet call and VAE decode match diffusers")
    func fullSize() throws {
        let folder = try #require(fullSizeFolder)
        let reference = try SafetensorsFile(contentsOf: folder.appendingPathComponent("reference.safetensors"))
        let checkpoint = try StableDiffusionCheckpoint(contentsOf: folder, variant: "fp16")

        let ids = try reference.integers(named: "prompt_ids")
        let rows = stride(from: 0, to: ids.count, by: 77).map { Array(ids[$0..<($0 + 77)]) }
        let text = try checkpoint.loadTextEncoder()
        #expect(text.parameterCount == 123_060_480)
        let textError = relativeError(text(rows), try reference.tensor(named: "text.last_hidden_state").scalars.map(Double.init))
        print("full-size text encoder: relative error \(textError)")
        #expect(textError <= tolerance)

        let unet = try checkpoint.loadUNet()
        #expect(unet.parameterCount == 859_520_964)
        let sample = try reference.tensor(named: "unet.sample"), states = try reference.tensor(named: "unet.encoder_hidden_states")
        let timesteps = try reference.tensor(named: "unet.timesteps").scalars
        let output = withoutGradients { unet(Variable(sample), timesteps: timesteps, context: Variable(states)).value }
        let unetError = relativeError(output, try reference.tensor(named: "unet.output").scalars.map(Double.init))
        print("full-size UNet: relative error \(unetError)")
        #expect(unetError <= tolerance)

        let vae = try checkpoint.loadVAE()
        #expect(vae.parameterCount == 83_653_863)
        let decoded = vae.decode(try reference.tensor(named: "vae.latent"))
        let vaeError = relativeError(decoded, try reference.tensor(named: "vae.decoded").scalars.map(Double.init))
        print("full-size VAE decode: relative error \(vaeError)")
        #expect(vaeError <= tolerance)
    }
}
