// Lesson 03: training a classifier on Fashion-MNIST.
//
// Narrates, trains, plots. The pieces are library code with their own tests: the data set
// (Autograd/Data), the network (Autograd/Models/FashionClassifier.swift), the loss, AdamW and
// the one-cycle schedule (Autograd/Optimizers), checked against PyTorch. Writes the page
// 03-training.md and the trained classifier (its penultimate features are the feature space for
// the Fréchet distance used by later lessons and `diffuse fid`), with a JSON record of how it
// was made, to out/lesson-03/ (`--out DIR`); `--docs` writes the page to docs/lessons/.
// The shipped models/fashion-classifier.safetensors, on which every FID in docs/ depends, is
// replaced only when asked: `--output models/fashion-classifier.safetensors --overwrite`.
//
//   swift run -c release lesson-03-training [--epochs 3] [--batch-size 128] [--limit N]
//        [--learning-rate 0.003] [--output FILE [--overwrite]] [--data DIR]

import ArgumentParser
import Foundation
import LessonKit
import Tensor
import Autograd

// MARK: - Options

/// The lesson's options (`--help` lists them).
struct Options: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "lesson-03-training")

    @Option(parsing: .unconditional, help: "Passes over the 60,000 training images.")
    var epochs = 3
    @Option(parsing: .unconditional, help: "Images per optimizer step.")
    var batchSize = 128
    @Option(parsing: .unconditional, help: "Train on the first N images only (quick runs).")
    var limit: Int?
    @Option(parsing: .unconditional, help: "Peak learning rate (AdamW).")
    var learningRate: Float = 3e-3
    @Option(help: "Where the trained classifier is saved (default: fashion-classifier.safetensors in the output folder).")
    var output: String?
    @Flag(help: "Allow --output to replace an existing file (the shipped models/fashion-classifier.safetensors, for example).")
    var overwrite = false
    @Option(help: "Folder of the Fashion-MNIST idx files (default: $FASHION_MNIST_DIR or /usr/share/datasets/fashion-mnist).")
    var data: String?
    @OptionGroup var lessonOutput: LessonOutputOptions

    func validate() throws {
        guard (1...1000).contains(epochs) else { throw ValidationError("--epochs must lie in 1...1000, got \(epochs)") }
        guard (1...60_000).contains(batchSize) else { throw ValidationError("--batch-size must lie in 1...60000, got \(batchSize)") }
        if let limit, limit <= 0 { throw ValidationError("--limit takes a positive integer, got \(limit)") }
        guard learningRate.isFinite, learningRate > 0 else { throw ValidationError("--learning-rate takes a finite positive number, got \(learningRate)") }
        if let output, !overwrite, FileManager.default.fileExists(atPath: output) {
            throw ValidationError("\(output) exists; add --overwrite to replace it, or choose another --output")
        }
    }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    exit(1)
}

func format(_ x: Double, _ digits: Int) -> String { format(x, digits: digits) }

let options = Options.parseOrExit()
let report = options.lessonOutput.report(lesson: "lesson-03-training", slug: "03-training", title: "Lesson 03: training a classifier")
let weightsPath = options.output ?? options.lessonOutput.outPath(slug: "03-training") + "/fashion-classifier.safetensors"

// MARK: - Data

report.heading("The data")
let dataFolder = options.data.map { URL(fileURLWithPath: $0) }
let train: LabelledDataset
let test: LabelledDataset
do {
    train = try FashionMNIST.load(.train, folder: dataFolder, limit: options.limit)
    test = try FashionMNIST.load(.test, folder: dataFolder)
} catch {
    fail("\(error)")
}
report.paragraph("""
    Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017) has 60 000 training and 10 000 test images of \
    clothing, 28 x 28 gray pixels, in ten classes. It has the format of the old handwritten-digit \
    MNIST, but is harder: a shirt and a pullover can look alike at this size. The files are in the \
    *idx* format: a small header (a magic number, the element type, the sizes) followed by raw \
    bytes. We read \(train.count) training and \(test.count) test images (from the folder given by \
    `--data` or `$FASHION_MNIST_DIR`) and scale the bytes to [0, 1].
    """)
