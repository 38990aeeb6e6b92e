// CLIPTokenizer+Loading: reading the vocabulary and the merge rules, from a Hugging Face
// `tokenizer/` folder or from OpenAI's `bpe_simple_vocab_16e6.txt.gz`, with every problem a
// `CLIPTokenizerError` naming the file.
//
// Hugging Face: `vocab.json` maps each token (byte-level spelling) to its id; `merges.txt` is a
// `#version: 0.2` line then one rule `left right` per line, rank = position among the rules
// (as `tokenizers`' BPE reads it: a line with other than two space-separated parts is an error,
// and both parts and their concatenation must be tokens of the vocabulary).
// OpenAI: the gzip file holds the same kind of version line and rules (262,144 of them); CLIP
// uses the first 48,894 and builds the vocabulary from them (`clip/simple_tokenizer.py`).

import Foundation
import Tensor

extension CLIPTokenizer {
    /// The number of merge rules CLIP uses from OpenAI's file: 49,152 − 256 − 2 = 48,894.
    static let openAIMergeCount = 49_152 - 256 - 2

    /// Loads `vocab.json` and `merges.txt`; `padToken` nil pads with the end token.
    init(vocabularyURL: URL, mergesURL: URL, padToken: String?) throws {
        let vocabularyFile = vocabularyURL.path
        let data = try Self.read(vocabularyURL)
        let vocabulary: [String: Int]
        do {
            vocabulary = try JSONDecoder().decode([String: Int].self, from: data)
        } catch {
            throw CLIPTokenizerError(file: vocabularyFile, problem: "is not a JSON object of token → integer id (\(Self.summary(of: error)))")
        }
        let rules = try Self.mergeRules(in: try Self.read(mergesURL), file: mergesURL.path, skippingVersionLine: false)
        try self.init(vocabulary: vocabulary, vocabularyFile: vocabularyFile, rules: rules,
                      mergesFile: mergesURL.path, padToken: padToken)
    }

    /// Builds the vocabulary from OpenAI's compressed merges file, as `simple_tokenizer.py`.
    init(openAIVocabulary compressed: Data, file name: String) throws {
        let data: Data
        do { data = try Gzip.decompress(compressed) } catch {
            throw CLIPTokenizerError(file: name, problem: "is not a readable gzip file (\(error))")
        }
        // Line 0 is the version; lines 1...48,894 are the rules CLIP uses (the rest are unused).
        let all = try Self.mergeRules(in: data, file: name, skippingVersionLine: true, limit: Self.openAIMergeCount)
        guard all.count == Self.openAIMergeCount else {
            throw CLIPTokenizerError(file: name, problem: "has \(all.count) merge rules, CLIP needs \(Self.openAIMergeCount)")
        }
        var tokens = Self.byteSymbols.map { String($0.symbol) }
        tokens += tokens.map { $0 + "</w>" }
        tokens += all.map { $0.left + $0.right }
        tokens += ["<|startoftext|>", "<|endoftext|>"]
        var vocabulary: [String: Int] = [:]
        for (id, token) in tokens.enumerated() { vocabulary[token] = id }   // a repeat keeps its last id, as a Python dict
        try self.init(vocabulary: vocabulary, vocabularyFile: name, rules: all, mergesFile: name, padToken: nil)
    }

    /// One merge rule as read, with its 1-based line for messages.
    struct MergeRule {
        let left: String
        let right: String
        let line: Int
    }

    /// Checks the vocabulary and turns the rules into id pairs.
    private init(vocabulary: [String: Int], vocabularyFile: String, rules: [MergeRule],
                 mergesFile: String, padToken: String?) throws {
        var tokens: [Int: String] = [:]
        for (token, id) in vocabulary {
            guard id >= 0 else { throw CLIPTokenizerError(file: vocabularyFile, problem: "token \"\(token)\" has the negative id \(id)") }
            if let other = tokens[id] {
                throw CLIPTokenizerError(file: vocabularyFile, problem: "id \(id) is given to both \"\(other)\" and \"\(token)\"")
            }
            tokens[id] = token
        }
        func id(of token: String, _ what: String) throws -> Int {
            guard let id = vocabulary[token] else {
                throw CLIPTokenizerError(file: vocabularyFile, problem: "has no token \"\(token)\" (\(what))")
            }
            return id
        }
        var byteIDs = [Int](repeating: 0, count: 256), finalByteIDs = byteIDs
        for (byte, symbol) in Self.byteSymbols {
            byteIDs[Int(byte)] = try id(of: String(symbol), "the symbol of byte \(byte)")
            finalByteIDs[Int(byte)] = try id(of: String(symbol) + "</w>", "the word-final symbol of byte \(byte)")
        }
        startTokenID = try id(of: "<|startoftext|>", "the start token")
        endTokenID = try id(of: "<|endoftext|>", "the end token")
        padTokenID = try padToken.map { try id(of: $0, "the pad token of the folder's special_tokens_map.json or tokenizer_config.json") } ?? endTokenID

        var merges = BPEMerges()
        for (rank, rule) in rules.enumerated() {
            func ruleID(_ token: String) throws -> Int {
                guard let id = vocabulary[token] else {
                    throw CLIPTokenizerError(file: mergesFile, problem: "line \(rule.line): the merge \"\(rule.left) \(rule.right)\" "
                        + "names \"\(token)\", which is not in the vocabulary (\(URL(fileURLWithPath: vocabularyFile).lastPathComponent))")
                }
                return id
            }
            merges.add(left: try ruleID(rule.left), right: try ruleID(rule.right),
                       merged: try ruleID(rule.left + rule.right), rank: rank)
        }
        self.vocabulary = vocabulary
        self.tokens = tokens
        self.merges = merges
        self.byteIDs = byteIDs
        self.finalByteIDs = finalByteIDs
    }

