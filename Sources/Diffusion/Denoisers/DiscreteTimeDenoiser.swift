// Contract: turns a network trained on discrete timesteps (DDPM-style, predicting eps or v
// from the variance-preserving input x_vp = x / sqrt(1 + sigma^2)) into a denoiser
// D(x, sigma) on the variance-exploding state x, as k-diffusion's `DiscreteEpsDDPMDenoiser`
// and `DiscreteVDDPMDenoiser` do (Karras et al. 2022, Table 1, "VP" column, sigma_data = 1):
//   c_in = 1 / sqrt(sigma^2 + 1)
//   eps:  D = x - sigma * eps(c_in * x, t(sigma))
//   v:    D = x / (sigma^2 + 1) - sigma / sqrt(sigma^2 + 1) * v(c_in * x, t(sigma))
// where t(sigma) interpolates linearly in log sigma between neighbouring training sigmas
// (or rounds to the nearest one with `quantize`), unless `modelTimesteps` names the timestep of
// that exact sigma (a diffusers scheduler's own table: it may read sigma linearly in t).

import Tensor

/// A denoiser built from a discrete-time eps- or v-predicting network.
public struct DiscreteTimeDenoiser: Denoiser {
    /// What the network predicts.
    public enum Prediction: String, Sendable {
        /// The added noise eps (DDPM, SD 1.x).
        case epsilon
        /// v = alpha * eps - sigma_vp * x0 (Salimans & Ho 2022, "Progressive Distillation", sec. 4; SD 2.x 768).
        case vPrediction = "v_prediction"
    }

    /// The network: `(x_vp, t) -> eps or v`, with x_vp the scaled input and t a fractional timestep.
    public let model: (Tensor, Double) throws -> Tensor
    /// The model's training noise schedule.
    public let schedule: DiscreteNoiseSchedule
    /// What the network predicts.
    public let prediction: Prediction
    /// Round t(sigma) to the nearest training timestep (k-diffusion `quantize=True`).
    public let quantize: Bool
    /// The timestep the network is given at these exact sigmas (a diffusers scheduler's
    /// `timesteps` beside its `sigmas`); other sigmas use `schedule.timestep(forSigma:)`.
    public var modelTimesteps: [Double: Double] = [:]

    /// Wraps `model` trained with `schedule`.
    public init(schedule: DiscreteNoiseSchedule, prediction: Prediction = .epsilon, quantize: Bool = false,
                modelTimesteps: [Double: Double] = [:], model: @escaping (Tensor, Double) throws -> Tensor) {
        self.schedule = schedule
        self.prediction = prediction
        self.quantize = quantize
        self.modelTimesteps = modelTimesteps
        self.model = model
    }

    /// `c_in = 1 / sqrt(sigma^2 + 1)`: VE state to the network's VP input.
    public static func inputScale(sigma: Double) -> Double { 1 / (sigma * sigma + 1).squareRoot() }

    /// D(x, sigma) as in the file header.
    public func denoise(_ x: Tensor, sigma: Double) throws -> Tensor {
        let cIn = Self.inputScale(sigma: sigma)
        let t = modelTimesteps[sigma] ?? schedule.timestep(forSigma: sigma, quantize: quantize)
        let out = try model(x * Float(cIn), t)
        precondition(out.shape == x.shape, "model output \(out.shape) does not match input \(x.shape)")
        switch prediction {
        case .epsilon:
            let s = Float(sigma)
            return Tensor.zip(x, out) { x, eps in x - s * eps }
        case .vPrediction:
            let cSkip = Float(1 / (sigma * sigma + 1)), cOut = Float(-sigma * cIn)
            return Tensor.zip(x, out) { x, v in cSkip * x + cOut * v }
        }
    }
}
