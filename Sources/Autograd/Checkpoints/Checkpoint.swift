// Training checkpoints: a folder with
//   weights.safetensors  model parameters (`model.<name>`), optimizer state (`optimizer.<key>`)
//                        and EMA weights (`ema.<name>`), all Float32, so values are bit-exact;
//   training.json        the configuration, the step and the random-number states.
//
// Saving is atomic for the pair: both files are written into `<folder>.partial`, then the old
// folder is renamed to `<folder>.previous`, the new one into place, and the old one removed. An
// interruption at any point leaves either the previous or the new checkpoint complete
// (`load` falls back to `<folder>.previous` when `<folder>` is missing). Resuming restores
// parameters, optimizer moments and step counts, and the generators, so N steps in one run
// equal k steps, save, load, N − k steps bit for bit.

import Foundation
import Tensor

/// The JSON part of a checkpoint: configuration, progress and random states.
public struct CheckpointState<Configuration: Codable>: Codable {
    /// The number of optimizer steps taken.
    public var step: Int
    /// The run's configuration (model sizes, learning rate, ...).
    public var configuration: Configuration
    /// The state of the generator used for noise and initialization, if any.
    public var generator: TorchGenerator.State?
    /// The data order (shuffling generator and position), if any.
    public var sampler: BatchSampler?
    /// Free-form extra values (for example the dropout generator states).
    public var extra: [String: String]

    /// Creates the state.
    public init(step: Int, configuration: Configuration, generator: TorchGenerator.State? = nil,
                sampler: BatchSampler? = nil, extra: [String: String] = [:]) {
        self.step = step
        self.configuration = configuration
        self.generator = generator
        self.sampler = sampler
        self.extra = extra
    }
}

/// A checkpoint that could not be read.
public struct CheckpointError: Error, CustomStringConvertible {
    /// What went wrong, with the path.
    public var description: String
}

/// Saving and loading training checkpoints.
public enum Checkpoint {
    /// The weights file inside a checkpoint folder.
    public static let weightsFile = "weights.safetensors"
    /// The JSON file inside a checkpoint folder.
    public static let stateFile = "training.json"

    /// Writes a checkpoint folder atomically (see the file comment).
    public static func save<C: Codable>(to folder: URL, model: any Module, optimizer: (any Optimizer)? = nil,
                                        ema: ExponentialMovingAverage? = nil, state: CheckpointState<C>) throws {
        var tensors: [String: Tensor] = [:]
        for (name, p) in model.namedParameters() { tensors["model." + name] = p.value }
        if let optimizer { for (key, t) in optimizer.stateTensors() { tensors["optimizer." + key] = t } }
        if let ema { for (name, t) in ema.shadows { tensors["ema." + name] = t } }

        let fileManager = FileManager.default
        let partial = folder.appendingPathExtension("partial")
        let previous = folder.appendingPathExtension("previous")
        try? fileManager.removeItem(at: partial)
        try fileManager.createDirectory(at: partial, withIntermediateDirectories: true)
        try Safetensors.write(tensors, dtype: .f32, metadata: ["format": "swift-diffusion checkpoint", "step": String(state.step)],
                              to: partial.appendingPathComponent(weightsFile))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(state), to: partial.appendingPathComponent(stateFile))

        try? fileManager.removeItem(at: previous)
        if fileManager.fileExists(atPath: folder.path) { try fileManager.moveItem(at: folder, to: previous) }
        try fileManager.moveItem(at: partial, to: folder)
        try? fileManager.removeItem(at: previous)
    }

    /// Reads a checkpoint into `model`, `optimizer` and `ema` (strictly by name) and returns its
    /// JSON state. Nothing is loaded into the model unless every weight fits.
    public static func load<C: Codable>(from folder: URL, model: any Module, optimizer: (any Optimizer)? = nil,
                                        ema: ExponentialMovingAverage? = nil, configuration: C.Type) throws -> CheckpointState<C> {
        let fileManager = FileManager.default
        var source = folder
        if !fileManager.fileExists(atPath: folder.path) {
            let previous = folder.appendingPathExtension("previous")
            guard fileManager.fileExists(atPath: previous.path) else {
                throw CheckpointError(description: "no checkpoint at \(folder.path)")
            }
            source = previous   // a save was interrupted between its two renames
        }
        let stateURL = source.appendingPathComponent(stateFile)
        let state: CheckpointState<C>
        do {
            state = try JSONDecoder().decode(CheckpointState<C>.self, from: Data(contentsOf: stateURL))
        } catch {
            throw CheckpointError(description: "cannot read \(stateURL.path): \(error)")
        }
        let file = try SafetensorsFile(contentsOf: source.appendingPathComponent(weightsFile))
        var groups: [String: [String: Tensor]] = ["model": [:], "optimizer": [:], "ema": [:]]
        for name in file.names {
            guard let dot = name.firstIndex(of: "."), groups[String(name[..<dot])] != nil else {
                throw CheckpointError(description: "\(source.path): unexpected tensor \(name) (expected model., optimizer. or ema. prefixes)")
            }
            groups[String(name[..<dot])]![String(name[name.index(after: dot)...])] = try file.tensor(named: name)
        }
        if file.metadata["step"] != String(state.step) {
            throw CheckpointError(description: "\(source.path): weights are from step \(file.metadata["step"] ?? "?") but \(stateFile) says \(state.step)")
        }
        try model.loadStateDictionary(groups["model"]!)
        if let optimizer { try optimizer.loadState(groups["optimizer"]!) }
        if let ema { try ema.loadShadows(groups["ema"]!) }
        return state
    }
}
