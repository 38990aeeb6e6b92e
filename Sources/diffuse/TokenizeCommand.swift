// Contract: `diffuse tokenize` — reads prompts from standard input, one per line, and prints for
// each one line of 77 space-separated token ids, as Stable Diffusion's text encoder receives
// them (start token, the prompt's ids, end token, padding; `CLIPTokenizer.tokenize`, equal to
// transformers' `tokenizer(prompt, padding="max_length", max_length=77, truncation=True)`).
// `--model` takes a diffusers folder (its `tokenizer/`) or a tokenizer folder; without it the
// vocabulary bundled with the Diffusion module is used. A prompt cut to fit gets a warning on
// standard error naming how many tokens were dropped.

import ArgumentParser
import Diffusion
import Foundation

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Print the 77 CLIP token ids of each prompt read from standard input (one prompt per line).")

    @Option(help: ArgumentHelp("A diffusers model folder (reads its tokenizer/) or a tokenizer folder with vocab.json and merges.txt (default: the bundled OpenAI CLIP vocabulary).", valueName: "path"))
    var model: String?

    func run() throws {
        try reportingErrors {
            let tokenizer = try model.map { try CLIPTokenizer(folder: URL(fileURLWithPath: $0)) } ?? CLIPTokenizer.bundled()
            var number = 0
            while let line = readLine(strippingNewline: true) {
                number += 1
                let (ids, cut) = tokenizer.tokenize(line)
                if cut > 0 {
                    let limit = CLIPTokenizer.contextLength
                    let message = cut == 1 ? "1 token beyond the \(limit)-token limit was cut" : "\(cut) tokens beyond the \(limit)-token limit were cut"
                    FileHandle.standardError.write(Data("warning: prompt \(number): \(message)\n".utf8))
                }
                print(ids.map(String.init).joined(separator: " "))
            }
        }
    }
}