    /// The rules of a merges file: a first line starting with `#version` is skipped (always when
    /// `skippingVersionLine`), blank lines at the end are ignored, at most `limit` rules are read.
    static func mergeRules(in data: Data, file: String, skippingVersionLine: Bool, limit: Int = .max) throws -> [MergeRule] {
        guard let text = String(data: data, encoding: .utf8) else {
            throw CLIPTokenizerError(file: file, problem: "is not UTF-8 text")
        }
        // Lines and parts are cut on scalars: as `Character`s, "\r\n" is one grapheme, not "\n".
        var lines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false)
        while let last = lines.last, last.allSatisfy({ $0 == "\r" }) { lines.removeLast() }
        var rules: [MergeRule] = []
        rules.reserveCapacity(min(lines.count, limit))
        for (index, rawLine) in lines.enumerated() {
            if rules.count == limit { break }
            let line = rawLine.last == "\r" ? rawLine.dropLast() : rawLine
            if index == 0 && (skippingVersionLine || line.starts(with: "#version".unicodeScalars)) { continue }
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                let shown = String(String.UnicodeScalarView(line.prefix(80)))
                throw CLIPTokenizerError(file: file, problem: "line \(index + 1) is not a merge rule \"left right\": \"\(shown)\"")
            }
            rules.append(MergeRule(left: String(String.UnicodeScalarView(parts[0])),
                                   right: String(String.UnicodeScalarView(parts[1])), line: index + 1))
        }
        return rules
    }

    /// The pad token named by a tokenizer folder: `pad_token` of `special_tokens_map.json`,
    /// else of `tokenizer_config.json` (a string, or an object with `content`); nil if neither
    /// file names one.
    static func padToken(inFolder folder: URL) throws -> String? {
        for name in ["special_tokens_map.json", "tokenizer_config.json"] {
            let url = folder.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: url.path) else { continue }
            let object: Any
            do { object = try JSONSerialization.jsonObject(with: try read(url)) } catch let error as CLIPTokenizerError {
                throw error
            } catch {
                throw CLIPTokenizerError(file: url.path, problem: "is not valid JSON (\(summary(of: error)))")
            }
            guard let dictionary = object as? [String: Any] else {
                throw CLIPTokenizerError(file: url.path, problem: "is not a JSON object")
            }
            switch dictionary["pad_token"] {
            case let token as String: return token
            case let token as [String: Any]:
                guard let content = token["content"] as? String else {
                    throw CLIPTokenizerError(file: url.path, problem: "pad_token has no \"content\" string")
                }
                return content
            case nil, is NSNull: continue
            default: throw CLIPTokenizerError(file: url.path, problem: "pad_token is neither a string nor an object")
            }
        }
        return nil
    }

    /// The bytes of a file, or an error naming it.
    static func read(_ url: URL) throws -> Data {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw CLIPTokenizerError(file: url.path, problem: "does not exist")
        }
        do { return try Data(contentsOf: url) } catch {
            throw CLIPTokenizerError(file: url.path, problem: "cannot be read (\(fileErrorReason(error)))")
        }
    }

    /// A short description of a decoding error.
    static func summary(of error: any Error) -> String {
        if case DecodingError.dataCorrupted(let context) = error { return context.debugDescription }
        if case DecodingError.typeMismatch(_, let context) = error {
            return context.debugDescription + " at " + context.codingPath.map(\.stringValue).joined(separator: ".")
        }
        return "\(error)"
    }
}
