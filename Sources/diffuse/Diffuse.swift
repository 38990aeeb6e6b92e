// Contract: the `diffuse` command-line tool for diffusion experiments: `train` a DDPM, `sample`
// image grids from a trained model with any sampler, `export` a checkpoint's EMA weights as a
// diffusers DDPMPipeline folder, `fid` (one FID against the Fashion-MNIST test set) and
// `fid-sweep` (FID for every sampler × step count, as a resumable CSV), and Stable Diffusion's
// `txt2img`, `img2img` and `inpaint` (GenerateCommands.swift). Every subcommand has
// `--help`; unknown options are rejected by swift-argument-parser; errors from the libraries
// (missing checkpoint, config mismatch, bad data) are printed as one clear message and exit
// with status 1.

import ArgumentParser
import Foundation
import Tensor

/// The root command.
@main
struct Diffuse: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diffuse",
        abstract: "Train and sample small diffusion models (SwiftDiffusion).",
        subcommands: [TrainCommand.self, SampleCommand.self, SamplersCommand.self, ExportCommand.self, EncodeLatentsCommand.self, FIDCommand.self, FIDSweepCommand.self, TokenizeCommand.self,
                      TextToImageCommand.self, ImageToImageCommand.self, InpaintCommand.self])
}

/// Runs `body`; a thrown library error is printed as `error: <description>` and exits with 1
/// (argument-parser's own errors pass through, so they still print usage).
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as ExitCode {
        throw error
    } catch let error as CleanExit {
        throw error
    } catch {
        FileHandle.standardError.write(Data("error: \(describeFileError(error))\n".utf8))
        throw ExitCode.failure
    }
}

/// Parses a comma-separated list ("a, b,c"): each item trimmed of spaces and given to `item`;
/// "none" or "" is the empty list. The one comma-list parser of the command-line tool.
func parseCommaList<T>(_ text: String, option: String, _ item: (String) throws -> T) throws -> [T] {
    let trimmed = text.trimmingCharacters(in: .whitespaces)
    if trimmed.isEmpty || trimmed.lowercased() == "none" { return [] }
    return try trimmed.split(separator: ",").map { try item($0.trimmingCharacters(in: .whitespaces)) }
}

/// Parses a comma-separated list of integers ("32,64,128"); "none" or "" is the empty list.
func parseIntegers(_ text: String, option: String) throws -> [Int] {
    try parseCommaList(text, option: option) { item in
        guard let v = Int(item) else {
            throw ValidationError("\(option): \"\(text)\" is not a comma-separated list of integers")
        }
        return v
    }
}
