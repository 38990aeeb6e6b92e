// TAESD against PyTorch: parameter names and shapes against the weight files' keys (fixture
// taesd_keys.json, no ../shared needed), encoder and decoder outputs against diffusers'
// AutoencoderTiny on a real photograph (fixture taesd_chelsea.safetensors, with the real weights
// from ../shared), the round-trip PSNR of a 384x256 photo, strict loading errors and input checks.
// Fixtures come from tools/make_taesd_fixtures.py.
//
// Tolerance for the outputs: absolute, max_i |swift_i − torch_i| ≤ 1e-3. Both sides compute in
// Float32 from the same BF16 weights widened exactly; they differ only in summation order
// (implicit-GEMM convolution here, oneDNN there) through 15 (encoder) or 19 (decoder) layers of
// 576-term dot products. The outputs are O(1) (latents in about [−3, 3], pixels in [0, 1]), so an
// absolute bound is the meaningful one: a relative bound would be undefined near the many
// values close to 0 (ReLU outputs, dark pixels), and 1e-3 is below a 1/255 pixel step while any
// wrong layer, index or convention moves outputs by 1e-2 or more.
//
// Tests that need ../shared (weights and photograph) are skipped with a message when it is
// missing; $SWIFTDIFFUSION_SHARED points elsewhere (as in TensorTests).

import Autograd
import Diffusion
import Foundation
import Tensor
import Testing

