// Guidance in the evaluation commands (issue 15, part 3): classifier-free guidance evaluates
// both halves in one network call and equals the two-call formula; scale 1 is the plain
// conditional prediction and 0 the unconditional one; class-balanced labels and the class
// accuracy against hand-computed cases; the fid-sweep CSV columns and the reading of a CSV
// from before the guidance columns; the guidance errors.

import Autograd
import Diffusion
import Foundation
import Tensor
import Testing

@Suite struct GuidanceEvaluationTests {
    /// A tiny class-conditional pixel model (3 classes) with the seeded initial weights.
    static func conditionalModel() throws -> DDPMModel {
        let trainer = try DDPMTrainer(configuration: TrainingTests.tinyConfiguration(classes: 3), dataset: TrainingTests.tinyDataset())
        return try DDPMModel(trainer: trainer)
    }

    @Test func batchedGuidanceIsOneCallOnTheStackedBatch() throws {
        // A paired denoiser whose halves differ: rows < B see "no condition" (x), rows ≥ B see it (2x + 1).
        var shapes: [[Int]] = []
        let paired = ClosureDenoiser { x, _ in
            shapes.append(x.shape)
            let b = x.shape[0] / 2
            return Tensor.concatenate([x.sliced(axis: 0, 0..<b), x.sliced(axis: 0, b..<(2 * b)) * 2 + 1], axis: 0)
        }
        let x = Tensor(shape: [2, 3], scalars: [1, -2, 0.5, 3, 0, -1])
        let guided = try BatchedGuidedDenoiser(paired: paired, scale: 4).denoise(x, sigma: 1)
        #expect(shapes == [[4, 3]])
        // u = x, c = 2x + 1: u + 4 (c − u) = x + 4 (x + 1) = 5x + 4.
        #expect(guided.shape == [2, 3])
        #expect(guided.scalars == [9, -6, 6.5, 19, 4, -1])
    }

    @Test func modelGuidanceAtScaleOneIsTheConditionalPredictionAndZeroTheUnconditional() throws {
        let model = try Self.conditionalModel()
        var g = TorchGenerator(seed: 11)
        let x = g.randn([2, 1, 8, 8]) * 3
        let labels = [1, 2]
        for sigma in [0.3, 2.5] {
            let conditional = try model.denoiser(classLabels: labels).denoise(x, sigma: sigma)
            let unconditional = try model.denoiser(classLabels: nil).denoise(x, sigma: sigma)
            #expect(try model.denoiser(classLabels: labels, guidanceScale: 1).denoise(x, sigma: sigma).scalars == conditional.scalars)
            #expect(try model.denoiser(classLabels: labels, guidanceScale: 0).denoise(x, sigma: sigma).scalars == unconditional.scalars)
            #expect(conditional.scalars != unconditional.scalars)      // the label changes the prediction
            // Scale 7.5 in one batched call against eq. 6 computed from the two separate calls.
            let batched = try model.denoiser(classLabels: labels, guidanceScale: 7.5).denoise(x, sigma: sigma)
            let expected = zip(unconditional.scalars, conditional.scalars).map { u, c in u + 7.5 * (c - u) }
            let scale = expected.map(abs).max()!
            #expect(zip(batched.scalars, expected).allSatisfy { abs($0 - $1) <= 1e-5 * scale })
        }
    }

    @Test func balancedLabelsAndClassAccuracyByHand() {
        #expect(ClassGuidance.balancedLabels(first: 0, count: 4, classes: 10) == [0, 1, 2, 3])
        #expect(ClassGuidance.balancedLabels(first: 98, count: 5, classes: 10) == [8, 9, 0, 1, 2])
        // 4 of 6 predictions equal the requested class.
        #expect(classAccuracy(predicted: [0, 1, 2, 3, 9, 9], requested: [0, 1, 5, 3, 0, 9]) == 4.0 / 6.0)
        #expect(classAccuracy(predicted: [], requested: []) == 0)
    }

    /// A class-conditional generator of blank images that records what it was asked for.
    final class RecordingGenerator: ImageGenerator {
        var requests: [ClassGuidance?] = []
        var classCount: Int? = 10
        func generateImages(count: Int, sampler: String, steps: Int, schedule: String?, seed: UInt64,
                            guidance: ClassGuidance?) throws -> Tensor {
            requests.append(guidance)
            return Tensor(shape: [count, 1, 28, 28], repeating: -1)
        }
        func modelEvaluations(sampler: String, steps: Int, schedule: String?) throws -> Int { steps }
    }

