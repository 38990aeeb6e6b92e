// TorchGenerator and MersenneTwister against values PyTorch itself produced
// (Fixtures/torch_random.json, written by tools/make_tensor_fixtures.py with torch 2.x on an
// AVX-512 CPU; raw words cross-checked there against numpy's independent MT19937).
//
// Tolerances: Mersenne-Twister words, uniforms and the normals of the >= 16-element path must
// be bit-identical (that path is pure IEEE arithmetic: a port of PyTorch's vector Cephes code).
// Normals of the < 16-element path may differ by at most 1 ULP: they come from the platform's
// double-precision log1p/sin/cos, whose last-bit rounding may differ between C libraries (on
// glibc they are bit-identical too), and are then rounded to Float.

import Foundation
import Testing
import Tensor

private struct TorchRandomFixture: Decodable {
    struct Words: Decodable { let seed: UInt64; let words: [UInt32] }
    struct Draw: Decodable { let seed: UInt64; let shape: [Int]; let bits: [UInt32] }
    struct Call: Decodable { let kind: String; let shape: [Int]; let bits: [UInt32] }
    struct Sequence: Decodable { let seed: UInt64; let calls: [Call] }
    let torch_version: String
    let cpu_capability: String
    let words: [Words]
    let randn: [Draw]
    let rand: [Draw]
    let sequences: [Sequence]

    static let shared: TorchRandomFixture = {
        let data = try! Data(contentsOf: TestData.fixture("torch_random.json"))
        return try! JSONDecoder().decode(TorchRandomFixture.self, from: data)
    }()
}

/// Largest ULP distance between `tensor` and the expected float bit patterns.
private func maxULP(_ tensor: Tensor, _ bits: [UInt32]) -> Int {
    let values = tensor.scalars
    precondition(values.count == bits.count)
    return zip(values, bits).map { ulpDistance($0, Float(bitPattern: $1)) }.max() ?? 0
}

/// Normals may differ from PyTorch by at most this many ULP (see the file comment).
private func normalULPBound(count: Int) -> Int { count >= 16 ? 0 : 1 }

@Suite("TorchGenerator: PyTorch CPU generator parity")
struct RandomTorchGeneratorTests {
    @Test("mt19937 words equal PyTorch's", arguments: TorchRandomFixture.shared.words.indices)
    func mersenneTwisterWords(case index: Int) {
        let fixture = TorchRandomFixture.shared.words[index]
        var mt = MersenneTwister(seed: fixture.seed)
        let words = (0..<fixture.words.count).map { _ in mt.next() }
        #expect(words == fixture.words, "seed \(fixture.seed)")
        var generator = TorchGenerator(seed: fixture.seed)
        #expect(generator.nextWord() == fixture.words[0])
    }

    @Test("torch.rand values are bit-identical", arguments: TorchRandomFixture.shared.rand.indices)
    func uniforms(case index: Int) {
        let fixture = TorchRandomFixture.shared.rand[index]
        var generator = TorchGenerator(seed: fixture.seed)
        let t = generator.rand(fixture.shape)
        #expect(t.shape == fixture.shape)
        #expect(t.scalars.map(\.bitPattern) == fixture.bits, "seed \(fixture.seed) shape \(fixture.shape)")
    }

    @Test("torch.randn values: exact from 16 elements, within 1 ULP below", arguments: TorchRandomFixture.shared.randn.indices)
    func normals(case index: Int) {
        let fixture = TorchRandomFixture.shared.randn[index]
        var generator = TorchGenerator(seed: fixture.seed)
        let t = generator.randn(fixture.shape)
        #expect(t.shape == fixture.shape)
        let ulp = maxULP(t, fixture.bits)
        #expect(ulp <= normalULPBound(count: t.count), "seed \(fixture.seed) shape \(fixture.shape): \(ulp) ULP")
    }

    @Test("successive calls on one generator continue PyTorch's stream",
          arguments: TorchRandomFixture.shared.sequences.indices)
    func successiveCalls(case index: Int) {
        let fixture = TorchRandomFixture.shared.sequences[index]
        var generator = TorchGenerator(seed: fixture.seed)
        for (step, call) in fixture.calls.enumerated() {
            if call.kind == "rand" {
                #expect(generator.rand(call.shape).scalars.map(\.bitPattern) == call.bits, "call \(step)")
            } else {
                let ulp = maxULP(generator.randn(call.shape), call.bits)
                #expect(ulp <= normalULPBound(count: call.bits.count), "call \(step) randn\(call.shape): \(ulp) ULP")
            }
        }
    }

    @Test("a saved state resumes the stream exactly, through JSON")
    func stateRoundTrip() throws {
        var generator = TorchGenerator(seed: 99)
        _ = generator.randn([3])          // leaves a cached normal behind
        _ = generator.rand([700])         // crosses a twist
        let saved = try JSONEncoder().encode(generator.state)
        let expected = (generator.randn([5]).scalars, generator.randn([40]).scalars, generator.rand([3]).scalars)
        var resumed = try TorchGenerator(state: JSONDecoder().decode(TorchGenerator.State.self, from: saved))
        #expect(resumed.randn([5]).scalars == expected.0)
        #expect(resumed.randn([40]).scalars == expected.1)
        #expect(resumed.rand([3]).scalars == expected.2)
        var assigned = TorchGenerator(seed: 1)
        assigned.state = try JSONDecoder().decode(TorchGenerator.State.self, from: saved)
        #expect(assigned.randn([5]).scalars == expected.0)
    }

    @Test("a malformed saved state is a thrown error")
    func malformedState() throws {
        var state = TorchGenerator(seed: 3).state
        state.mersenneTwister.words.removeLast()
        #expect(throws: RandomStateError.self) { try TorchGenerator(state: state) }
        state = TorchGenerator(seed: 3).state
        state.mersenneTwister.index = 625
        #expect(throws: RandomStateError.self) { try TorchGenerator(state: state) }
    }
}