/// Where the TAESD tests find their inputs.
enum TAESDTestData {
    /// `Tests/DiffusionTests/Fixtures/<name>`.
    static func fixture(_ name: String) -> URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures").appendingPathComponent(name)
    }

    /// `$SWIFTDIFFUSION_SHARED` when set, else `../shared` next to the package; nil if missing.
    static var sharedFolder: URL? {
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        var candidates = [packageRoot.deletingLastPathComponent().appendingPathComponent("shared")]
        if let env = ProcessInfo.processInfo.environment["SWIFTDIFFUSION_SHARED"] {
            candidates.insert(URL(fileURLWithPath: env), at: 0)
        }
        return candidates.first { FileManager.default.fileExists(atPath: $0.appendingPathComponent("weights/taesd-sd1").path) }
    }

    /// True when the real weights and photographs are available.
    static var hasShared: Bool { sharedFolder != nil }

    /// The message shown for a skipped test.
    static let skipMessage: Comment = "needs ../shared/weights/taesd-sd1 and ../shared/images (or $SWIFTDIFFUSION_SHARED); CI has them"

    /// The real TAESD for SD 1.x.
    static func loadRealTAESD() throws -> TAESD {
        try TAESD.load(directory: sharedFolder!.appendingPathComponent("weights/taesd-sd1"))
    }

    /// chelsea.png cropped without resampling to [1, 3, height, width] in [0, 1].
    static func chelseaCrop(x: Int, y: Int, width: Int, height: Int) throws -> Tensor {
        let image = try PNG.read(sharedFolder!.appendingPathComponent("images/chelsea.png"))   // [3, 300, 451]
        return image.sliced(axis: 1, y..<(y + height)).sliced(axis: 2, x..<(x + width)).contiguous().unsqueezed(axis: 0)
    }

    /// A temporary folder for one test.
    static func temporaryFolder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("taesd-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// The keys file written by the fixture script.
private struct TAESDKeys: Decodable {
    struct Entry: Decodable { let name: String; let shape: [Int] }
    let encoder: [Entry]
    let decoder: [Entry]
    let encoder_parameters: Int
    let decoder_parameters: Int
    let diffusers: [Entry]
}

/// max_i |a_i − b_i|.
private func maxAbsoluteDifference(_ a: Tensor, _ b: Tensor) -> Float {
    precondition(a.shape == b.shape, "shapes \(a.shape) vs \(b.shape)")
    return zip(a.scalars, b.scalars).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

/// The TAESD absolute output tolerance (see the file header).
private let taesdTolerance: Float = 1e-3

@Suite("TAESD")
struct TAESDTests {
    @Test("parameter names, order and shapes equal the weight files' keys")
    func parameterNames() throws {
        let keys = try JSONDecoder().decode(TAESDKeys.self, from: Data(contentsOf: TAESDTestData.fixture("taesd_keys.json")))
        var generator = TorchGenerator(seed: 0)
        let model = TAESD(generator: &generator)
        let encoder = model.encoder.namedParameters().map { TAESDKeys.Entry(name: $0.name, shape: $0.variable.shape) }
        let decoder = model.decoder.namedParameters().map { TAESDKeys.Entry(name: $0.name, shape: $0.variable.shape) }
        #expect(encoder.map(\.name) == keys.encoder.map(\.name))
        #expect(encoder.map(\.shape) == keys.encoder.map(\.shape))
        #expect(decoder.map(\.name) == keys.decoder.map(\.name))
        #expect(decoder.map(\.shape) == keys.decoder.map(\.shape))
        #expect(model.encoder.parameterCount == keys.encoder_parameters)
        #expect(model.decoder.parameterCount == keys.decoder_parameters)
        let names = model.namedParameters().map(\.name)
        #expect(names.first == "encoder.0.weight" && names.last == "decoder.19.bias")
    }

    @Test("diffusers' AutoencoderTiny names follow from the renaming rules, and back")
    func diffusersNames() throws {
        let keys = try JSONDecoder().decode(TAESDKeys.self, from: Data(contentsOf: TAESDTestData.fixture("taesd_keys.json")))
        var generator = TorchGenerator(seed: 0)
        let named = TAESD(generator: &generator).namedParameters()
        #expect(named.map { TAESD.diffusersName(forParameter: $0.name) } == keys.diffusers.map(\.name))
        #expect(named.map(\.variable.shape) == keys.diffusers.map(\.shape))
        #expect(keys.diffusers.map { TAESD.parameterName(forDiffusersKey: $0.name) } == named.map(\.name))
    }

    @Test("a folder with diffusers' AutoencoderTiny file loads; a misfit names the file's keys",
          arguments: [false, true])
    func diffusersFile(_ dropKey: Bool) throws {
        let folder = try TAESDTestData.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var generator = TorchGenerator(seed: 6)
        let source = TAESD(generator: &generator)
        var tensors: [String: Tensor] = [:]
        for (name, p) in source.namedParameters() { tensors[TAESD.diffusersName(forParameter: name)] = p.value }
        if dropKey { tensors["decoder.layers.12.conv.2.bias"] = nil }
        try Safetensors.write(tensors, to: folder.appendingPathComponent(TAESD.diffusersFileName))
        if dropKey {
            let error = #expect(throws: TAESDError.self) { _ = try TAESD.load(directory: folder) }
            let text = error.map(String.init(describing:)) ?? ""
            #expect(text.contains("missing keys: decoder.layers.12.conv.2.bias"), "\(text)")
            #expect(text.contains(TAESD.diffusersFileName))
        } else {
            let loaded = try TAESD.load(directory: folder)
            let expected = source.stateDictionary()
            for (name, value) in loaded.stateDictionary() {
                #expect(value.scalars == expected[name]?.scalars, "\(name)")
            }
        }
    }

    @Test("the real weight files load strictly and their names are all used", .enabled(if: TAESDTestData.hasShared, TAESDTestData.skipMessage))
    func realWeightsLoad() throws {
        let folder = TAESDTestData.sharedFolder!.appendingPathComponent("weights/taesd-sd1")
        let model = try TAESDTestData.loadRealTAESD()
        let encoderFile = try SafetensorsFile(contentsOf: folder.appendingPathComponent(TAESD.encoderFileName))
        let decoderFile = try SafetensorsFile(contentsOf: folder.appendingPathComponent(TAESD.decoderFileName))
        #expect(Set(model.encoder.stateDictionary().keys) == Set(encoderFile.names))
        #expect(Set(model.decoder.stateDictionary().keys) == Set(decoderFile.names))
        // BF16 widens exactly: the loaded value is the file's value.
        #expect(model.decoder.stateDictionary()["19.bias"]!.scalars == (try decoderFile.tensor(named: "19.bias")).scalars)
    }

    @Test("encoder matches diffusers' AutoencoderTiny on a crop of chelsea.png", .enabled(if: TAESDTestData.hasShared, TAESDTestData.skipMessage))
    func encoderMatchesReference() throws {
        let fixture = try SafetensorsFile(contentsOf: TAESDTestData.fixture("taesd_chelsea.safetensors"))
        let meta = fixture.metadata.mapValues { Int($0) ?? -1 }
        let crop = try TAESDTestData.chelseaCrop(x: meta["crop_x"]!, y: meta["crop_y"]!,
                                                 width: meta["crop_width"]!, height: meta["crop_height"]!)
        // The same bytes as the script's crop: the sum of the 8-bit values matches exactly.
        let pixelSum = crop.scalars.reduce(0) { $0 + Int(($1 * 255).rounded()) }
        #expect(pixelSum == meta["crop_pixel_sum"]!)

        let model = try TAESDTestData.loadRealTAESD()
        let latents = try model.encode(crop)
        let expected = try fixture.tensor(named: "latents")
        #expect(latents.shape == [1, 4, 12, 16])
        let error = maxAbsoluteDifference(latents, expected)
        #expect(error <= taesdTolerance, "max |Δ| = \(error)")
    }

    @Test("decoder matches diffusers' AutoencoderTiny on the reference latents", .enabled(if: TAESDTestData.hasShared, TAESDTestData.skipMessage))
    func decoderMatchesReference() throws {
        let fixture = try SafetensorsFile(contentsOf: TAESDTestData.fixture("taesd_chelsea.safetensors"))
        let latents = try fixture.tensor(named: "latents")
        let expected = try fixture.tensor(named: "decoded")   // raw decoder output, unclamped
        let model = try TAESDTestData.loadRealTAESD()
        let raw = withoutGradients { model.decoder(Variable(latents)).value }
        #expect(raw.shape == [1, 3, 96, 128])
        let error = maxAbsoluteDifference(raw, expected)
        #expect(error <= taesdTolerance, "max |Δ| = \(error)")
        // `decode` is the raw output clamped to [0, 1].
        let decoded = try model.decode(latents)
        #expect(decoded.scalars == raw.clamped(min: 0, max: 1).scalars)
        #expect(expected.scalars.contains { $0 < 0 })   // the reference really overshoots: clamping matters
    }

    /// PSNR = 10·log10(1 / MSE) for images in [0, 1]. The bound: the reference run's PSNR ± 0.2 dB,
    /// the largest change the output tolerance allows: with |Δpixel| ≤ δ = 1e-3 and reference
    /// RMS error r = 10^(−PSNR/20) ≈ 0.047, MSE moves by at most 2δr + δ² ≈ 9.5e-5, i.e. 4.3 %
    /// of the MSE, 0.18 dB.
    @Test("round trip of a 384x256 photo has the reference PSNR", .enabled(if: TAESDTestData.hasShared, TAESDTestData.skipMessage))
    func roundTripPSNR() throws {
        let fixture = try SafetensorsFile(contentsOf: TAESDTestData.fixture("taesd_chelsea.safetensors"))
        let meta = fixture.metadata
        let reference = try #require(Double(meta["round_trip_psnr_db"] ?? ""))
        let crop = try TAESDTestData.chelseaCrop(x: Int(meta["psnr_crop_x"]!)!, y: Int(meta["psnr_crop_y"]!)!,
                                                 width: Int(meta["psnr_crop_width"]!)!, height: Int(meta["psnr_crop_height"]!)!)
        #expect(crop.shape == [1, 3, 256, 384])
        let model = try TAESDTestData.loadRealTAESD()
        let decoded = try model.decode(try model.encode(crop))
        let mse = zip(decoded.scalars, crop.scalars).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) } / Double(crop.count)
        let psnr = 10 * log10(1 / mse)
        #expect(abs(psnr - reference) <= 0.2, "PSNR \(psnr) dB, reference \(reference) dB")
    }

    @Test("a missing weight file is an error naming the path and where to get TAESD")
    func missingFile() throws {
        let folder = try TAESDTestData.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let error = #expect(throws: TAESDError.self) { _ = try TAESD.load(directory: folder) }
        let text = error.map(String.init(describing:)) ?? ""
        #expect(text.contains(folder.appendingPathComponent(TAESD.encoderFileName).path))
        #expect(text.contains("huggingface.co/madebyollin/taesd"))
    }

    /// Ways a weight file can fail to fit the model.
    enum Corruption: String, CaseIterable, CustomTestStringConvertible {
        case missingKey, unexpectedKey, wrongShape, swappedFiles
        var testDescription: String { rawValue }
    }

    @Test("weights that do not fit are one error listing the problem", arguments: Corruption.allCases)
    func weightsDoNotFit(_ corruption: Corruption) throws {
        let folder = try TAESDTestData.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var generator = TorchGenerator(seed: 1)
        let source = TAESD(generator: &generator)
        var encoder = source.encoder.stateDictionary()
        var decoder = source.decoder.stateDictionary()
        let expectedText: String
        switch corruption {
        case .missingKey:
            decoder["13.conv.2.bias"] = nil
            expectedText = "missing keys: 13.conv.2.bias"
        case .unexpectedKey:
            decoder["13.skip.weight"] = Tensor.zeros([64, 64, 1, 1])
            expectedText = "unexpected keys: 13.skip.weight"
        case .wrongShape:
            decoder["1.weight"] = Tensor.zeros([64, 16, 3, 3])   // a 16-channel TAESD (SD3/FLUX)
            expectedText = "1.weight: model expects shape [64, 4, 3, 3], file has [64, 16, 3, 3]"
        case .swappedFiles:
            swap(&encoder, &decoder)
            expectedText = "unexpected keys"
        }
        try Safetensors.write(encoder, dtype: .bf16, to: folder.appendingPathComponent(TAESD.encoderFileName))
        try Safetensors.write(decoder, dtype: .bf16, to: folder.appendingPathComponent(TAESD.decoderFileName))
        let error = #expect(throws: TAESDError.self) { _ = try TAESD.load(directory: folder) }
        let text = error.map(String.init(describing:)) ?? ""
        #expect(text.contains(expectedText), "\(text)")
        #expect(text.contains(folder.path))
    }

    @Test("weights written by the model load back exactly (BF16 file)")
    func saveAndLoad() throws {
        let folder = try TAESDTestData.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var generator = TorchGenerator(seed: 2)
        let source = TAESD(generator: &generator)
        // Round the source to BF16 first, so the file holds exactly its values.
        for (_, p) in source.namedParameters() {
            p.value = p.value.map { HalfPrecision.float(bfloat16Bits: HalfPrecision.bfloat16Bits($0)) }
        }
        try Safetensors.write(source.encoder.stateDictionary(), dtype: .bf16, to: folder.appendingPathComponent(TAESD.encoderFileName))
        try Safetensors.write(source.decoder.stateDictionary(), dtype: .bf16, to: folder.appendingPathComponent(TAESD.decoderFileName))
        let loaded = try TAESD.load(directory: folder)
        let expected = source.stateDictionary()
        for (name, value) in loaded.stateDictionary() {
            #expect(value.scalars == expected[name]?.scalars, "\(name)")
        }
    }

    @Test("encode and decode reject impossible shapes", arguments: [
        [1, 3, 12, 16], [1, 3, 16, 20], [3, 16, 16], [1, 4, 16, 16], [0, 3, 8, 8],
    ])
    func invalidImages(_ shape: [Int]) throws {
        var generator = TorchGenerator(seed: 3)
        let model = TAESD(generator: &generator)
        #expect(throws: TAESDError.self) { _ = try model.encode(Tensor.zeros(shape)) }
    }

    @Test("decode rejects latents with the wrong channel count or rank", arguments: [[1, 3, 2, 2], [4, 2, 2], [1, 4, 0, 2]])
    func invalidLatents(_ shape: [Int]) throws {
        var generator = TorchGenerator(seed: 3)
        let model = TAESD(generator: &generator)
        #expect(throws: TAESDError.self) { _ = try model.decode(Tensor.zeros(shape)) }
    }

    @Test("encode and decode keep the 8x size relation, for odd latent sizes too")
    func shapes() throws {
        var generator = TorchGenerator(seed: 4)
        let model = TAESD(generator: &generator)
        let images = generator.rand([2, 3, 24, 40])
        let latents = try model.encode(images)
        #expect(latents.shape == [2, 4, 3, 5])
        let decoded = try model.decode(latents)
        #expect(decoded.shape == [2, 3, 24, 40])
        #expect(decoded.scalars.allSatisfy { $0 >= 0 && $0 <= 1 })
    }

    @Test("the layers are trainable: a loss through encoder and decoder reaches every parameter")
    func gradientsReachEveryParameter() throws {
        var generator = TorchGenerator(seed: 5)
        let model = TAESD(generator: &generator)
        let images = Variable(generator.rand([1, 3, 16, 16]))
        let loss = model.decoder(model.encoder(images)).square().mean()
        loss.backward()
        for (name, p) in model.namedParameters() {
            let grad = p.grad
            #expect(grad?.shape == p.shape, "\(name)")
            #expect(grad?.scalars.contains { $0 != 0 } == true, "\(name) has a zero gradient")
        }
    }
}