    @Test func generatedFeaturesRequestBalancedClassesAndScoreThem() throws {
        // A classifier whose last layer always answers class 7 (zero weights, bias one-hot at 7).
        var generator = TorchGenerator(seed: 0)
        let classifier = FashionClassifier(generator: &generator)
        classifier.fc2.weight.value = Tensor(shape: [10, 128], repeating: 0)
        classifier.fc2.bias!.value = Tensor(shape: [10], scalars: (0..<10).map { $0 == 7 ? 1 : 0 })
        let extractor = FashionFeatureExtractor(classifier: classifier)
        let model = RecordingGenerator()
        let result = try extractor.generatedFeatures(of: model, count: 25, sampler: "euler", steps: 3, schedule: nil, seed: 0,
                                                     batchSize: 10, guidanceScale: 2.5)
        #expect(model.requests.map { $0?.labels.count } == [10, 10, 5])
        #expect(model.requests.allSatisfy { $0?.scale == 2.5 })
        #expect(result.requestedClasses == (0..<25).map { $0 % 10 })
        #expect(result.predictedClasses == Array(repeating: 7, count: 25))
        #expect(result.classAccuracy == 2.0 / 25.0)        // images 7 and 17 asked for class 7
        #expect(result.features.shape == [25, 128])
        // Without guidance: unconditional requests and no accuracy.
        let plain = try extractor.generatedFeatures(of: model, count: 3, sampler: "euler", steps: 3, schedule: nil, seed: 0,
                                                    batchSize: 10, guidanceScale: nil)
        #expect(model.requests.last! == nil && plain.classAccuracy == nil)
        // Guidance evaluations: twice the steps when the two halves are combined.
        #expect(try model.modelEvaluations(sampler: "euler", steps: 5, schedule: nil, guidanceScale: 4) == 10)
        #expect(try model.modelEvaluations(sampler: "euler", steps: 5, schedule: nil, guidanceScale: 1) == 5)
        #expect(try model.modelEvaluations(sampler: "euler", steps: 5, schedule: nil, guidanceScale: nil) == 5)
    }

    @Test func guidanceErrors() throws {
        let model = RecordingGenerator()
        var generator = TorchGenerator(seed: 0)
        let extractor = FashionFeatureExtractor(classifier: FashionClassifier(generator: &generator))
        func message(_ scale: Double, classes: Int?) -> String {
            model.classCount = classes
            do {
                _ = try extractor.generatedFeatures(of: model, count: 2, sampler: "euler", steps: 1, schedule: nil, seed: 0,
                                                    batchSize: 2, guidanceScale: scale)
                return "no error"
            } catch {
                return String(describing: error)
            }
        }
        #expect(message(-1, classes: 10).contains("finite number ≥ 0"))
        #expect(message(.nan, classes: 10).contains("finite number ≥ 0"))
        #expect(message(.infinity, classes: 10).contains("finite number ≥ 0"))
        #expect(message(2, classes: nil).contains("the model is unconditional"))
        #expect(message(2, classes: 3).contains("3 classes but the classifier"))
        #expect(message(0, classes: 10) == "no error")
        // A pixel model refuses a non-finite scale itself.
        let conditional = try Self.conditionalModel()
        #expect(throws: TrainingError.self) { try conditional.sample(count: 1, steps: 2, classLabels: [0], guidanceScale: .nan) }
    }

    @Test func sweepTableColumnsAndTheLayoutBeforeGuidance() throws {
        #expect(FIDSweepTable.header == ["model", "sampler", "schedule", "steps", "model_evaluations", "count", "seed", "batch_size",
                                         "classifier", "fid", "seconds", "precision", "recall", "guidance", "class_accuracy"])
        #expect(FIDSweepTable.keyColumns.contains("guidance") && !FIDSweepTable.keyColumns.contains("class_accuracy"))
        #expect(FIDSweepTable.guidanceCell(nil) == "" && FIDSweepTable.guidanceCell(7.5) == "7.5" && FIDSweepTable.guidanceCell(1) == "1.0")

        let old = "model,sampler,schedule,steps,model_evaluations,count,seed,batch_size,classifier,fid,seconds,precision,recall\n"
            + "m,euler,default,5,5,250,0,100,abc,165.7,12.5,0.72,0.42\n"
        let upgraded = try FIDSweepTable.upgraded(CSVTable(parsing: old), source: "old.csv")
        #expect(upgraded.header == FIDSweepTable.header)
        #expect(upgraded.rows == [["m", "euler", "default", "5", "5", "250", "0", "100", "abc", "165.7", "12.5", "0.72", "0.42", "", ""]])
        #expect(FIDSweepTable.key(of: upgraded.rows[0]) == ["m", "euler", "default", "5", "250", "0", "100", "abc", ""])
        #expect(try FIDSweepTable.upgraded(upgraded, source: "new.csv") == upgraded)

        let other = try CSVTable(parsing: "model,fid\nm,3\n")
        let error = try #require(throws: FIDSweepTableError.self) { try FIDSweepTable.upgraded(other, source: "other.csv") }
        #expect(error.description.contains("other.csv exists with the columns model,fid") && error.description.contains("choose another --output"))

        // Through a file: an old sweep is read in the new layout; a missing file is an empty table.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sweep-table-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let file = folder.appendingPathComponent("old.csv")
        try old.write(to: file, atomically: true, encoding: .utf8)
        #expect(try FIDSweepTable.read(at: file) == upgraded)
        #expect(try FIDSweepTable.read(at: folder.appendingPathComponent("none.csv")).rows.isEmpty)
    }
}