let sampleIndices = Array(0..<32)
let samples = train.batch(sampleIndices).inputs
let grid = imageGrid(samples, columns: 8, padding: 2)
exitOnError { try report.figure(Figure(rows: 1, columns: 1, width: 720, height: 400, plots: [Plot(image: grid)]), name: "samples",
                  caption: "The first 32 training images. Labels, row by row: " +
                    sampleIndices.map { FashionMNIST.classNames[train.labels[$0]] }.joined(separator: ", ") + ".",
                  showInTerminal: false) }

// MARK: - The network

report.heading("The network")
var generator = TorchGenerator(seed: 0)
let model = FashionClassifier(generator: &generator)
report.paragraph("""
    Three 3 x 3 convolutions, each followed by a ReLU; the second and third step two pixels at a \
    time (stride 2), halving the image: 28 → 14 → 7. The 64 x 7 x 7 numbers are flattened and \
    mapped to 128 *features* and then to ten *logits*, one score per class. The softmax of the \
    logits is the predicted distribution over classes. Every parameter has a name, the same one \
    PyTorch would give it, and starts from PyTorch's default initialization (uniform in \
    ±1/√fan-in), drawn from a generator seeded with 0:
    """)
report.table(headers: ["parameter", "shape", "count"],
             rows: model.namedParameters().map { [$0.name, "\($0.variable.shape)", "\($0.variable.value.count)"] }
                + [["total", "", "\(model.parameterCount)"]],
             alignments: [.left, .left, .right])

// MARK: - Training

report.heading("Training")
let stepsPerEpoch = train.count / options.batchSize
let totalSteps = stepsPerEpoch * options.epochs
let optimizer = Adam.adamW(parameters: model.namedParameters(), learningRate: options.learningRate, weightDecay: 0.01)
let schedule = OneCycleSchedule(maxRate: options.learningRate, totalSteps: Swift.max(totalSteps, 2))
var sampler = BatchSampler(count: train.count, batchSize: options.batchSize, dropsLast: true, seed: 1)
report.paragraph("""
    One training step takes a batch of \(options.batchSize) images, computes the logits, the \
    cross-entropy loss −log softmax(z)[label] averaged over the batch, and its gradient with \
    respect to every parameter by `backward()`; then AdamW (Loshchilov & Hutter, 2019) moves each \
    parameter. The learning rate follows the one-cycle schedule (Smith & Topin, 2018): it rises \
    from \(format(Double(options.learningRate) / 25, 5)) to \(options.learningRate) over the first \
    30% of the \(totalSteps) steps and then falls along a cosine to nearly zero. An epoch is one \
    pass over the training images in a new random order (seeded, so the run repeats exactly).
    """)

var losses: [Double] = []
var learningRates: [Double] = []
var epochAccuracies: [(epoch: Int, train: Double, test: Double)] = []
let progress = ProgressBar(total: totalSteps, label: "training")
let start = Timing.now()
var step = 0
for epoch in 1...options.epochs {
    for _ in 0..<stepsPerEpoch {
        let (x, labels) = train.batch(sampler.next())
        optimizer.learningRate = schedule.learningRate(at: step)
        optimizer.zeroGrad()
        let loss = crossEntropy(logits: model(Variable(x)), labels: labels)
        loss.backward()
        optimizer.step()
        losses.append(Double(loss.value.item))
        learningRates.append(Double(optimizer.learningRate))
        step += 1
        let recent = losses.suffix(50)
        progress.advance(message: "epoch \(epoch) loss \(format(recent.reduce(0, +) / Double(recent.count), 3))")
    }
    let trainSubset = train.batch(Array(0..<Swift.min(train.count, 10_000)))
    let trainAccuracy = model.accuracy(on: LabelledDataset(inputs: trainSubset.inputs, labels: trainSubset.labels))
    let testAccuracy = model.accuracy(on: test)
    epochAccuracies.append((epoch, trainAccuracy, testAccuracy))
    print("epoch \(epoch): train accuracy \(format(100 * trainAccuracy, 2))%, test accuracy \(format(100 * testAccuracy, 2))%")
}
progress.finish()
let seconds = Timing.now() - start
let finalAccuracy = epochAccuracies.last!.test
report.paragraph("""
    \(totalSteps) steps took \(ProgressBar.duration(seconds)) (\(format(seconds / Double(totalSteps) * 1000, 0)) ms \
    per step, \(format(Double(totalSteps * options.batchSize) / seconds, 0)) images per second, \
    \(Parallel.threadCount) threads). The test accuracy after the last epoch is \
    **\(format(100 * finalAccuracy, 2))%**.
    """)
