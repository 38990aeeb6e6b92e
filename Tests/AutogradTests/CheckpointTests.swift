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

/// Removes a checkpoint folder and its `.previous` and `.partial` companions.
private func removeAll(_ folder: URL) {
    for suffix in ["", ".previous", ".partial"] { try? FileManager.default.removeItem(atPath: folder.path + suffix) }
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

    @Test func savingKeepsThePreviousCheckpointAndSurvivesAnInterruptedSwap() throws {
        let folder = temporaryFolder()
        defer { removeAll(folder) }
        let run = Run(modelSeed: 0)
        run.trainStep()
        try run.save(to: folder)
        let firstWeights = try Data(contentsOf: folder.appendingPathComponent(Checkpoint.weightsFile))
        run.trainStep()
        try run.save(to: folder)
        // The newest is `folder`, the one before it `.previous`, unchanged byte for byte.
        #expect(try Data(contentsOf: folder.appendingPathComponent(Checkpoint.weightsFile)) != firstWeights)
        #expect(try Data(contentsOf: URL(fileURLWithPath: folder.path + ".previous/" + Checkpoint.weightsFile)) == firstWeights)
        #expect(!FileManager.default.fileExists(atPath: folder.path + ".partial"))
        // A `.previous` whose deletion was interrupted by a kill is removed by the next save.
        let stale = URL(fileURLWithPath: folder.path + ".discarded-1234")
        try FileManager.default.createDirectory(at: stale, withIntermediateDirectories: true)
        run.trainStep()
        try run.save(to: folder)
        #expect(!FileManager.default.fileExists(atPath: stale.path))
        let previous = Run(modelSeed: 5)
        try previous.load(from: URL(fileURLWithPath: folder.path + ".previous"))
        #expect(previous.step == 2)

        // An interruption after the old folder was moved aside but before the new one arrived:
        try FileManager.default.removeItem(atPath: folder.path + ".previous")
        try FileManager.default.moveItem(atPath: folder.path, toPath: folder.path + ".previous")
        let other = Run(modelSeed: 5)
        try other.load(from: folder)
        #expect(other.step == 3)
        #expect(other.model.stateDictionary()["0.weight"]!.scalars == run.model.stateDictionary()["0.weight"]!.scalars)
    }

    @Test func aCompletePartialCopyIsTheNewestAndIsKept() throws {
        let folder = temporaryFolder()
        defer { removeAll(folder) }
        let run = Run(modelSeed: 0)
        run.trainStep()
        try run.save(to: folder)
        run.trainStep()
        try run.save(to: folder)
        // A save stopped after `folder` became `.previous` and before `.partial` was renamed:
        try FileManager.default.removeItem(atPath: folder.path + ".previous")
        try FileManager.default.moveItem(atPath: folder.path, toPath: folder.path + ".partial")
        #expect(try Checkpoint.location(of: folder)?.lastPathComponent == folder.lastPathComponent + ".partial")
        let resumed = Run(modelSeed: 5)
        try resumed.load(from: folder)
        #expect(resumed.step == 2)
        // The next save moves it into place instead of deleting it: it becomes `.previous`.
        resumed.trainStep()
        try resumed.save(to: folder)
        let previous = Run(modelSeed: 7)
        try previous.load(from: URL(fileURLWithPath: folder.path + ".previous"))
        #expect(previous.step == 2)
        #expect(!FileManager.default.fileExists(atPath: folder.path + ".partial"))
    }

    @Test func weightsWithoutTheStateFileAreAnErrorAndAreNotOverwritten() throws {
        let folder = temporaryFolder()
        defer { removeAll(folder) }
        let run = Run(modelSeed: 0)
        run.trainStep()
        try run.save(to: folder)
        try FileManager.default.removeItem(at: folder.appendingPathComponent(Checkpoint.stateFile))
        let weights = try Data(contentsOf: folder.appendingPathComponent(Checkpoint.weightsFile))
        #expect {
            _ = try Checkpoint.location(of: folder)
        } throws: { error in
            let text = String(describing: error)
            return text.contains("no training.json") && text.contains("move the folder away")
        }
        #expect(throws: CheckpointError.self) { try run.save(to: folder) }
        #expect(try Data(contentsOf: folder.appendingPathComponent(Checkpoint.weightsFile)) == weights)
    }

    @Test func nonFiniteValuesAreNeverSavedNorLoaded() throws {
        let folder = temporaryFolder()
        defer { removeAll(folder) }
        let run = Run(modelSeed: 0)
        run.trainStep()
        try run.save(to: folder)
        let saved = try Data(contentsOf: folder.appendingPathComponent(Checkpoint.weightsFile))
        let weight = try #require(run.model.namedParameters().first { $0.name == "0.weight" }).variable
        weight.value[0, 0] = .nan
        #expect {
            try run.save(to: folder)
        } throws: { error in
            String(describing: error).contains("model.0.weight holds 1 NaN or infinite value")
        }
        #expect(try Data(contentsOf: folder.appendingPathComponent(Checkpoint.weightsFile)) == saved)
        #expect(!FileManager.default.fileExists(atPath: folder.path + ".partial"))

        // A file written with NaN by other means is refused at load.
        let file = try SafetensorsFile(contentsOf: folder.appendingPathComponent(Checkpoint.weightsFile))
        var tensors: [String: Tensor] = [:]
        for name in file.names { tensors[name] = try file.tensor(named: name) }
        var ema = tensors["ema.2.bias"]!
        ema[1] = .infinity
        tensors["ema.2.bias"] = ema
        try Safetensors.write(tensors, metadata: file.metadata, to: folder.appendingPathComponent(Checkpoint.weightsFile))
        #expect {
            try Run(modelSeed: 5).load(from: folder)
        } throws: { error in
            String(describing: error).contains("ema.2.bias holds 1 NaN or infinite value")
        }
    }

    @Test(arguments: [
        ("order", "[0, 1, 2, 3, 4, 5, 6, 7, 8, 1000000]", "order[9] = 1000000 lies outside 0..<10"),
        ("order", "[0, 1, 2]", "order has 3 indices but count is 10"),
        ("order", "[0, 1, 2, 3, 4, 5, 6, 7, 8, 8]", "holds index 8 twice"),
        ("batchSize", "0", "batchSize 0 must be at least 1"),
        ("position", "-4", "position -4 lies outside 0...10"),
        ("count", "0", "count 0 must be at least 1"),
    ])
    func damagedDataOrderIsRefusedAtLoad(field: String, value: String, message: String) throws {
        let folder = temporaryFolder()
        defer { removeAll(folder) }
        let run = Run(modelSeed: 0)
        run.trainStep()
        try run.save(to: folder)
        let url = folder.appendingPathComponent(Checkpoint.stateFile)
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        var sampler = json["sampler"] as! [String: Any]
        sampler[field] = try JSONSerialization.jsonObject(with: Data(value.utf8), options: .fragmentsAllowed)
        json["sampler"] = sampler
        try JSONSerialization.data(withJSONObject: json).write(to: url)
        #expect {
            try Run(modelSeed: 5).load(from: folder)
        } throws: { error in
            let text = String(describing: error)
            return text.contains(message) && text.contains(url.path)
        }
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
