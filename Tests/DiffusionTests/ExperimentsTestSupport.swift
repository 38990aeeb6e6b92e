// Seeded random numbers for the Experiments tests: SplitMix64 (Steele, Lea & Flood 2014) and
// Box-Muller normals. Independent of the library's generators on purpose.
import Foundation
import Tensor

struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func uniform() -> Double { Double(next() >> 11) * 0x1p-53 }
    mutating func normal() -> Double {
        let u1 = 1 - uniform(), u2 = uniform()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
    mutating func uniforms(_ count: Int) -> Tensor {
        Tensor(shape: [count], scalars: (0..<count).map { _ in Float(uniform()) })
    }
    mutating func normals(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Float(normal()) })
    }
}
