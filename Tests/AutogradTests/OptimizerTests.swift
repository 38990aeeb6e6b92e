import Foundation
import Testing
import Tensor
import Autograd

/// The torch.optim reference sequences written by tools/make_autograd_fixtures.py.
private struct OptimizerFixture: Decodable {
    struct Run: Decodable { var trajectory: [[TensorJSON]] }
    struct Clip: Decodable {
        var grads: [TensorJSON]
        var max_norm: Float
        var total_norm: Float
        var clipped: [TensorJSON]
    }
    var initial: [TensorJSON]
    var grads: [[TensorJSON]]
    var runs: [String: Run]
    var schedules: [String: [Double]]
    var clip: Clip

    static let shared: OptimizerFixture = try! loadFixture("optimizers.json", as: OptimizerFixture.self)
}

@Suite("Optimizers, schedules and clipping against torch.optim")
struct OptimizerTests {
    /// Runs `make`'s optimizer on the fixture gradients and compares every step with torch.
    /// Tolerance: torch and this code do the same Float32 operations in the same order, but torch
    /// may fuse or vectorize differently, so allow a few ulps of the values (|θ| ≲ 3): 2e-6.
    private func compare(_ run: String, _ make: ([(name: String, variable: Variable)]) -> Optimizer) {
        let fixture = OptimizerFixture.shared
        let params = fixture.initial.map { Variable($0.tensor, requiresGrad: true) }
        let optimizer = make(numberedParameters(params))
        for (step, grads) in fixture.grads.enumerated() {
            for (p, g) in zip(params, grads) { p.grad = g.tensor }
            optimizer.step()
            for (p, expected) in zip(params, fixture.runs[run]!.trajectory[step]) {
                let error = maxAbsDifference(p.value, expected.tensor)
                #expect(error <= 2e-6, "\(run) step \(step): max error \(error)")
            }
        }
    }

    @Test func sgdPlain() { compare("sgd_plain") { SGD(parameters: $0, learningRate: 0.1) } }
    @Test func sgdMomentumDampeningWeightDecay() {
        compare("sgd_momentum") { SGD(parameters: $0, learningRate: 0.1, momentum: 0.9, dampening: 0.1, weightDecay: 0.01) }
    }
    @Test func sgdNesterov() {
        compare("sgd_nesterov") { SGD(parameters: $0, learningRate: 0.05, momentum: 0.8, weightDecay: 0.02, nesterov: true) }
    }
    @Test func adam() { compare("adam") { Adam(parameters: $0, learningRate: 0.01) } }

    /// A parameter of 37 elements (two 16-lane steps and a scalar tail) against Adam's update
    /// written out in Double (Kingma & Ba 2015, Algorithm 1, with torch's ε placement and both
    /// weight-decay forms), over three steps.
    @Test(arguments: [false, true])
    func adamLanesMatchTheFormula(decoupled: Bool) {
        let (lr, beta1, beta2, eps, wd) = (0.01, 0.9, 0.999, 1e-8, 0.1)
        let p = Variable(randomTensor([37], seed: 90), requiresGrad: true)
        let optimizer = Adam(parameters: [("p", p)], learningRate: Float(lr), weightDecay: Float(wd),
                             weightDecayMode: decoupled ? .decoupled : .l2)
        var theta = p.value.scalars.map(Double.init)
        var m = [Double](repeating: 0, count: 37), v = [Double](repeating: 0, count: 37)
        for step in 1...3 {
            let g = randomTensor([37], seed: 90 + UInt64(step))
            p.grad = g
            optimizer.step()
            for i in 0..<37 {
                var gi = Double(g.scalars[i])
                if decoupled { theta[i] *= 1 - lr * wd } else { gi += wd * theta[i] }
                m[i] = beta1 * m[i] + (1 - beta1) * gi
                v[i] = beta2 * v[i] + (1 - beta2) * gi * gi
                let mHat = m[i] / (1 - Foundation.pow(beta1, Double(step)))
                let denominator = (v[i] / (1 - Foundation.pow(beta2, Double(step)))).squareRoot() + eps
                theta[i] -= lr * mHat / denominator
            }
            let error = zip(p.value.scalars, theta).map { Swift.abs(Double($0) - $1) }.max() ?? 0
            #expect(error <= 1e-5, "step \(step): max error \(error)")
        }
    }
    @Test func adamL2() {
        compare("adam_l2") { Adam(parameters: $0, learningRate: 0.02, betas: (0.8, 0.99), epsilon: 1e-6, weightDecay: 0.1) }
    }
    @Test func adamW() { compare("adamw") { Adam.adamW(parameters: $0, learningRate: 0.01, weightDecay: 0.05) } }

