// Fixture loading and the one tolerance rule of the Diffusion tests.
//
// Tolerance: `relativeError(a, b) = max_i |a_i - b_i| / max(max_i |b_i|, 1e-12)`, the
// infinity-norm error relative to the reference's infinity norm. Parity with k-diffusion and
// diffusers (computed in float64) asks for <= 1e-4 at every step: our states are Float32
// (unit roundoff 6e-8), our coefficients Double, so the expected gap is ~1e-6 and 1e-4 leaves
// room for the growth of rounding over ~10 steps without hiding a wrong formula (a wrong
// coefficient moves results by 1e-2 or more here).

import Diffusion
import Foundation
import Tensor

enum Fixtures {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func load<T: Decodable>(_ name: String, as type: T.Type) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(contentsOf: folder.appendingPathComponent(name)))
    }
}

/// Infinity-norm relative error of `a` against the reference `b`.
func relativeError(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count, "sizes \(a.count) vs \(b.count)")
    var num = 0.0, den = 0.0
    for i in 0..<a.count { num = max(num, abs(a[i] - b[i])); den = max(den, abs(b[i])) }
    return num / max(den, 1e-12)
}

func relativeError(_ a: Tensor, _ b: [Double]) -> Double { relativeError(a.scalars.map(Double.init), b) }

/// The parity tolerance (see the file header).
let parityTolerance = 1e-4

struct MixtureJSON: Codable {
    let weights: [Double]
    let means: [[Double]]
    let stds: [Double]
    func mixture() throws -> GaussianMixture { try GaussianMixture(weights: weights, means: means, stds: stds) }
}

struct NoiseRecord: Codable {
    let sigma: Double
    let sigma_next: Double
    let noise: [Double]
}

struct StepRecord: Codable {
    let i: Int
    let sigma: Double?
    let sigma_hat: Double?
    let x: [Double]
    let denoised: [Double]
}

/// Loosely typed options (numbers or strings).
enum OptionValue: Codable {
    case number(Double)
    case text(String)
    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let d = try? c.decode(Double.self) { self = .number(d) } else { self = .text(try c.decode(String.self)) }
    }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self { case .number(let d): try c.encode(d); case .text(let s): try c.encode(s) }
    }
    var number: Double? { if case .number(let d) = self { return d } else { return nil } }
    var text: String? { if case .text(let s) = self { return s } else { return nil } }
}

struct SamplerCase: Codable {
    let name: String
    let options: [String: OptionValue]
    let sigmas: [Double]
    let x_init: [Double]
    let shape: [Int]
    let noise: [NoiseRecord]
    let steps: [StepRecord]
    let final: [Double]
    let nfe: Int
    let timesteps: [Int]?

    func option(_ key: String, default value: Double) -> Double { options[key]?.number ?? value }

    /// The Swift sampler configured as the fixture's k-diffusion/diffusers call.
    func makeSampler() throws -> any Sampler {
        switch name {
        case "euler":
            return EulerSampler(sChurn: option("s_churn", default: 0), sTmin: option("s_tmin", default: 0),
                                sTmax: option("s_tmax", default: .infinity), sNoise: option("s_noise", default: 1))
        case "heun":
            return HeunSampler(sChurn: option("s_churn", default: 0), sTmin: option("s_tmin", default: 0),
                               sTmax: option("s_tmax", default: .infinity), sNoise: option("s_noise", default: 1))
        case "dpm_2":
            return DPM2Sampler(sChurn: option("s_churn", default: 0), sTmin: option("s_tmin", default: 0),
                               sTmax: option("s_tmax", default: .infinity), sNoise: option("s_noise", default: 1))
        case "euler_ancestral":
            return EulerAncestralSampler(eta: option("eta", default: 1), sNoise: option("s_noise", default: 1))
        case "dpm_2_ancestral":
            return DPM2AncestralSampler(eta: option("eta", default: 1), sNoise: option("s_noise", default: 1))
        case "lms": return LMSSampler(order: Int(option("order", default: 4)))
        case "dpmpp_2s_ancestral":
            return DPMPP2SAncestralSampler(eta: option("eta", default: 1), sNoise: option("s_noise", default: 1))
        case "dpmpp_2m": return DPMPP2MSampler()
        case "dpmpp_sde": return DPMPPSDESampler(eta: option("eta", default: 1), sNoise: option("s_noise", default: 1))
        case "dpmpp_2m_sde":
            let type = DPMPP2MSDESampler.SolverType(rawValue: options["solver_type"]?.text ?? "midpoint")!
            return DPMPP2MSDESampler(eta: option("eta", default: 1), sNoise: option("s_noise", default: 1), solverType: type)
        case "dpmpp_3m_sde": return DPMPP3MSDESampler(eta: option("eta", default: 1), sNoise: option("s_noise", default: 1))
        case "ddim": return DDIMSampler(eta: option("eta", default: 0))
        case "ddpm": return DDPMSampler()
        case "plms": return PLMSSampler()
        default: return try SamplerRegistry.resolve(name).sampler
        }
    }

    var label: String {
        name + (options.isEmpty ? "" : " " + options.keys.sorted().map { "\($0)=\(options[$0]!.number.map { "\($0)" } ?? options[$0]!.text!)" }.joined(separator: ","))
    }

    func recordedNoise() -> RecordedNoise {
        RecordedNoise(noise.map { Tensor(shape: shape, scalars: $0.noise.map(Float.init)) },
                      queries: noise.map { (sigma: $0.sigma, sigmaNext: $0.sigma_next) })
    }
}

struct SamplerFixture: Codable {
    let mixture: MixtureJSON
    let cases: [SamplerCase]
}
