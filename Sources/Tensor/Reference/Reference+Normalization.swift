// The reference layer and group normalization: mean and variance of each group, then
// (x − mean) / sqrt(variance + eps) · weight + bias.
//
// Contract: the semantics of `Tensor.layerNorm` and `Tensor.groupNorm`
// (Ops/Tensor+Normalization.swift): layer norm (Ba, Kiros & Hinton 2016) normalizes over the
// last axis with per-feature weight and bias; group norm (Wu & He 2018) normalizes x [N, C, *]
// over each of `groups` blocks of C/groups channels and all positions, with per-channel weight
// and bias. The variance is the biased one (divided by the count, as PyTorch); both passes run in
// Double. The fast versions compute the same two passes with SIMD and threads, folding the
// affine transform into one multiply-add per element.

extension Reference {
    /// Layer normalization over the last axis, with optional per-feature `weight` and `bias`
    /// (same semantics as `Tensor.layerNorm`).
    public static func layerNorm(_ input: Tensor, weight: Tensor?, bias: Tensor?, epsilon: Float = 1e-5) -> Tensor {
        precondition(input.rank >= 1, "layerNorm: needs at least one axis, got a rank-0 tensor")
        let d = input.shape[input.rank - 1]
        if let weight { precondition(weight.count == d, "layerNorm: weight \(weight.shape) does not match last axis \(d) of \(input.shape)") }
        if let bias { precondition(bias.count == d, "layerNorm: bias \(bias.shape) does not match last axis \(d) of \(input.shape)") }
        let x = input.contiguous().scalars
        let w = weight?.contiguous().scalars, b = bias?.contiguous().scalars
        var y = [Float](repeating: 0, count: x.count)
        let rows = d == 0 ? 0 : x.count / d
        for r in 0..<rows {
            let (mean, variance) = meanAndVariance(x[(r * d)..<((r + 1) * d)])
            let scale = 1 / (variance + Double(epsilon)).squareRoot()
            for f in 0..<d {
                let normalized = (Double(x[r * d + f]) - mean) * scale
                y[r * d + f] = Float(normalized * Double(w?[f] ?? 1) + Double(b?[f] ?? 0))
            }
        }
        return Tensor(shape: input.shape, scalars: y)
    }

    /// Group normalization of `[N, C, *]` with `groups` dividing C, and optional per-channel
    /// `weight` and `bias` (same semantics as `Tensor.groupNorm`).
    public static func groupNorm(_ input: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, epsilon: Float = 1e-5) -> Tensor {
        precondition(input.rank >= 2, "groupNorm: expected [N, C, ...], got \(input.shape)")
        let (n, c) = (input.shape[0], input.shape[1])
        precondition(groups > 0 && c % groups == 0, "groupNorm: \(groups) groups do not divide \(c) channels of \(input.shape)")
        if let weight { precondition(weight.count == c, "groupNorm: weight \(weight.shape) does not match \(c) channels") }
        if let bias { precondition(bias.count == c, "groupNorm: bias \(bias.shape) does not match \(c) channels") }
        let spatial = input.shape[2...].reduce(1, *)
        let channelsPerGroup = c / groups
        let groupSize = channelsPerGroup * spatial
        let x = input.contiguous().scalars
        let w = weight?.contiguous().scalars, b = bias?.contiguous().scalars
        var y = [Float](repeating: 0, count: x.count)
        // Sample by sample and group by group: the group's channels are one contiguous block.
        for sample in 0..<n {
            for group in 0..<groups {
                let start = (sample * groups + group) * groupSize
                let (mean, variance) = meanAndVariance(x[start..<(start + groupSize)])
                let scale = 1 / (variance + Double(epsilon)).squareRoot()
                for k in 0..<groupSize {
                    let channel = group * channelsPerGroup + k / spatial
                    let normalized = (Double(x[start + k]) - mean) * scale
                    y[start + k] = Float(normalized * Double(w?[channel] ?? 1) + Double(b?[channel] ?? 0))
                }
            }
        }
        return Tensor(shape: input.shape, scalars: y)
    }

    /// The mean and the biased variance Σ(x − mean)²/n of `values`, in two passes in Double.
    static func meanAndVariance(_ values: ArraySlice<Float>) -> (mean: Double, variance: Double) {
        guard !values.isEmpty else { return (0, 0) }
        let count = Double(values.count)
        let mean = values.reduce(0.0) { $0 + Double($1) } / count
        let variance = values.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / count
        return (mean, variance)
    }
}
