// CLIPTokenizer: the byte-level BPE tokenizer of CLIP's text encoder (Radford et al. 2021,
// "Learning Transferable Visual Models From Natural Language Supervision"), the one Stable
// Diffusion 1.x and 2.x use to turn a prompt into the 77 token ids the text encoder reads.
//
// Contract: `tokenize(prompt)` returns exactly `transformers.CLIPTokenizer.from_pretrained(
// <sd folder>/tokenizer)(prompt, padding="max_length", max_length=77, truncation=True)
// .input_ids` of transformers v5 (backed by the `tokenizers` library), and `encode(text)`
// returns `tokenizer.encode(text, add_special_tokens=False)`; the fixture
// `Tests/DiffusionTests/Fixtures/clip_tokenizer.json` (tools/make_clip_tokenizer_fixture.py)
// holds several hundred prompts checked id for id. The steps, one file each:
//   1. special tokens: `<|endoftext|>` is cut out of the raw text, `<|startoftext|>` out of the
//      normalized text (as the `tokenizers` added-token vocabulary does);
//   2. normalization (`CLIPTokenizer+Normalization.swift`): NFC, every run of white space
//      becomes one space, lower-case — no ftfy, no HTML unescaping (OpenAI's original tokenizer
//      does both; docs/tokenizer.md shows where the ids differ);
//   3. pre-tokenization (same file): CLIP's split pattern keeps contractions, runs of letters,
//      single digits and runs of other non-space characters, and drops white space;
//   4. byte-level BPE (`CLIPTokenizer+BPE.swift`, Sennrich et al. 2016, "Neural Machine
//      Translation of Rare Words with Subword Units"): each piece's UTF-8 bytes become symbols,
//      the last one marked `</w>`, and the merges apply in rank order.
// The vocabulary comes from a Hugging Face `tokenizer/` folder (`vocab.json`, `merges.txt`,
// `CLIPTokenizer+Loading.swift`) or from OpenAI's `bpe_simple_vocab_16e6.txt.gz`, shipped as a
// resource of this module (`bundled()`); both give the same ids. Bad files are a thrown
// `CLIPTokenizerError` naming the file and the problem.

import Foundation

/// A vocabulary or merges file that could not be used.
public struct CLIPTokenizerError: Error, CustomStringConvertible, Sendable {
    /// The file (or resource) at fault.
    public let file: String
    /// What is wrong with it.
    public let problem: String

    /// Creates an error for `file` saying `problem`.
    public init(file: String, problem: String) {
        self.file = file
        self.problem = problem
    }

    /// A sentence naming the file and the problem.
    public var description: String { "CLIP tokenizer: \(file): \(problem)" }
}

/// CLIP's byte-level BPE tokenizer (49,408 tokens), matching transformers' `CLIPTokenizer`.
///
/// ```swift
/// let tokenizer = try CLIPTokenizer.bundled()
/// tokenizer.encode("a photo of a cat")            // [320, 1125, 539, 320, 2368]
/// tokenizer.tokenize("a photo of a cat").ids      // [49406, 320, ..., 2368, 49407, 49407, ...] (77)
/// ```
/// The type is an immutable value (no cache), so one tokenizer can serve any number of tasks.
public struct CLIPTokenizer: Sendable {
    /// The sequence length of Stable Diffusion's text encoder: 77 positions.
    public static let contextLength = 77

    /// The id of `<|startoftext|>` (49406 in CLIP's vocabulary), placed before the prompt.
    public let startTokenID: Int
    /// The id of `<|endoftext|>` (49407), placed after the prompt.
    public let endTokenID: Int
    /// The id that fills the positions after the end token: `<|endoftext|>` for SD 1.x, `!`
    /// (id 0) for SD 2.x, read from the folder's `special_tokens_map.json`.
    public internal(set) var padTokenID: Int

    /// Token string → id; strings are in the byte-level alphabet (`Ġ`-style characters).
    let vocabulary: [String: Int]
    /// id → token string, for `token(for:)`.
    let tokens: [Int: String]
    /// The merge rules keyed by their packed pair of ids (`BPEMerges`).
    let merges: BPEMerges
    /// The id of each byte's symbol inside a word, and at the end of a word (`</w>`).
    let byteIDs: [Int], finalByteIDs: [Int]

    /// The number of tokens in the vocabulary (49,408 for CLIP).
    public var vocabularySize: Int { vocabulary.count }

    /// Loads a Hugging Face tokenizer: `vocab.json` (token → id) and `merges.txt` (one merge
    /// `left right` per line, by rank, after a `#version` line). Pads with the end token.
    ///
    /// - Throws: `CLIPTokenizerError` when a file is missing or malformed, a merge names a token
    ///   the vocabulary lacks, or a byte or special token is missing.
    public init(vocabularyURL: URL, mergesURL: URL) throws {
        try self.init(vocabularyURL: vocabularyURL, mergesURL: mergesURL, padToken: nil)
    }