report.table(headers: ["epoch", "train accuracy (first 10 000)", "test accuracy"],
             rows: epochAccuracies.map { ["\($0.epoch)", format(100 * $0.train, 2) + "%", format(100 * $0.test, 2) + "%"] },
             alignments: [.right, .right, .right])

// Loss curve (smoothed over 50 steps) and the learning rate.
let window = 50
let smoothed = losses.indices.map { i -> Double in
    let lo = Swift.max(0, i - window + 1)
    return losses[lo...i].reduce(0, +) / Double(i - lo + 1)
}
var lossPlot = Plot(title: "training loss", xLabel: "step", yLabel: "cross-entropy", logY: true, legend: .topRight)
lossPlot.line(x: losses.indices.map(Double.init), y: losses, title: "per batch", color: "#c7c7c7", lineWidth: 1)
lossPlot.line(x: smoothed.indices.map(Double.init), y: smoothed, title: "mean of last \(window)", color: "#1f77b4")
var ratePlot = Plot(title: "learning rate (one-cycle)", xLabel: "step", yLabel: "learning rate", legend: .hidden)
ratePlot.line(x: learningRates.indices.map(Double.init), y: learningRates, color: "#d62728")
var accuracyPlot = Plot(title: "accuracy after each epoch", xLabel: "epoch", yLabel: "accuracy (%)", legend: .bottomRight)
accuracyPlot.line(x: epochAccuracies.map { Double($0.epoch) }, y: epochAccuracies.map { 100 * $0.train },
                  title: "train (first 10 000)", points: .circle)
accuracyPlot.line(x: epochAccuracies.map { Double($0.epoch) }, y: epochAccuracies.map { 100 * $0.test },
                  title: "test", points: .square)
exitOnError { try report.figure(Figure(rows: 1, columns: 3, width: 1300, height: 420, plots: [lossPlot, ratePlot, accuracyPlot]),
                  name: "curves", caption: "Left: the loss of every batch and its running mean. Middle: the learning rate. Right: accuracy after each epoch.") }

// MARK: - What the classifier gets wrong

report.heading("Which classes are confused")
let predicted = model.predictions(test.inputs)
var confusion = [[Double]](repeating: [Double](repeating: 0, count: 10), count: 10)
for (p, t) in zip(predicted, test.labels) { confusion[t][p] += 1 }
report.table(headers: ["class", "test accuracy", "most often mistaken for"],
             rows: (0..<10).map { c in
                 let row = confusion[c]
                 let total = row.reduce(0, +)
                 let wrong = row.enumerated().filter { $0.offset != c }.max { $0.element < $1.element }!
                 return [FashionMNIST.classNames[c], format(100 * row[c] / total, 1) + "%",
                         "\(FashionMNIST.classNames[wrong.offset]) (\(Int(wrong.element)))"]
             }, alignments: [.left, .right, .left])
