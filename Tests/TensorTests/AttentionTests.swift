import Testing
import Tensor

@Suite("Attention: blocked online-softmax attention against the reference full-matrix softmax")
struct AttentionTests {
    /// (batch shape, Tq, Tk, D, Dv, causal)
    static let cases: [([Int], Int, Int, Int, Int, Bool)] = [
        ([1], 1, 1, 4, 4, false), ([2, 3], 5, 7, 8, 6, false), ([1], 70, 70, 16, 16, true),
        ([2], 65, 300, 40, 40, false), ([1], 300, 300, 8, 12, true), ([3], 33, 17, 5, 3, false),
        ([1], 97, 250, 64, 64, false), ([2], 250, 250, 3, 40, true), ([], 40, 481, 24, 7, false),
    ]

    @Test(arguments: cases)
    func matchesNaive(_ c: ([Int], Int, Int, Int, Int, Bool)) {
        let (batch, tq, tk, d, dv, causal) = c
        let q = kernelTestTensor(batch + [tq, d], seed: 41)
        let k = kernelTestTensor(batch + [tk, d], seed: 42)
        // Values in [-1, 1) scaled up so logits reach a range where the softmax is far from uniform.
        let v = kernelTestTensor(batch + [tk, dv], seed: 43)
        let qs = q * 3
        expectKernelClose(scaledDotProductAttention(query: qs, key: k, value: v, causal: causal),
                    Reference.scaledDotProductAttention(query: qs, key: k, value: v, causal: causal), tolerance: 2e-5)
    }

    @Test func explicitScaleAndLargeLogits() {
        // Logits up to ~±100: the online maximum must keep every exponential finite.
        let q = kernelTestTensor([2, 50, 16], seed: 44), k = kernelTestTensor([2, 300, 16], seed: 45)
        let v = kernelTestTensor([2, 300, 9], seed: 46)
        expectKernelClose(scaledDotProductAttention(query: q, key: k, value: v, scale: 25),
                    Reference.scaledDotProductAttention(query: q, key: k, value: v, scale: 25), tolerance: 2e-5)
    }

    @Test func stridedViewsAndBroadcastBatches() {
        // Heads split out of a [B, T, H * D] tensor by a permuted view, keys shared across heads.
        let x = kernelTestTensor([2, 45, 4 * 8], seed: 47)
        let q = x.reshaped([2, 45, 4, 8]).permuted([0, 2, 1, 3])   // [2, 4, 45, 8], not contiguous
        let k = kernelTestTensor([2, 1, 60, 8], seed: 48)              // broadcast over heads
        let v = kernelTestTensor([60, 5], seed: 49)                    // broadcast over batch and heads
        let result = scaledDotProductAttention(query: q, key: k, value: v)
        #expect(result.shape == [2, 4, 45, 5])
        expectKernelClose(result, Reference.scaledDotProductAttention(query: q.contiguous(), key: k.expanded(to: [2, 4, 60, 8]).contiguous(),
                                           value: v.expanded(to: [2, 4, 60, 5]).contiguous()), tolerance: 2e-5)
    }

    @Test func rowsSumToOneThroughConstantValues() {
        // With every value row equal to 1, each output is Σ softmax = 1 exactly up to rounding.
        let q = kernelTestTensor([1, 130, 8], seed: 50), k = kernelTestTensor([1, 500, 8], seed: 51)
        let out = scaledDotProductAttention(query: q * 4, key: k, value: Tensor(shape: [1, 500, 3], repeating: 1), causal: true)
        #expect(out.scalars.allSatisfy { Swift.abs($0 - 1) < 1e-5 })
    }
}
