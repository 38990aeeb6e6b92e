// Contract: Karras et al. 2022 ("Elucidating the Design Space of Diffusion-Based Generative
// Models", EDM), Table 1 and Appendix B.6: a network F is wrapped as a denoiser
//   D(x, sigma) = c_skip(sigma) x + c_out(sigma) F(c_in(sigma) x, c_noise(sigma))       (eq. 7)
// with
//   c_skip = sigma_d² / (sigma² + sigma_d²)      c_out = sigma sigma_d / sqrt(sigma² + sigma_d²)
//   c_in   = 1 / sqrt(sigma² + sigma_d²)         c_noise = ln(sigma) / 4
// so that F's input and its training target have unit variance at every sigma (sigma_d is the
// data's standard deviation). Training draws ln(sigma) ~ N(P_mean, P_std²) (P_mean = −1.2,
// P_std = 1.2) and weights the loss by lambda(sigma) = (sigma² + sigma_d²) / (sigma sigma_d)²
// (eq. 8), which is exactly 1 / c_out²: the weighted loss lambda |D − x0|² equals the plain
// squared error of F against its effective target (x0 − c_skip x) / c_out (eq. 8 rewritten, §5
// "Loss weighting"). All formulas are in Double.

import Foundation

/// EDM's preconditioning coefficients for a data standard deviation `sigmaData`.
public struct EDMPreconditioning: Sendable, Equatable, Codable {
    /// The standard deviation of the data, sigma_d (EDM uses 0.5 for images in [−1, 1]).
    public var sigmaData: Double

    /// Creates the coefficients for data of standard deviation `sigmaData` (> 0).
    public init(sigmaData: Double = 0.5) {
        precondition(sigmaData > 0 && sigmaData.isFinite, "EDMPreconditioning: sigmaData must be > 0, got \(sigmaData)")
        self.sigmaData = sigmaData
    }

    /// c_skip = sigma_d² / (sigma² + sigma_d²): how much of the noisy input passes through.
    public func cSkip(_ sigma: Double) -> Double { sigmaData * sigmaData / (sigma * sigma + sigmaData * sigmaData) }
    /// c_out = sigma sigma_d / sqrt(sigma² + sigma_d²): the scale of the network's correction.
    public func cOut(_ sigma: Double) -> Double { sigma * sigmaData / (sigma * sigma + sigmaData * sigmaData).squareRoot() }
    /// c_in = 1 / sqrt(sigma² + sigma_d²): scales the noisy input to unit variance.
    public func cIn(_ sigma: Double) -> Double { 1 / (sigma * sigma + sigmaData * sigmaData).squareRoot() }
    /// c_noise = ln(sigma) / 4: the noise level as the network sees it.
    public func cNoise(_ sigma: Double) -> Double { Foundation.log(sigma) / 4 }
    /// lambda(sigma) = (sigma² + sigma_d²) / (sigma sigma_d)², EDM's loss weight (= 1 / c_out²).
    public func lossWeight(_ sigma: Double) -> Double {
        (sigma * sigma + sigmaData * sigmaData) / (sigma * sigmaData * sigma * sigmaData)
    }
    /// The effective training target of F for a clean `x0` and its noisy `x` at `sigma`:
    /// (x0 − c_skip x) / c_out.
    public func target(x0: Double, x: Double, sigma: Double) -> Double { (x0 - cSkip(sigma) * x) / cOut(sigma) }
}

/// EDM's training noise distribution: ln(sigma) ~ N(pMean, pStd²) (Karras et al. 2022, Table 1).
public struct EDMNoiseDistribution: Sendable, Equatable, Codable {
    /// The mean of ln(sigma), P_mean (EDM: −1.2).
    public var pMean: Double
    /// The standard deviation of ln(sigma), P_std (EDM: 1.2).
    public var pStd: Double

    /// Creates the distribution (EDM's values by default).
    public init(pMean: Double = -1.2, pStd: Double = 1.2) {
        self.pMean = pMean
        self.pStd = pStd
    }

    /// exp(pMean + pStd · z) for a standard normal `z`.
    public func sigma(normal z: Double) -> Double { Foundation.exp(pMean + pStd * z) }
}