    /// Loads the tokenizer of a folder: a `tokenizer/` folder (`vocab.json`, `merges.txt`,
    /// optionally `special_tokens_map.json`), or a diffusers pipeline folder holding one. The
    /// pad token is the folder's `pad_token` (from `special_tokens_map.json`, else
    /// `tokenizer_config.json`), or the end token when neither names one.
    public init(folder: URL) throws {
        let manager = FileManager.default
        var directory = folder
        if !manager.fileExists(atPath: folder.appendingPathComponent("vocab.json").path),
           manager.fileExists(atPath: folder.appendingPathComponent("tokenizer/vocab.json").path) {
            directory = folder.appendingPathComponent("tokenizer")
        }
        try self.init(vocabularyURL: directory.appendingPathComponent("vocab.json"),
                      mergesURL: directory.appendingPathComponent("merges.txt"),
                      padToken: try Self.padToken(inFolder: directory))
    }

    /// Builds the vocabulary from OpenAI's `bpe_simple_vocab_16e6.txt.gz` (gzip-compressed,
    /// a version line then merges) as `clip/simple_tokenizer.py` does: the 256 byte symbols, the
    /// same with `</w>`, the first 48,894 merges, `<|startoftext|>`, `<|endoftext|>` — 49,408
    /// tokens with the ids of Hugging Face's `vocab.json`. Pads with the end token.
    public init(openAIVocabularyURL url: URL) throws {
        try self.init(openAIVocabulary: try Self.read(url), file: url.path)
    }

    /// The tokenizer built from the copy of OpenAI's `bpe_simple_vocab_16e6.txt.gz` shipped in
    /// this module's resources (MIT licence, `Resources/LICENSE.*`); no files needed.
    public static func bundled() throws -> CLIPTokenizer {
        guard let url = Bundle.module.url(forResource: "bpe_simple_vocab_16e6.txt", withExtension: "gz",
                                          subdirectory: "Resources") else {
            throw CLIPTokenizerError(file: "Resources/bpe_simple_vocab_16e6.txt.gz",
                                     problem: "is missing from the Diffusion module's resource bundle")
        }
        return try CLIPTokenizer(openAIVocabularyURL: url)
    }

    /// The ids of `text`, without start, end or padding and without truncation.
    public func encode(_ text: String) -> [Int] {
        var ids: [Int] = []
        // `<|endoftext|>` is matched in the raw text, `<|startoftext|>` in the normalized text:
        // the `tokenizers` added-token vocabulary holds the first as "not normalized" and the
        // second as "normalized" (so `<|STARTOFTEXT|>` is the start token, `<|ENDOFTEXT|>` is
        // not the end token).
        for segment in Self.split(Array(text.unicodeScalars), at: Self.endOfText) {
            guard case .text(let raw) = segment else { ids.append(endTokenID); continue }
            for part in Self.split(Self.normalize(raw), at: Self.startOfText) {
                guard case .text(let normalized) = part else { ids.append(startTokenID); continue }
                for word in Self.preTokenize(normalized) {
                    var bytes: [UInt8] = []
                    for scalar in word { UTF8.encode(scalar) { bytes.append($0) } }
                    ids.append(contentsOf: bytePairEncode(bytes))
                }
            }
        }
        return ids
    }

    /// The model input for `prompt`: the start token, the prompt's ids, the end token, then the
    /// pad token up to `length`. A prompt longer than `length − 2` ids keeps its first
    /// `length − 2`; `truncatedTokenCount` says how many were cut (0 when it fits).
    ///
    /// Equals transformers' `tokenizer(prompt, padding="max_length", max_length=length,
    /// truncation=True).input_ids`.
    public func tokenize(_ prompt: String, length: Int = CLIPTokenizer.contextLength)
        -> (ids: [Int], truncatedTokenCount: Int) {
        precondition(length >= 2, "length \(length) leaves no room for the start and end tokens")
        let body = encode(prompt)
        let kept = min(body.count, length - 2)
        var ids = [startTokenID]
        ids.reserveCapacity(length)
        ids.append(contentsOf: body[0..<kept])
        ids.append(endTokenID)
        ids.append(contentsOf: repeatElement(padTokenID, count: length - ids.count))
        return (ids, body.count - kept)
    }

    /// The id of a token string of the vocabulary (byte-level spelling, `</w>` at word ends).
    public func id(of token: String) -> Int? { vocabulary[token] }

    /// The token string of an id (byte-level spelling), nil outside the vocabulary.
    public func token(for id: Int) -> String? { tokens[id] }
}
