import Foundation
import Testing
import Tensor
import Autograd

/// A small classifier trained with AdamW, EMA, shuffled batches and input noise from a
/// TorchGenerator: every piece of state a resume has to restore.
private final class Run {
    struct Configuration: Codable, Equatable { var learningRate: Float; var batchSize: Int }
    let configuration = Configuration(learningRate: 0.01, batchSize: 4)
    let model: Sequential
    let optimizer: Adam
    let ema: ExponentialMovingAverage
    var sampler: BatchSampler
    var generator: TorchGenerator
    var step = 0
    let data: LabelledDataset

    init(modelSeed: UInt64) {
        var g = TorchGenerator(seed: modelSeed)
        model = Sequential([Linear(inputFeatures: 4, outputFeatures: 8, generator: &g), SiLU(),
                            Linear(inputFeatures: 8, outputFeatures: 3, generator: &g)])
        optimizer = Adam.adamW(parameters: model.namedParameters(), learningRate: configuration.learningRate)
        ema = ExponentialMovingAverage(parameters: model.namedParameters(), decay: 0.9)
        sampler = BatchSampler(count: 10, batchSize: configuration.batchSize, seed: 7)
        generator = TorchGenerator(seed: 11)
        var dataGenerator = TorchGenerator(seed: 3)
        data = LabelledDataset(inputs: dataGenerator.randn([10, 4]), labels: (0..<10).map { $0 % 3 })
    }

    func trainStep() {
        let (x, labels) = data.batch(sampler.next())
        let noisy = x + generator.randn(x.shape) * 0.1
        optimizer.zeroGrad()
        let loss = crossEntropy(logits: model(Variable(noisy)), labels: labels)
        loss.backward()
        optimizer.step()
        ema.update()
        step += 1
    }

    func save(to url: URL) throws {
        try Checkpoint.save(to: url, model: model, optimizer: optimizer, ema: ema,
                            state: CheckpointState(step: step, configuration: configuration,
                                                   generator: generator.state, sampler: sampler))
    }

    func load(from url: URL) throws {
        let state = try Checkpoint.load(from: url, model: model, optimizer: optimizer, ema: ema,
                                        configuration: Configuration.self)
        #expect(state.configuration == configuration)
        step = state.step
        sampler = state.sampler!
        generator = try TorchGenerator(state: state.generator!)
    }
}

private func temporaryFolder() -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent("autograd-checkpoint-\(UUID().uuidString)")
}

@Suite("Checkpoints: exact resume, atomic replacement")
struct CheckpointTests {
    @Test func resumeIsBitIdentical() throws {
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder.deletingLastPathComponent().appendingPathComponent(folder.lastPathComponent)) }
        let n = 7, k = 3
        let straight = Run(modelSeed: 0)
        for _ in 0..<n { straight.trainStep() }

        let first = Run(modelSeed: 0)
        for _ in 0..<k { first.trainStep() }
        try first.save(to: folder)
        let resumed = Run(modelSeed: 99)            // different initial weights: all must come from the file
        try resumed.load(from: folder)
        #expect(resumed.step == k)
        for _ in k..<n { resumed.trainStep() }

        for ((name, a), (_, b)) in zip(straight.model.namedParameters(), resumed.model.namedParameters()) {
            #expect(a.value.scalars == b.value.scalars, "parameter \(name)")
        }
        for (name, shadow) in straight.ema.shadows {
            #expect(shadow.scalars == resumed.ema.shadows[name]!.scalars, "ema \(name)")
        }
    }

    @Test func savingReplacesThePreviousCheckpointAndSurvivesAnInterruptedSwap() throws {
        let folder = temporaryFolder()
        defer {
            for suffix in ["", ".previous", ".partial"] { try? FileManager.default.removeItem(atPath: folder.path + suffix) }
        }
        let run = Run(modelSeed: 0)
        run.trainStep()
        try run.save(to: folder)
        run.trainStep()
        try run.save(to: folder)
        #expect(!FileManager.default.fileExists(atPath: folder.path + ".previous"))
        #expect(!FileManager.default.fileExists(atPath: folder.path + ".partial"))

        // An interruption after the old folder was moved aside but before the new one arrived:
        try FileManager.default.moveItem(atPath: folder.path, toPath: folder.path + ".previous")
        let other = Run(modelSeed: 5)
        try other.load(from: folder)
        #expect(other.step == 2)
        #expect(other.model.stateDictionary()["0.weight"]!.scalars == run.model.stateDictionary()["0.weight"]!.scalars)
    }

    @Test func loadingIntoAnotherArchitectureNamesTheProblem() throws {
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try Run(modelSeed: 0).save(to: folder)
        var g = TorchGenerator(seed: 0)
        let wrong = Sequential([Linear(inputFeatures: 4, outputFeatures: 5, generator: &g)])
        #expect {
            _ = try Checkpoint.load(from: folder, model: wrong, configuration: Run.Configuration.self)
        } throws: { error in
            let text = String(describing: error)
            return text.contains("0.weight") && text.contains("unexpected keys: 2.bias, 2.weight")
        }
    }

    @Test func missingCheckpointIsAnError() {
        #expect(throws: CheckpointError.self) {
            _ = try Checkpoint.load(from: temporaryFolder(), model: Sequential([]), configuration: Run.Configuration.self)
        }
    }
}
