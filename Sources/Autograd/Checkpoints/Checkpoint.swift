// Training checkpoints: a folder with
//   weights.safetensors  model parameters (`model.<name>`), optimizer state (`optimizer.<key>`)
//                        and EMA weights (`ema.<name>`), all Float32, so values are bit-exact;
//   training.json        the configuration, the step and the random-number states.
//
// Saving rotates three folders next to each other, each step a rename, so a kill at any moment
// leaves a complete checkpoint on disk:
//   1. both files are written into `<folder>.partial` (each file atomically, the JSON last);
//   2. the old `<folder>.previous` is renamed to `<folder>.discarded-<UUID>` and deleted (a
//      copy whose deletion was interrupted is deleted by the next save);
//   3. `<folder>` becomes `<folder>.previous` (the last good checkpoint stays beside the newest);
//   4. `<folder>.partial` becomes `<folder>`.
// `location(of:)` says which folder to read: `<folder>` when complete, else a complete
// `<folder>.partial` (a save stopped between steps 2 and 4 had finished writing it, so it is the
// newest), else `<folder>.previous`. A `<folder>` that holds files but not both of them is an
// error that says what to do, never taken for "no checkpoint". A non-finite value is never
// written (the save throws and the checkpoints on disk stay as they were) and never loaded.
// Resuming restores parameters, optimizer moments and step counts, and the generators, so N
// steps in one run equal k steps, save, load, N − k steps bit for bit.

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

    /// The folder a save writes into before renaming it to `folder`.
    public static func partialFolder(of folder: URL) -> URL { folder.appendingPathExtension("partial") }
    /// The last good checkpoint kept beside the newest one.
    public static func previousFolder(of folder: URL) -> URL { folder.appendingPathExtension("previous") }

    /// True when `folder` holds both checkpoint files.
    public static func isComplete(_ folder: URL) -> Bool {
        let fm = FileManager.default
        return fm.fileExists(atPath: folder.appendingPathComponent(weightsFile).path)
            && fm.fileExists(atPath: folder.appendingPathComponent(stateFile).path)
    }

    /// The folder to read the checkpoint `folder` from (see the file comment): `folder`, a
    /// complete `folder.partial` or `folder.previous`; nil when there is no checkpoint at all.
    /// - Throws: `CheckpointError` when `folder` holds files but is not a complete checkpoint
    ///   (for example weights without `training.json`): it is neither resumed nor overwritten.
    public static func location(of folder: URL) throws -> URL? {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: folder.path, isDirectory: &isDirectory) {
            if !isDirectory.boolValue {
                throw CheckpointError(description: "\(folder.path) is a file, not a checkpoint folder; move it away or choose another output folder")
            }
            if isComplete(folder) { return folder }
            let contents = (try? fm.contentsOfDirectory(atPath: folder.path)) ?? []
            if !contents.isEmpty {
                let missing = [weightsFile, stateFile].filter { !contents.contains($0) }
                throw CheckpointError(description: "\(folder.path) is not a complete checkpoint: it has \(contents.sorted().joined(separator: ", ")) "
                    + "but no \(missing.joined(separator: " or ")). It is left untouched: to resume, restore the missing file "
                    + "(a checkpoint needs both \(weightsFile) and \(stateFile)); to start a new run, move the folder away "
                    + "or choose another output folder")
            }
        }
        for candidate in [partialFolder(of: folder), previousFolder(of: folder)] where isComplete(candidate) { return candidate }
        return nil
    }

    /// Writes a checkpoint and rotates the folders (see the file comment).
    /// - Throws: `CheckpointError` when a tensor holds NaN or infinity (nothing is written and
    ///   the checkpoints on disk stay as they were) or when `folder` is an incomplete checkpoint.
    public static func save<C: Codable>(to folder: URL, model: any Module, optimizer: (any Optimizer)? = nil,
                                        ema: ExponentialMovingAverage? = nil, state: CheckpointState<C>) throws {
        var tensors: [String: Tensor] = [:]
        for (name, p) in model.namedParameters() { tensors["model." + name] = p.value }
        if let optimizer { for (key, t) in optimizer.stateTensors() { tensors["optimizer." + key] = t } }
        if let ema { for (name, t) in ema.shadows { tensors["ema." + name] = t } }
        for name in tensors.keys.sorted() {
            let bad = tensors[name]!.nonFiniteCount
            if bad > 0 {
                throw CheckpointError(description: "checkpoint at step \(state.step) not saved: \(name) holds \(bad) NaN or infinite "
                    + "value(s) of \(tensors[name]!.count); the checkpoints in \(folder.path) are kept as they were")
            }
        }

        let fileManager = FileManager.default
        let partial = partialFolder(of: folder), previous = previousFolder(of: folder)
        // A save stopped after writing `.partial` but before renaming it holds the newest
        // checkpoint when `folder` is missing: move it into place instead of deleting it.
        let current = try location(of: folder)
        if current != folder && fileManager.fileExists(atPath: folder.path) {
            try fileManager.removeItem(at: folder)      // empty (`location` throws for any other content)
        }
        if current == partial { try fileManager.moveItem(at: partial, to: folder) }
        try? fileManager.removeItem(at: partial)     // an incomplete leftover, or older than `folder`
        try fileManager.createDirectory(at: partial, withIntermediateDirectories: true)
        try Safetensors.write(tensors, dtype: .f32, metadata: ["format": "swift-diffusion checkpoint", "step": String(state.step)],
                              to: partial.appendingPathComponent(weightsFile))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(state), to: partial.appendingPathComponent(stateFile))

        if fileManager.fileExists(atPath: folder.path) {
            if fileManager.fileExists(atPath: previous.path) {
                // Renamed first, so `.previous` is either whole or gone, never half deleted.
                let discarded = folder.appendingPathExtension("discarded-\(UUID().uuidString)")
                try fileManager.moveItem(at: previous, to: discarded)
                try? fileManager.removeItem(at: discarded)
            }
            try fileManager.moveItem(at: folder, to: previous)
        }
        try fileManager.moveItem(at: partial, to: folder)
        // Old `.previous` copies whose deletion an earlier save did not finish.
        let parent = folder.deletingLastPathComponent(), stale = folder.lastPathComponent + ".discarded-"
        for name in (try? fileManager.contentsOfDirectory(atPath: parent.path)) ?? [] where name.hasPrefix(stale) {
            try? fileManager.removeItem(at: parent.appendingPathComponent(name))
        }
    }

    /// Reads a checkpoint into `model`, `optimizer` and `ema` (strictly by name) and returns its
    /// JSON state, from the folder `location(of:)` names. Nothing is loaded into the model unless
    /// every weight fits and every value is finite.
    public static func load<C: Codable>(from folder: URL, model: any Module, optimizer: (any Optimizer)? = nil,
                                        ema: ExponentialMovingAverage? = nil, configuration: C.Type) throws -> CheckpointState<C> {
        guard let source = try location(of: folder) else {
            throw CheckpointError(description: "no checkpoint at \(folder.path)")
        }
        let state: CheckpointState<C> = try readState(source.appendingPathComponent(stateFile))
        let file = try SafetensorsFile(contentsOf: source.appendingPathComponent(weightsFile))
        var groups: [String: [String: Tensor]] = ["model": [:], "optimizer": [:], "ema": [:]]
        for name in file.names {
            guard let dot = name.firstIndex(of: "."), groups[String(name[..<dot])] != nil else {
                throw CheckpointError(description: "\(source.path): unexpected tensor \(name) (expected model., optimizer. or ema. prefixes)")
            }
            let tensor = try file.tensor(named: name)
            let bad = tensor.nonFiniteCount
            if bad > 0 {
                throw CheckpointError(description: "\(source.path): \(name) holds \(bad) NaN or infinite value(s) of \(tensor.count); "
                    + "the run had diverged or the file is corrupt. Resume from an earlier checkpoint "
                    + "(\(previousFolder(of: folder).lastPathComponent), if present) or start a new run")
            }
            groups[String(name[..<dot])]![String(name[name.index(after: dot)...])] = tensor
        }
        if file.metadata["step"] != String(state.step) {
            throw CheckpointError(description: "\(source.path): weights are from step \(file.metadata["step"] ?? "?") but \(stateFile) says \(state.step)")
        }
        try model.loadStateDictionary(groups["model"]!)
        if let optimizer { try optimizer.loadState(groups["optimizer"]!) }
        if let ema { try ema.loadShadows(groups["ema"]!) }
        return state
    }

    /// Decodes a `training.json`, validating the data order it holds (`BatchSampler`).
    /// - Throws: `CheckpointError` naming the file and the field that is wrong.
    public static func readState<C: Codable>(_ url: URL) throws -> CheckpointState<C> {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw CheckpointError(description: "cannot read \(url.path): \(fileErrorReason(error))")
        }
        let state: CheckpointState<C>
        do {
            state = try JSONDecoder().decode(CheckpointState<C>.self, from: data)
        } catch DecodingError.dataCorrupted(let context) {
            throw CheckpointError(description: "\(url.path): \(context.debugDescription)")
        } catch {
            throw CheckpointError(description: "\(url.path) is not a readable training state: \(error)")
        }
        guard state.step >= 0 else {
            throw CheckpointError(description: "\(url.path): step \(state.step) is negative")
        }
        return state
    }
}
