// Tests of `NoiseInterpolation` against closed forms: in the plane, slerp between two unit
// vectors at angle θ is the unit vector at angle f·θ (a rotation), and lerp is the chord.

import Diffusion
import DiffusionStudies
import Foundation
import Tensor
import Testing

@Suite struct NoiseInterpolationTests {
    @Test(arguments: [0.0, 0.25, 0.5, 0.8, 1.0])
    func slerpInThePlaneIsARotation(fraction: Double) {
        let theta = 1.2
        let a = Tensor(shape: [2], scalars: [1, 0])
        let b = Tensor(shape: [2], scalars: [Float(cos(theta)), Float(sin(theta))])
        let p = NoiseInterpolation.slerp(a, b, fraction: fraction).scalars
        #expect(abs(Double(p[0]) - cos(fraction * theta)) < 1e-6)
        #expect(abs(Double(p[1]) - sin(fraction * theta)) < 1e-6)
    }

    @Test func angleOfKnownVectors() {
        let a = Tensor(shape: [3], scalars: [1, 0, 0]), b = Tensor(shape: [3], scalars: [0, 2, 0])
        #expect(abs(NoiseInterpolation.angle(a, b) - Double.pi / 2) < 1e-12)
        #expect(NoiseInterpolation.angle(a, a) < 1e-6)
    }

    @Test func slerpKeepsTheNormAndLerpShrinksIt() {
        // Two orthogonal vectors of norm 5 (the 3-4-5 triangle): the slerp midpoint has norm 5,
        // the lerp midpoint 5/sqrt(2).
        let a = Tensor(shape: [2, 2], scalars: [3, 4, 0, 0]), b = Tensor(shape: [2, 2], scalars: [0, 0, 4, -3])
        #expect(abs(NoiseInterpolation.norm(NoiseInterpolation.slerp(a, b, fraction: 0.5)) - 5) < 1e-5)
        #expect(abs(NoiseInterpolation.norm(NoiseInterpolation.lerp(a, b, fraction: 0.5)) - 5 / 2.0.squareRoot()) < 1e-5)
        #expect(NoiseInterpolation.slerp(a, b, fraction: 0.3).shape == [2, 2])
    }

    @Test func parallelVectorsFallBackToLerp() {
        let a = Tensor(shape: [2], scalars: [1, 1]), b = Tensor(shape: [2], scalars: [2, 2])
        #expect(NoiseInterpolation.slerp(a, b, fraction: 0.5).scalars == [1.5, 1.5])
    }
}