    /// Saving the state mid-run and loading it into a fresh optimizer continues identically.
    @Test func adamStateRoundTrip() throws {
        let fixture = OptimizerFixture.shared
        let params = fixture.initial.map { Variable($0.tensor, requiresGrad: true) }
        var optimizer = Adam.adamW(parameters: numberedParameters(params), learningRate: 0.01, weightDecay: 0.05)
        for (step, grads) in fixture.grads.enumerated() {
            if step == 3 {
                let saved = optimizer.stateTensors()
                optimizer = Adam.adamW(parameters: numberedParameters(params), learningRate: 0.01, weightDecay: 0.05)
                try optimizer.loadState(saved)
            }
            for (p, g) in zip(params, grads) { p.grad = g.tensor }
            optimizer.step()
        }
        for (p, expected) in zip(params, fixture.runs["adamw"]!.trajectory.last!) {
            #expect(maxAbsDifference(p.value, expected.tensor) <= 2e-6)
        }
    }

    @Test func loadingMismatchedStateNamesEveryProblem() {
        let p = Variable(Tensor.zeros([2, 2]), requiresGrad: true)
        let optimizer = Adam(parameters: [("w", p)])
        let bad: [String: Tensor] = ["exp_avg.w": .zeros([3]), "exp_avg_sq.w": .zeros([2, 2]), "step.w": .ones([1]), "exp_avg.x": .zeros([1])]
        #expect {
            try optimizer.loadState(bad)
        } throws: { error in
            let text = String(describing: error)
            return text.contains("exp_avg.w: shape [3]") && text.contains("unexpected exp_avg.x")
        }
    }

    @Test func linearWarmupMatchesLinearLR() {
        let expected = OptimizerFixture.shared.schedules["linear_warmup"]!
        let schedule = LinearWarmup(warmupSteps: 8, startFactor: 0.25, then: ConstantSchedule(0.1))
        for (step, lr) in expected.enumerated() {
            #expect(abs(Double(schedule.learningRate(at: step)) - lr) <= 1e-7 * max(1, lr), "step \(step)")
        }
    }

    /// Compared over the annealing period T (torch's closed form rises again afterwards; this
    /// schedule holds the minimum).
    @Test func cosineMatchesCosineAnnealingLR() {
        let expected = OptimizerFixture.shared.schedules["cosine"]!
        let schedule = CosineSchedule(baseRate: 0.1, totalSteps: 10, minimumRate: 0.001)
        for step in 0...10 {
            #expect(abs(Double(schedule.learningRate(at: step)) - expected[step]) <= 1e-7, "step \(step)")
        }
        #expect(schedule.learningRate(at: 13) == schedule.learningRate(at: 10))
    }

    @Test func holdThenDelaysItsSchedule() {
        let cosine = CosineSchedule(baseRate: 0.1, totalSteps: 10, minimumRate: 0.001)
        let schedule = HoldThen(holdSteps: 5, then: cosine)
        for step in 0..<5 { #expect(schedule.learningRate(at: step) == 0.1, "step \(step)") }
        for step in 5...20 { #expect(schedule.learningRate(at: step) == cosine.learningRate(at: step - 5), "step \(step)") }
    }

    @Test func oneCycleMatchesOneCycleLR() {
        let expected = OptimizerFixture.shared.schedules["one_cycle"]!
        let schedule = OneCycleSchedule(maxRate: 0.5, totalSteps: 20)
        for (step, lr) in expected.enumerated() {
            #expect(abs(Double(schedule.learningRate(at: step)) - lr) <= 1e-7 * max(1, lr * 10), "step \(step)")
        }
    }

    @Test func clipGradientNormMatchesTorch() {
        let clip = OptimizerFixture.shared.clip
        let params = clip.grads.map { g -> Variable in
            let v = Variable(Tensor.zeros(g.shape), requiresGrad: true)
            v.grad = g.tensor
            return v
        }
        let total = clipGradientNorm(params, maxNorm: clip.max_norm)
        #expect(abs(total - clip.total_norm) <= 1e-5 * clip.total_norm)
        for (p, expected) in zip(params, clip.clipped) {
            #expect(maxAbsDifference(p.grad!, expected.tensor) <= 1e-6)
        }
    }

    /// EMA against its closed form: with constant θ, s_k = θ + β^k (s_0 − θ).
    @Test func exponentialMovingAverage() {
        let p = Variable(Tensor(shape: [2], scalars: [1, -1]), requiresGrad: true)
        let ema = ExponentialMovingAverage(parameters: [("w", p)], decay: 0.9)
        p.value = Tensor(shape: [2], scalars: [3, 5])
        for _ in 0..<10 { ema.update() }
        let factor = Foundation.pow(0.9, 10.0)
        let expected = [3 + factor * (1 - 3), 5 + factor * (-1 - 5)]
        for (s, e) in zip(ema.shadows["w"]!.scalars, expected) { #expect(abs(Double(s) - e) <= 1e-5) }
        ema.copyToParameters()
        #expect(p.value.scalars == ema.shadows["w"]!.scalars)
    }
}
