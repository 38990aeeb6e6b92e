import Testing
import Tensor

/// A convolution configuration: input [N, C, H, W], output channels, kernel, stride, padding, dilation, groups.
struct ConvCase: CustomTestStringConvertible, Sendable {
    let input: [Int], outChannels: Int, kernel: (Int, Int), stride: Int, padding: Int, dilation: Int, groups: Int
    var testDescription: String {
        "in \(input) out \(outChannels) k \(kernel) s \(stride) p \(padding) d \(dilation) g \(groups)"
    }
    var weightShape: [Int] { [outChannels, input[1] / groups, kernel.0, kernel.1] }
    /// A 3x3, stride-1, ungrouped convolution with at least 128 input and output channels: the
    /// geometry the Winograd kernels take with F(4x4, 3x3) on wide images and F(2x2, 3x3) on small
    /// ones (Conv2d+Winograd4x4.swift). Their transforms multiply by up to 5 and 8 and divide by 6
    /// and 24, so they round more than a direct sum over 1152 or more products, and a fixed
    /// tolerance relative to the output says nothing about such sums. These cases are held to the
    /// direct sum's own worst-case bound instead (`expectWithinDirectSumBound`).
    var roundsLikeWinogradWithManyChannels: Bool {
        kernel == (3, 3) && stride == 1 && dilation == 1 && groups == 1 && Swift.min(input[1], outChannels) >= 128
    }
}

/// Checks `actual` against `expected` within the worst-case rounding bound of summing `terms`
/// Float32 products directly: |actual - expected| <= γ_n Σ|products|, γ_n = n u / (1 - n u) with
/// u = 2⁻²⁴ (Higham, "Accuracy and Stability of Numerical Algorithms", 2nd ed., 2002, eq. 3.4),
/// where `absoluteSum` holds each output's Σ|products| (the convolution of |x| with |w|). A
/// convolution algorithm passes when it is never worse than the direct method can be; a wrong
/// transform, tile or channel is off by a whole product or more, far outside the bound.
func expectWithinDirectSumBound(_ actual: Tensor, _ expected: Tensor, absoluteSum: Tensor, terms: Int,
                                sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.shape == expected.shape && expected.shape == absoluteSum.shape, sourceLocation: sourceLocation)
    guard actual.shape == expected.shape, expected.shape == absoluteSum.shape else { return }
    let u = Double(Float.ulpOfOne) / 2, nu = Double(terms) * u
    let gamma = nu / (1 - nu)
    let x = actual.scalars, y = expected.scalars, s = absoluteSum.scalars
    var worst = 0.0, worstIndex = 0
    for i in x.indices {
        // The share of the bound used (the reference's own rounding is within the same bound).
        let used = Double(Swift.abs(x[i] - y[i])) / (2 * gamma * Double(s[i]) + Double(Float.leastNormalMagnitude))
        if !(used <= worst) { worst = used; worstIndex = i }
    }
    #expect(worst <= 1, "\(x.isEmpty ? 0 : x[worstIndex]) vs \(y.isEmpty ? 0 : y[worstIndex]) at \(worstIndex) uses \(worst) of the bound 2 γ_\(terms) Σ|products| = \(2 * gamma * Double(s.isEmpty ? 0 : s[worstIndex]))",
            sourceLocation: sourceLocation)
}