var confusionPlot = Plot(heatmap: confusion.map { row in row.map { log10(1 + $0) } }, title: "Test images by true and predicted class")
confusionPlot.xLabel = "predicted class"
confusionPlot.yLabel = "true class"
confusionPlot.xTicks = FashionMNIST.classNames.enumerated().map { Tick(Double($0.offset), $0.element) }
confusionPlot.xTickRotation = 45
confusionPlot.yTicks = FashionMNIST.classNames.enumerated().map { Tick(Double($0.offset), $0.element) }
exitOnError { try report.figure(Figure(rows: 1, columns: 1, width: 760, height: 680, font: "sans,12", plots: [confusionPlot]),
                  name: "confusion", caption: "Confusion matrix on the test set: rows the true class, columns the prediction; colour is log10(1 + count), so the diagonal (about 1000 per class) is near 3 and single mistakes show.",
                  showInTerminal: false) }

// MARK: - Saving

let outputURL = URL(fileURLWithPath: weightsPath)
exitOnError { try FileManager.default.createDirectory(at: outputURL.deletingLastPathComponent(), withIntermediateDirectories: true) }
exitOnError { try model.saveWeights(to: outputURL, metadata: ["model": "FashionClassifier", "test_accuracy": format(finalAccuracy, 4),
                                                "epochs": "\(options.epochs)"]) }
// How the weights were made, beside them (models/fashion-classifier.json for the shipped file,
// which `diffuse fid` uses as its feature extractor).
struct ClassifierRecord: Encodable {
    let model = "FashionClassifier"
    let weights: String
    let command: String
    let epochs: Int, batchSize: Int, learningRate: Float, trainingImages: Int
    let initializationSeed = 0, batchOrderSeed = 1
    let testAccuracy: Double
    let use = "FID feature extractor: FashionClassifier.features, the 128 ReLU outputs of fc1 (diffuse fid)"
}
let record = ClassifierRecord(
    weights: outputURL.lastPathComponent,
    command: (["swift run -c release lesson-03-training"] + CommandLine.arguments.dropFirst()).joined(separator: " "),
    epochs: options.epochs, batchSize: options.batchSize, learningRate: options.learningRate, trainingImages: train.count,
    testAccuracy: (finalAccuracy * 10_000).rounded() / 10_000)
let recordEncoder = JSONEncoder()
recordEncoder.outputFormatting = [.prettyPrinted, .sortedKeys]
recordEncoder.keyEncodingStrategy = .convertToSnakeCase
exitOnError { try AtomicFile.write(recordEncoder.encode(record) + Data("\n".utf8),
                     to: outputURL.deletingPathExtension().appendingPathExtension("json")) }
report.heading("Saving the classifier")
report.paragraph("""
    The weights are saved as safetensors under their PyTorch names to `\(weightsPath)` (the copy that ships, \
    `models/fashion-classifier.safetensors`, is replaced only by `--output models/fashion-classifier.safetensors \
    --overwrite`, because every FID in `docs/` is measured with it). A PyTorch \
    module with the same attribute names loads them with `load_state_dict`; later lessons load \
    them with `FashionClassifier.loadWeights(from:)` and use `features(_:)`, the 128 numbers \
    before the last layer, to compare sets of generated and real images (a Fréchet distance in \
    this feature space, since the Inception network of the usual FID is not available here).
    """)

// MARK: - Recap and exercise

report.heading("Recap")
report.paragraph("""
    - A training step is forward, loss, `backward()`, optimizer step. Autograd wrote no gradient \
    code here: every op recorded its own backward rule, each checked against finite differences \
    in `Tests/AutogradTests`.
    - AdamW, the one-cycle schedule and the cross-entropy follow PyTorch's definitions and are \
    tested against `torch.optim` update sequences.
    - \(options.epochs) epochs of a 0.43 M-parameter network reach \(format(100 * finalAccuracy, 1))% \
    on images it never saw during training.
    """)
report.heading("Exercise")
report.paragraph("""
    Add a `GroupNorm(groups: 8, channels: 32)` after `conv2` (and one with 64 channels after \
    `conv3`) in `FashionClassifier`, before the ReLU. Does the loss fall faster in the first \
    epoch? Then try a constant learning rate of 0.003 instead of the one-cycle schedule \
    (`ConstantSchedule(0.003)`) and compare the final test accuracy.
    """)
exitOnError { try report.write() }
