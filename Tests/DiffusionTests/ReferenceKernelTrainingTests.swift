// The switch to the reference kernels (`Kernels.withMode(.reference)`, the scoped form of
// `SWIFTDIFFUSION_KERNELS=reference`) changes nothing but rounding: the tiny pixel UNet of
// TrainingTests (two levels, attention on the second, group norms, class labels) is trained for a
// few steps on each path from the same seed, and the losses and the gradients must agree.
//
// Tolerances. The two paths compute the same sums in different orders (the fast kernels in
// Float32 blocks, the references in Double), so every op differs by a few Float32 units in the
// last place, ~1e-7 relative, and the ~40 layers of a forward and backward pass grow that to
// ~1e-5 at most. On the first step the weights are identical, so the loss must agree to 1e-5
// relative and every parameter's gradient to 1e-4 of its largest entry (except the attention key
// biases, whose gradient is zero in exact arithmetic and is checked to be rounding noise on both
// paths, at most 1e-6 of the model's largest gradient entry). Adam then divides each
// gradient by its own running magnitude, so a component that is nearly zero can move its weight
// by a different fraction of the learning rate (1e-3) on the two paths; after three steps the
// weights differ by up to ~1e-4 relative, and the losses are held to 1e-3 relative and the
// gradients to 1e-2 of their largest entry. A wiring error (a wrong index, a transposed operand,
// a missing term) moves either by O(1).

import Autograd
import Diffusion
import Tensor
import Testing

@Suite struct ReferenceKernelTrainingTests {
    /// Losses of `steps` training steps, then the loss and gradients of one more batch with
    /// fixed timesteps and noise, all on `mode`'s kernels.
    func train(_ mode: Kernels.Mode, steps: Int) throws -> (losses: [Float], gradients: [String: Tensor]) {
        try Kernels.withMode(mode) {
            let trainer = try DDPMTrainer(configuration: TrainingTests.tinyConfiguration(classes: 3),
                                          dataset: TrainingTests.tinyDataset())
            var losses = try (0..<steps).map { _ in try trainer.trainStep() }
            let (x0, labels) = trainer.dataset.batch([0, 1, 2, 3])
            var g = TorchGenerator(seed: 5)
            let noise = g.randn(x0.shape)
            trainer.optimizer.zeroGrad()
            let loss = trainer.loss(x0: x0, labels: labels, timesteps: [3, 40, 70, 99], noise: noise)
            loss.backward()
            losses.append(loss.value.item)
            let gradients = Dictionary(uniqueKeysWithValues: trainer.model.namedParameters().compactMap { p in
                p.variable.grad.map { (p.name, $0) }
            })
            return (losses, gradients)
        }
    }

    /// Checks losses within `lossTolerance` relative and each gradient within `gradientTolerance`
    /// of its largest entry.
    func expectAgreement(steps: Int, lossTolerance: Float, gradientTolerance: Float) throws {
        let fast = try train(.fast, steps: steps)
        let reference = try train(.reference, steps: steps)
        #expect(fast.losses.count == steps + 1)
        for (a, b) in zip(fast.losses, reference.losses) {
            #expect(Swift.abs(a - b) <= lossTolerance * Swift.abs(b), "loss \(a) (fast) against \(b) (reference)")
        }
        #expect(fast.gradients.keys.sorted() == reference.gradients.keys.sorted())
        #expect(fast.gradients.count > 20)
        let largest = { (t: Tensor) in t.scalars.map { Swift.abs($0) }.max() ?? 0 }
        let overall = reference.gradients.values.map(largest).max() ?? 0
        #expect(overall > 0)
        for (name, expected) in reference.gradients {
            guard let actual = fast.gradients[name] else { continue }
            if name.hasSuffix("to_k.bias") {
                // Zero in exact arithmetic: a key bias adds the same q·b to all of a query's
                // logits, which the softmax ignores. Both paths must leave only rounding noise.
                #expect(largest(actual) <= 1e-6 * overall && largest(expected) <= 1e-6 * overall,
                        "\(name): \(largest(actual)) (fast), \(largest(expected)) (reference), largest gradient \(overall)")
                continue
            }
            let scale = largest(expected)
            let difference = zip(actual.scalars, expected.scalars).map { Swift.abs($0 - $1) }.max() ?? 0
            #expect(difference <= gradientTolerance * scale, "\(name): largest difference \(difference), largest entry \(scale)")
        }
    }

    @Test func firstStepAgrees() throws {
        try expectAgreement(steps: 0, lossTolerance: 1e-5, gradientTolerance: 1e-4)
    }

    @Test func threeTrainingStepsAgree() throws {
        try expectAgreement(steps: 3, lossTolerance: 1e-3, gradientTolerance: 1e-2)
    }

    /// The switch reaches the kernels: inside the scope a product is the reference's to the bit,
    /// outside it is the fast kernel's (which sums in another order).
    @Test func scopedModeRoutesTheKernels() {
        var g = TorchGenerator(seed: 1)
        let a = g.randn([37, 300]), b = g.randn([300, 45])
        let scoped = Kernels.withMode(.reference) { a.matmul(b) }
        #expect(scoped.scalars == Reference.matmul(a, b).scalars)
        #expect(Kernels.current == Kernels.mode)
    }
}