@Suite("conv2d: implicit-GEMM convolution and its gradients against the reference loops")
struct Conv2dTests {
    static let cases: [ConvCase] = [
        ConvCase(input: [2, 3, 9, 11], outChannels: 5, kernel: (3, 3), stride: 1, padding: 1, dilation: 1, groups: 1),
        ConvCase(input: [1, 4, 8, 8], outChannels: 6, kernel: (1, 1), stride: 1, padding: 0, dilation: 1, groups: 1),
        ConvCase(input: [2, 4, 10, 7], outChannels: 4, kernel: (3, 2), stride: 2, padding: 1, dilation: 1, groups: 2),
        ConvCase(input: [1, 6, 12, 12], outChannels: 6, kernel: (3, 3), stride: 1, padding: 2, dilation: 2, groups: 3),
        ConvCase(input: [3, 2, 5, 6], outChannels: 13, kernel: (2, 3), stride: 3, padding: 0, dilation: 1, groups: 1),
        ConvCase(input: [1, 8, 7, 7], outChannels: 8, kernel: (3, 3), stride: 1, padding: 1, dilation: 1, groups: 8),
        ConvCase(input: [2, 6, 6, 5], outChannels: 4, kernel: (1, 1), stride: 1, padding: 0, dilation: 1, groups: 2),
        ConvCase(input: [1, 16, 20, 20], outChannels: 40, kernel: (3, 3), stride: 1, padding: 1, dilation: 1, groups: 1),
        ConvCase(input: [1, 3, 6, 6], outChannels: 2, kernel: (1, 1), stride: 2, padding: 1, dilation: 1, groups: 1),
        ConvCase(input: [4, 5, 9, 9], outChannels: 7, kernel: (4, 4), stride: 2, padding: 3, dilation: 1, groups: 1),
        ConvCase(input: [2, 4, 9, 13], outChannels: 3, kernel: (2, 3), stride: 1, padding: 1, dilation: 2, groups: 1),
        ConvCase(input: [1, 3, 7, 40], outChannels: 14, kernel: (3, 3), stride: 1, padding: 0, dilation: 1, groups: 1),
        // Stride-1 batches through the stacked paths: channels that are a multiple of 16 (the
        // weight gradient's register-transpose packing), 20 channels (panels straddling two
        // kernel offsets), groups of 32 channels, padding beyond d(k-1) (every pass falls back
        // to the per-image paths), a product large enough to split its depth between threads,
        // no padding, enough 4x4 images for several runs per thread, and more than 32 output
        // and input channels (the forward product and the input gradient's not transposed).
        ConvCase(input: [3, 32, 5, 6], outChannels: 16, kernel: (3, 3), stride: 1, padding: 1, dilation: 1, groups: 1),
        ConvCase(input: [2, 20, 6, 7], outChannels: 8, kernel: (3, 3), stride: 1, padding: 1, dilation: 1, groups: 1),
        ConvCase(input: [5, 64, 4, 4], outChannels: 24, kernel: (3, 3), stride: 1, padding: 1, dilation: 1, groups: 2),
        ConvCase(input: [2, 3, 5, 5], outChannels: 4, kernel: (3, 3), stride: 1, padding: 3, dilation: 1, groups: 1),
        ConvCase(input: [4, 32, 16, 16], outChannels: 32, kernel: (3, 3), stride: 1, padding: 1, dilation: 1, groups: 1),
        ConvCase(input: [3, 16, 6, 5], outChannels: 5, kernel: (3, 3), stride: 1, padding: 0, dilation: 1, groups: 1),
        ConvCase(input: [200, 2, 4, 4], outChannels: 3, kernel: (3, 3), stride: 1, padding: 1, dilation: 1, groups: 1),
        ConvCase(input: [3, 40, 6, 7], outChannels: 48, kernel: (3, 3), stride: 1, padding: 1, dilation: 1, groups: 1),
        // Outputs 4, 8 or 16 wide with more than 32 output channels per group: the forward product
        // over valid positions only (`CompactStackedMatrix`), with dilation, groups (of 36 output
        // channels, 4 wide), padding 0 (4 wide from 6), and 4x4 images spread over several runs;
        // rows of 3 and 7 check that other widths still take the stacked path.
        ConvCase(input: [6, 8, 4, 4], outChannels: 40, kernel: (3, 3), stride: 1, padding: 1, dilation: 1, groups: 1),
        ConvCase(input: [3, 16, 8, 8], outChannels: 48, kernel: (3, 3), stride: 1, padding: 2, dilation: 2, groups: 1),
        ConvCase(input: [2, 8, 16, 16], outChannels: 34, kernel: (3, 3), stride: 1, padding: 1, dilation: 1, groups: 1),
        ConvCase(input: [4, 16, 5, 4], outChannels: 72, kernel: (3, 3), stride: 1, padding: 1, dilation: 1, groups: 2),
        ConvCase(input: [3, 8, 6, 6], outChannels: 33, kernel: (3, 3), stride: 1, padding: 0, dilation: 1, groups: 1),
        ConvCase(input: [4, 16, 5, 3], outChannels: 72, kernel: (3, 3), stride: 1, padding: 1, dilation: 1, groups: 2),
        ConvCase(input: [3, 8, 6, 9], outChannels: 33, kernel: (3, 3), stride: 1, padding: 0, dilation: 1, groups: 1),
        ConvCase(input: [90, 2, 4, 4], outChannels: 33, kernel: (3, 3), stride: 1, padding: 1, dilation: 1, groups: 1),
        // More than 32 input channels at 8 wide: the input gradient (a forward convolution of the
        // output gradient back to 40 channels) takes the compact path.
        ConvCase(input: [2, 40, 8, 8], outChannels: 8, kernel: (3, 3), stride: 1, padding: 1, dilation: 1, groups: 1),
        // 3x3 with at least 64 channels in and out and outputs at least 32 wide: Winograd
        // F(2x2, 3x3) for the forward pass, the input gradient (its flipped convolution) and the
        // weight gradient. Odd sizes (the last tiles half outside), padding 0 and 2, more output
        // than input channels and the reverse, and 18 tile columns (the interleaved vector stores).
        // With at most 512 tiles (all of these) the forward pass takes the panel path
        // (`winogradConv2dByPanels`); `wideCases` has the chunked one.
        ConvCase(input: [2, 64, 5, 33], outChannels: 64, kernel: (3, 3), stride: 1, padding: 1, dilation: 1, groups: 1),
        ConvCase(input: [1, 64, 6, 36], outChannels: 72, kernel: (3, 3), stride: 1, padding: 0, dilation: 1, groups: 1),
        ConvCase(input: [1, 72, 5, 30], outChannels: 64, kernel: (3, 3), stride: 1, padding: 2, dilation: 1, groups: 1),
        ConvCase(input: [1, 64, 4, 36], outChannels: 64, kernel: (3, 3), stride: 1, padding: 1, dilation: 1, groups: 1),
        // 3x3 with at least 128 channels in and out and outputs at least 32 wide: Winograd
        // F(4x4, 3x3) for the forward pass and the input gradient (its flipped convolution; the
        // weight gradient stays F(2x2, 3x3)). Partial tiles at the right and bottom (33 and 38
        // wide, 6 and 7 high), padding 0 and 2, more output than input channels and the reverse,
        // and 136 channels (a partial 12-row panel of the transformed weight).
        ConvCase(input: [1, 128, 6, 33], outChannels: 128, kernel: (3, 3), stride: 1, padding: 1, dilation: 1, groups: 1),
        ConvCase(input: [2, 128, 9, 34], outChannels: 136, kernel: (3, 3), stride: 1, padding: 0, dilation: 1, groups: 1),
        ConvCase(input: [1, 136, 5, 36], outChannels: 128, kernel: (3, 3), stride: 1, padding: 2, dilation: 1, groups: 1),
        // Outputs at most 8 x 8 with at least 64 channels and batches that fill at least half of
        // the 16-image chunks: Winograd across images (forward and input gradient). Batches that
        // are not a multiple of 16, odd sizes, padding 0 and 2.
        ConvCase(input: [18, 64, 4, 4], outChannels: 64, kernel: (3, 3), stride: 1, padding: 1, dilation: 1, groups: 1),
        ConvCase(input: [20, 64, 8, 8], outChannels: 72, kernel: (3, 3), stride: 1, padding: 1, dilation: 1, groups: 1),
        ConvCase(input: [17, 72, 5, 7], outChannels: 64, kernel: (3, 3), stride: 1, padding: 1, dilation: 1, groups: 1),
        ConvCase(input: [12, 64, 6, 6], outChannels: 64, kernel: (3, 3), stride: 1, padding: 0, dilation: 1, groups: 1),
        ConvCase(input: [9, 64, 3, 3], outChannels: 64, kernel: (3, 3), stride: 1, padding: 2, dilation: 1, groups: 1),
        // The same small images in batches too small for it: the stacked direct kernels, and the
        // row layout for 8 wide with 128 channels (Stable Diffusion's 8 x 8 level at batch 2).
        ConvCase(input: [5, 64, 4, 4], outChannels: 64, kernel: (3, 3), stride: 1, padding: 1, dilation: 1, groups: 1),
        ConvCase(input: [3, 64, 8, 8], outChannels: 72, kernel: (3, 3), stride: 1, padding: 1, dilation: 1, groups: 1),
        ConvCase(input: [2, 64, 6, 6], outChannels: 64, kernel: (3, 3), stride: 1, padding: 0, dilation: 1, groups: 1),
        ConvCase(input: [2, 64, 3, 3], outChannels: 64, kernel: (3, 3), stride: 1, padding: 2, dilation: 1, groups: 1),
        ConvCase(input: [2, 128, 8, 8], outChannels: 128, kernel: (3, 3), stride: 1, padding: 1, dilation: 1, groups: 1),
        // 1x1 convolutions with a multiple of 16 positions per image: the weight gradient as
        // row-by-row dot products per image, images shared between threads; with groups.
        ConvCase(input: [3, 20, 4, 8], outChannels: 13, kernel: (1, 1), stride: 1, padding: 0, dilation: 1, groups: 1),
        ConvCase(input: [4, 8, 4, 4], outChannels: 12, kernel: (1, 1), stride: 1, padding: 0, dilation: 1, groups: 2),
        // Kernels that cover the whole image from every output position (3x3 at padding 1 on
        // 2x2 and 1x1 images, 5x5 at padding 2 on 3x3, a 3x5 kernel on 2x3): one dense product over
        // (channel, position) pairs in all three passes. The latent UNet's lowest level (batch 32,
        // 64 -> 128 channels, large enough for threads in the expansion and the fold), edge panels
        // (5 x 4 and 7 x 4 columns), and outputs of 1, 3 and 2 x 1 positions.
        ConvCase(input: [32, 64, 2, 2], outChannels: 128, kernel: (3, 3), stride: 1, padding: 1, dilation: 1, groups: 1),
        ConvCase(input: [3, 5, 2, 2], outChannels: 7, kernel: (3, 3), stride: 1, padding: 1, dilation: 1, groups: 1),
        ConvCase(input: [2, 6, 1, 1], outChannels: 40, kernel: (3, 3), stride: 1, padding: 1, dilation: 1, groups: 1),
        ConvCase(input: [2, 3, 3, 3], outChannels: 4, kernel: (5, 5), stride: 1, padding: 2, dilation: 1, groups: 1),
        ConvCase(input: [3, 4, 2, 3], outChannels: 5, kernel: (3, 5), stride: 1, padding: 1, dilation: 1, groups: 1),
        // Strides above 1 without dilation go through the phase (space-to-depth) layout in all
        // three passes: even and odd sizes, padding 0, 1, 2 and beyond the kernel's reach,
        // kernels 1 (one phase), 2, 4 and non-square, strides 3 and 4 (phases no tap reads),
        // groups, one image and several runs of images, 32 channels (the classifier's layers,
        // register-transposed weight-gradient packing), and 17/33/40 channels (edge tiles, the
        // forward product not transposed, the input gradient with more than 32 channels).
        ConvCase(input: [1, 3, 8, 8], outChannels: 5, kernel: (3, 3), stride: 2, padding: 1, dilation: 1, groups: 1),
        ConvCase(input: [3, 4, 9, 7], outChannels: 6, kernel: (3, 3), stride: 2, padding: 0, dilation: 1, groups: 1),
        ConvCase(input: [2, 5, 10, 11], outChannels: 4, kernel: (3, 3), stride: 2, padding: 2, dilation: 1, groups: 1),
        ConvCase(input: [2, 6, 7, 9], outChannels: 3, kernel: (1, 1), stride: 2, padding: 0, dilation: 1, groups: 1),
        ConvCase(input: [2, 4, 8, 6], outChannels: 5, kernel: (2, 2), stride: 2, padding: 0, dilation: 1, groups: 1),
        ConvCase(input: [2, 3, 9, 10], outChannels: 4, kernel: (4, 4), stride: 2, padding: 1, dilation: 1, groups: 1),
        ConvCase(input: [2, 2, 5, 6], outChannels: 3, kernel: (2, 3), stride: 2, padding: 3, dilation: 1, groups: 1),
        ConvCase(input: [2, 3, 11, 10], outChannels: 4, kernel: (3, 5), stride: 3, padding: 2, dilation: 1, groups: 1),
        ConvCase(input: [2, 3, 10, 9], outChannels: 2, kernel: (3, 3), stride: 4, padding: 1, dilation: 1, groups: 1),
        ConvCase(input: [1, 2, 3, 3], outChannels: 2, kernel: (3, 3), stride: 2, padding: 1, dilation: 1, groups: 1),
        ConvCase(input: [3, 6, 8, 9], outChannels: 6, kernel: (3, 3), stride: 2, padding: 1, dilation: 1, groups: 3),
        ConvCase(input: [5, 2, 40, 40], outChannels: 3, kernel: (3, 3), stride: 2, padding: 1, dilation: 1, groups: 1),
        ConvCase(input: [3, 32, 10, 10], outChannels: 32, kernel: (3, 3), stride: 2, padding: 1, dilation: 1, groups: 1),
        ConvCase(input: [2, 17, 9, 8], outChannels: 33, kernel: (3, 3), stride: 2, padding: 1, dilation: 1, groups: 1),
        ConvCase(input: [2, 40, 8, 8], outChannels: 16, kernel: (3, 3), stride: 2, padding: 1, dilation: 1, groups: 1),
        // Stride 2 with dilation 2: the general (gather) path.
        ConvCase(input: [2, 4, 9, 9], outChannels: 4, kernel: (3, 3), stride: 2, padding: 1, dilation: 2, groups: 1),
    ]

