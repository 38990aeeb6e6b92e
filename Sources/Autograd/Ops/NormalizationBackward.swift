// The fused backward pass of group and layer normalization.
//
// Both normalize rows of a contiguous [R, M] view: layer norm has one row per position
// (M = D features, channel of element j = j); group norm has one row per (image, group)
// (M = C/G channels × S spatial positions, channel of element j = g·C/G + j/S). Per row, with
// x̂ = (x − μ)·r, r = 1/√(σ² + ε) and ĝ = γ_c·dy:
//   dx = r·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)),   dγ_c = Σ dy·x̂,   dβ_c = Σ dy.
// Two passes over each row recompute μ and r (the forward saved nothing but its input, and
// `meanAndVariance` gives the forward's values), a third forms the sums and a fourth writes dx,
// 16 lanes at a time along each channel's positions. Rows are independent and run in parallel;
// per-row channel sums are reduced afterwards, so every parallel write is to the row's own slots.

import Tensor

/// Gradients of a row-wise normalization (see the file comment).
///
/// - Parameters:
///   - x, dy: the input and the output gradient, both with `rows · rowSize` elements.
///   - groups: rows cycle through `groups` channel blocks (1 for layer norm).
///   - spatial: consecutive elements of a row sharing one channel (1 for layer norm).
///   - weight: γ per channel (nil: 1).
///   - needsParameterGradients: whether to form dγ and dβ.
func normalizationBackward(x: Tensor, dy: Tensor, rows: Int, rowSize: Int, groups: Int, spatial: Int,
                           weight: Tensor?, epsilon: Float, needsParameterGradients: Bool)
    -> (dx: Tensor, dWeight: Tensor, dBias: Tensor) {
    let channelsPerRow = rowSize / spatial
    let channels = channelsPerRow * groups
    if rows == 0 || rowSize == 0 {
        return (Tensor(shape: x.shape, repeating: 0), Tensor.zeros([channels]), Tensor.zeros([channels]))
    }
    let xc = x.contiguous(), gc = dy.contiguous()
    let gamma = weight?.contiguous().scalars ?? [Float](repeating: 1, count: channels)
    var dx = Tensor(shape: x.shape, repeating: 0)
    // Per-row channel sums (allocated even when unused, so the kernel has no optional pointers).
    var partialWeight = [Float](repeating: 0, count: rows * channelsPerRow)
    var partialBias = [Float](repeating: 0, count: rows * channelsPerRow)
    xc.withUnsafeBufferPointer { xs in
        gc.withUnsafeBufferPointer { gs in
            dx.withUnsafeMutableBufferPointer { out in
                partialWeight.withUnsafeMutableBufferPointer { pw in
                    partialBias.withUnsafeMutableBufferPointer { pb in
                        // Each row writes only its own slice of `out`, `pw` and `pb`.
                        nonisolated(unsafe) let xp = xs.baseAddress!, gp = gs.baseAddress!, op = out.baseAddress!
                        nonisolated(unsafe) let pwp = pw.baseAddress!, pbp = pb.baseAddress!
                        parallelFor(chunking: rows, minimumChunk: Swift.max(1, 16_384 / Swift.max(rowSize, 1))) { range in
                            for row in range {
                                let base = row * rowSize
                                let c0 = (row % groups) * channelsPerRow
                                let (mean, variance) = meanAndVariance(xp + base, rowSize)
                                let rstd = Float(1 / (variance + Double(epsilon)).squareRoot())
                                let mu = Float(mean)
                                let (muV, rstdV) = (SIMD16<Float>(repeating: mu), SIMD16<Float>(repeating: rstd))
                                // Per channel: Σ dy·x̂ and Σ dy (16 lanes, then the tail); Σ ĝ and Σ ĝ·x̂
                                // follow as γ_c times them.
                                var sumG = 0.0, sumGX = 0.0
                                for k in 0..<channelsPerRow {
                                    let px = UnsafeRawPointer(xp + base + k * spatial)
                                    let pg = UnsafeRawPointer(gp + base + k * spatial)
                                    var accumulatedXhat = SIMD16<Float>(), accumulatedG = SIMD16<Float>()
                                    var s = 0
                                    while s + 16 <= spatial {
                                        let xhat = (px.loadUnaligned(fromByteOffset: 4 * s, as: SIMD16<Float>.self) - muV) * rstdV
                                        let g = pg.loadUnaligned(fromByteOffset: 4 * s, as: SIMD16<Float>.self)
                                        accumulatedXhat.addProduct(g, xhat)
                                        accumulatedG += g
                                        s += 16
                                    }
                                    var dyXhat = accumulatedXhat.laneSum(), dySum = accumulatedG.laneSum()
                                    while s < spatial {
                                        let g = gp[base + k * spatial + s]
                                        dyXhat += g * (xp[base + k * spatial + s] - mu) * rstd
                                        dySum += g
                                        s += 1
                                    }
                                    let scale = gamma[c0 + k]
                                    sumG += Double(scale * dySum)
                                    sumGX += Double(scale * dyXhat)
                                    pwp[row * channelsPerRow + k] = dyXhat
                                    pbp[row * channelsPerRow + k] = dySum
                                }
                                let meanG = Float(sumG / Double(rowSize)), meanGX = Float(sumGX / Double(rowSize))
                                let (meanGV, meanGXV) = (SIMD16<Float>(repeating: meanG), SIMD16<Float>(repeating: meanGX))
                                for k in 0..<channelsPerRow {
                                    let scale = gamma[c0 + k], scaleV = SIMD16<Float>(repeating: gamma[c0 + k])
                                    let offset = base + k * spatial
                                    let px = UnsafeRawPointer(xp + offset), pg = UnsafeRawPointer(gp + offset)
                                    let po = UnsafeMutableRawPointer(op + offset)
                                    var s = 0
                                    while s + 16 <= spatial {
                                        let xhat = (px.loadUnaligned(fromByteOffset: 4 * s, as: SIMD16<Float>.self) - muV) * rstdV
                                        let g = pg.loadUnaligned(fromByteOffset: 4 * s, as: SIMD16<Float>.self)
                                        po.storeBytes(of: rstdV * (scaleV * g - meanGV - xhat * meanGXV), toByteOffset: 4 * s,
                                                      as: SIMD16<Float>.self)
                                        s += 16
                                    }
                                    while s < spatial {
                                        let xhat = (xp[offset + s] - mu) * rstd
                                        op[offset + s] = rstd * (scale * gp[offset + s] - meanG - xhat * meanGX)
                                        s += 1
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    var dWeight = [Double](repeating: 0, count: needsParameterGradients ? channels : 0)
    var dBias = dWeight
    if needsParameterGradients {
        for row in 0..<rows {
            let c0 = (row % groups) * channelsPerRow
            for k in 0..<channelsPerRow {
                dWeight[c0 + k] += Double(partialWeight[row * channelsPerRow + k])
                dBias[c0 + k] += Double(partialBias[row * channelsPerRow + k])
            }
        }
    }
    return (dx, Tensor(shape: [dWeight.count], scalars: dWeight.map { Float($0) }),
            Tensor(shape: [dBias.count], scalars: dBias.map { Float($0) }))
}