    /// Winograd with two chunks, one per thread (515 tiles per tile row; 130 images across images;
    /// F(4x4, 3x3) on 4 tile rows).
    static let wideCases: [ConvCase] = [
        ConvCase(input: [1, 64, 4, 1030], outChannels: 64, kernel: (3, 3), stride: 1, padding: 1, dilation: 1, groups: 1),
        // F(4x4, 3x3) with two chunks of 3 tile rows (33 tiles wide), one per thread.
        ConvCase(input: [1, 128, 13, 130], outChannels: 128, kernel: (3, 3), stride: 1, padding: 1, dilation: 1, groups: 1),
        // Winograd across images with 130 4x4 images: two chunks of 128, one per thread.
        ConvCase(input: [130, 64, 4, 4], outChannels: 64, kernel: (3, 3), stride: 1, padding: 1, dilation: 1, groups: 1),
    ]

    @Test(arguments: cases + wideCases)
    func forwardMatchesReference(_ c: ConvCase) {
        let x = kernelTestTensor(c.input, seed: 21), w = kernelTestTensor(c.weightShape, seed: 22)
        let bias = kernelTestTensor([c.outChannels], seed: 23)
        let withBias = conv2d(x, weight: w, bias: bias, stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups)
        let expectedWithBias = Reference.conv2d(x, weight: w, bias: bias, stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups)
        let plain = conv2d(x, weight: w, stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups)
        let expected = Reference.conv2d(x, weight: w, stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups)
        if c.roundsLikeWinogradWithManyChannels {
            let sum = Reference.conv2d(x.abs(), weight: w.abs(), stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups)
            let terms = c.input[1] / c.groups * c.kernel.0 * c.kernel.1
            expectWithinDirectSumBound(withBias, expectedWithBias, absoluteSum: sum + bias.abs().reshaped([1, c.outChannels, 1, 1]), terms: terms + 1)
            expectWithinDirectSumBound(plain, expected, absoluteSum: sum, terms: terms)
        } else {
            expectKernelClose(withBias, expectedWithBias, tolerance: 1e-5)
            expectKernelClose(plain, expected, tolerance: 1e-5)
        }
    }

    /// A 16-bit weight: the Winograd paths widen it inside their weight transform, the others
    /// take the widened copy; either way the result equals the widened weight's bit for bit
    /// (widening is exact and each path reads the same values in the same order), so its
    /// accuracy is `forwardMatchesReference`'s. Both formats; 136 output channels end in a
    /// partial panel, and the last filter's last channel is read through the widened panel.
    @Test(arguments: cases + wideCases)
    func halfPrecisionWeightMatchesWidened(_ c: ConvCase) {
        let x = kernelTestTensor(c.input, seed: 26), bias = kernelTestTensor([c.outChannels], seed: 27)
        for format in HalfPrecisionTensor.Format.allCases {
            let half = HalfPrecisionTensor(narrowing: kernelTestTensor(c.weightShape, seed: 28), format: format)
            let widened = half.widened()
            let y = conv2d(x, halfPrecisionWeight: half, bias: bias, stride: c.stride, padding: c.padding,
                           dilation: c.dilation, groups: c.groups)
            #expect(y.scalars == conv2d(x, weight: widened, bias: bias, stride: c.stride, padding: c.padding,
                                        dilation: c.dilation, groups: c.groups).scalars, "\(format)")
        }
    }

    @Test(arguments: cases + wideCases)
    func backwardInputMatchesReference(_ c: ConvCase) {
        let w = kernelTestTensor(c.weightShape, seed: 24)
        let outShape = Reference.conv2d(Tensor(shape: c.input), weight: w, stride: c.stride, padding: c.padding,
                                   dilation: c.dilation, groups: c.groups).shape
        let gy = kernelTestTensor(outShape, seed: 25)
        let actual = conv2dBackwardInput(gy, weight: w, inputShape: c.input, stride: c.stride, padding: c.padding,
                                         dilation: c.dilation, groups: c.groups)
        let expected = Reference.conv2dBackwardInput(gy, weight: w, inputShape: c.input, stride: c.stride, padding: c.padding,
                                                     dilation: c.dilation, groups: c.groups)
        if c.roundsLikeWinogradWithManyChannels {
            let sum = Reference.conv2dBackwardInput(gy.abs(), weight: w.abs(), inputShape: c.input, stride: c.stride, padding: c.padding,
                                                    dilation: c.dilation, groups: c.groups)
            expectWithinDirectSumBound(actual, expected, absoluteSum: sum, terms: c.outChannels / c.groups * c.kernel.0 * c.kernel.1)
        } else {
            expectKernelClose(actual, expected, tolerance: 1e-5)
        }
    }

    /// Each weight-gradient entry sums N·Ho·Wo products (up to 4120 here), so its error is
    /// measured against the magnitudes of those products (`expectSumsClose`).
    @Test(arguments: cases + wideCases)
    func backwardWeightMatchesReference(_ c: ConvCase) {
        let x = kernelTestTensor(c.input, seed: 26)
        let outShape = Reference.conv2d(x, weight: Tensor(shape: c.weightShape), stride: c.stride, padding: c.padding,
                                   dilation: c.dilation, groups: c.groups).shape
        let gy = kernelTestTensor(outShape, seed: 27)
        let expected = Reference.conv2dBackwardWeight(gy, input: x, weightShape: c.weightShape, stride: c.stride,
                                                      padding: c.padding, dilation: c.dilation, groups: c.groups)
        // Σ|dy · x| over the same terms is the same sum taken of the absolute values.
        let magnitudes = Reference.conv2dBackwardWeight(gy.abs(), input: x.abs(), weightShape: c.weightShape, stride: c.stride,
                                                        padding: c.padding, dilation: c.dilation, groups: c.groups).scalars.map { Double($0) }
        expectSumsClose(conv2dBackwardWeight(gy, input: x, weightShape: c.weightShape, stride: c.stride, padding: c.padding,
                                             dilation: c.dilation, groups: c.groups),
                        expected, magnitudes: magnitudes, tolerance: 1e-6)
    }

    /// Finite differences of L = Σ conv2d(x, w) · gy check both gradients independently of the
    /// reference backward loops (central differences in Double are exact here: L is linear in x and w).
    @Test func gradientsMatchFiniteDifferences() {
        let c = ConvCase(input: [1, 4, 6, 5], outChannels: 4, kernel: (3, 3), stride: 2, padding: 1, dilation: 1, groups: 2)
        let x = kernelTestTensor(c.input, seed: 28), w = kernelTestTensor(c.weightShape, seed: 29)
        let y = Reference.conv2d(x, weight: w, stride: 2, padding: 1, groups: 2)
        let gy = kernelTestTensor(y.shape, seed: 30)
        func loss(_ x: Tensor, _ w: Tensor) -> Double {
            let out = Reference.conv2d(x, weight: w, stride: 2, padding: 1, groups: 2).scalars, g = gy.scalars
            return zip(out, g).reduce(0) { $0 + Double($1.0) * Double($1.1) }
        }
        let gx = conv2dBackwardInput(gy, weight: w, inputShape: c.input, stride: 2, padding: 1, groups: 2)
        let gw = conv2dBackwardWeight(gy, input: x, weightShape: c.weightShape, stride: 2, padding: 1, groups: 2)
        let h: Float = 0.5
        for index in [0, 7, 33, 61, 119] {
            var plus = x.scalars, minus = x.scalars
            plus[index] += h; minus[index] -= h
            let numeric = (loss(Tensor(shape: c.input, scalars: plus), w) - loss(Tensor(shape: c.input, scalars: minus), w)) / Double(2 * h)
            #expect(Swift.abs(Double(gx.scalars[index]) - numeric) < 1e-4, "input gradient at \(index)")
        }
        for index in [0, 5, 17, 35, 71] {
            var plus = w.scalars, minus = w.scalars
            plus[index] += h; minus[index] -= h
            let numeric = (loss(x, Tensor(shape: c.weightShape, scalars: plus)) - loss(x, Tensor(shape: c.weightShape, scalars: minus))) / Double(2 * h)
            #expect(Swift.abs(Double(gw.scalars[index]) - numeric) < 1e-4, "weight gradient at \(index)")
        }
    }

    @Test func nonContiguousInputIsHandled() {
        let x = kernelTestTensor([2, 5, 7, 3], seed: 31).permuted([0, 3, 1, 2])  // [2, 3, 5, 7] view
        let w = kernelTestTensor([4, 3, 3, 3], seed: 32)
        expectKernelClose(conv2d(x, weight: w, padding: 1), Reference.conv2d(x.contiguous(), weight: w, padding: 1), tolerance: 1e-5)
    }

    @Test func largeBatchMatchesReference() {
        // Many images stacked into one product (the N=128 benchmark path).
        let x = kernelTestTensor([16, 3, 6, 6], seed: 33), w = kernelTestTensor([5, 3, 3, 3], seed: 34)
        expectKernelClose(conv2d(x, weight: w, padding: 1), Reference.conv2d(x, weight: w, padding: 1), tolerance: 1e-5)
    }
}
