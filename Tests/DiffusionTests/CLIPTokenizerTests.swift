// CLIPTokenizer against transformers: every prompt of the fixture clip_tokenizer.json
// (tools/make_clip_tokenizer_fixture.py: transformers v5 `CLIPTokenizer` on the real SD 1.5
// tokenizer folder) gives the same 77 ids and the same unpadded ids, with the bundled OpenAI
// vocabulary (always) and with ../shared/sd15/tokenizer (when present); the bundled vocabulary
// equals vocab.json id for id; truncation reports how many ids were cut; a folder's pad token is
// used; bad files are thrown errors naming the file.
//
// Tests that need ../shared are skipped with a message when it is missing; $SWIFTDIFFUSION_SHARED
// points elsewhere (as in TAESDTests). The bundled-vocabulary tests never need it.

import Diffusion
import Foundation
import Testing

/// Where the tokenizer tests find their inputs.
enum CLIPTokenizerTestData {
    /// `$SWIFTDIFFUSION_SHARED` when set, else `../shared` next to the package, if it holds the
    /// SD 1.5 tokenizer folder.
    static var sharedFolder: URL? {
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        var candidates = [packageRoot.deletingLastPathComponent().appendingPathComponent("shared")]
        if let env = ProcessInfo.processInfo.environment["SWIFTDIFFUSION_SHARED"] {
            candidates.insert(URL(fileURLWithPath: env), at: 0)
        }
        return candidates.first { FileManager.default.fileExists(atPath: $0.appendingPathComponent("sd15/tokenizer/vocab.json").path) }
    }

    /// `../shared/sd15/tokenizer`, if present.
    static var sd15Tokenizer: URL? { sharedFolder?.appendingPathComponent("sd15/tokenizer") }

    /// The message shown for a skipped test.
    static let skipMessage: Comment = "needs ../shared/sd15/tokenizer (or $SWIFTDIFFUSION_SHARED); CI has it"

    /// The bundled tokenizer, loaded once.
    static let bundled: Result<CLIPTokenizer, any Error> = Result { try CLIPTokenizer.bundled() }

    /// The fixture written by tools/make_clip_tokenizer_fixture.py.
    static func fixture() throws -> CLIPTokenizerFixture {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/clip_tokenizer.json")
        return try JSONDecoder().decode(CLIPTokenizerFixture.self, from: Data(contentsOf: url))
    }

    /// A temporary folder for one test.
    static func temporaryFolder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("clip-tokenizer-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// The fixture: transformers' ids for each prompt.
struct CLIPTokenizerFixture: Decodable {
    struct Case: Decodable {
        let category: String
        let prompt: String
        /// `tokenizer(prompt, padding="max_length", max_length=77, truncation=True).input_ids`.
        let input_ids: [Int]
        /// `tokenizer.encode(prompt, add_special_tokens=False)`.
        let encoded: [Int]
    }

    struct Difference: Decodable {
        let prompt: String
        let transformers: [Int]
        let openai: [Int]
    }

    let transformers_version: String
    let tokenizers_version: String
    let cases: [Case]
    let openai_differences: [Difference]
}

/// Checks every fixture prompt with `tokenizer`; returns how many matched.
@discardableResult
private func checkFixture(_ tokenizer: CLIPTokenizer, label: String) throws -> Int {
    let fixture = try CLIPTokenizerTestData.fixture()
    var matched = 0
    for item in fixture.cases {
        let encoded = tokenizer.encode(item.prompt)
        let (ids, cut) = tokenizer.tokenize(item.prompt)
        let shown = item.prompt.unicodeScalars.map { $0.isASCII && $0.value >= 0x20 ? String($0) : "\\u{\(String($0.value, radix: 16))}" }.joined()
        #expect(encoded == item.encoded, "\(label), \(item.category): \"\(shown)\" encode")
        #expect(ids == item.input_ids, "\(label), \(item.category): \"\(shown)\" padded ids")
        #expect(cut == max(0, item.encoded.count - 75), "\(label), \(item.category): \"\(shown)\" truncated count")
        if encoded == item.encoded && ids == item.input_ids { matched += 1 }
    }
    print("CLIPTokenizer (\(label)): \(matched) of \(fixture.cases.count) prompts match transformers "
        + "\(fixture.transformers_version) (tokenizers \(fixture.tokenizers_version))")
    #expect(fixture.cases.count >= 300)
    return matched
}

@Suite("CLIPTokenizer")
struct CLIPTokenizerTests {
    @Test("bundled vocabulary: every fixture prompt gives transformers' ids")
    func fixtureBundled() throws {
        try checkFixture(try CLIPTokenizerTestData.bundled.get(), label: "bundled")
    }

    @Test("SD 1.5 tokenizer folder: every fixture prompt gives transformers' ids",
          .enabled(if: CLIPTokenizerTestData.sd15Tokenizer != nil, CLIPTokenizerTestData.skipMessage))
    func fixtureFolder() throws {
        let tokenizer = try CLIPTokenizer(folder: CLIPTokenizerTestData.sd15Tokenizer!)
        #expect(tokenizer.padTokenID == 49407)
        try checkFixture(tokenizer, label: "sd15/tokenizer")
    }

    @Test("\"a photo of a cat\" is 49406 320 1125 539 320 2368 49407 and 70 pads")
    func photoOfACat() throws {
        let tokenizer = try CLIPTokenizerTestData.bundled.get()
        #expect(tokenizer.vocabularySize == 49_408)
        #expect(tokenizer.startTokenID == 49406 && tokenizer.endTokenID == 49407 && tokenizer.padTokenID == 49407)
        #expect(tokenizer.encode("a photo of a cat") == [320, 1125, 539, 320, 2368])
        let (ids, cut) = tokenizer.tokenize("a photo of a cat")
        #expect(ids == [49406, 320, 1125, 539, 320, 2368, 49407] + Array(repeating: 49407, count: 70))
        #expect(cut == 0)
        #expect(tokenizer.token(for: 2368) == "cat</w>")
        #expect(tokenizer.id(of: "cat</w>") == 2368)
        #expect(tokenizer.tokenize("").ids == [49406] + Array(repeating: 49407, count: 76))
    }

    @Test("truncation keeps the start token, the first length − 2 ids and the end token")
    func truncation() throws {
        let tokenizer = try CLIPTokenizerTestData.bundled.get()
        let prompt = Array(repeating: "cat", count: 100).joined(separator: " ")   // 100 ids of 2368
        let (ids, cut) = tokenizer.tokenize(prompt)
        #expect(ids.count == 77 && cut == 25)
        #expect(ids == [49406] + Array(repeating: 2368, count: 75) + [49407])
        #expect(tokenizer.tokenize(Array(repeating: "cat", count: 75).joined(separator: " ")).truncatedTokenCount == 0)
        #expect(tokenizer.tokenize(Array(repeating: "cat", count: 76).joined(separator: " ")).truncatedTokenCount == 1)
        let short = tokenizer.tokenize("a photo of a cat", length: 4)
        #expect(short.ids == [49406, 320, 1125, 49407] && short.truncatedTokenCount == 3)
    }

    @Test("the bundled vocabulary equals vocab.json id for id, and ../shared/clip's file gives the same",
          .enabled(if: CLIPTokenizerTestData.sd15Tokenizer != nil, CLIPTokenizerTestData.skipMessage))
    func bundledEqualsVocabularyFile() throws {
        let bundled = try CLIPTokenizerTestData.bundled.get()
        let folder = CLIPTokenizerTestData.sd15Tokenizer!
        let vocabulary = try JSONDecoder().decode([String: Int].self, from: Data(contentsOf: folder.appendingPathComponent("vocab.json")))
        #expect(vocabulary.count == bundled.vocabularySize)
        var mismatches = 0
        for (token, id) in vocabulary where bundled.id(of: token) != id || bundled.token(for: id) != token {
            mismatches += 1
            if mismatches <= 5 { Issue.record("\"\(token)\": vocab.json \(id), bundled \(bundled.id(of: token).map(String.init) ?? "none")") }
        }
        #expect(mismatches == 0)
        let shared = try CLIPTokenizer(openAIVocabularyURL: CLIPTokenizerTestData.sharedFolder!.appendingPathComponent("clip/bpe_simple_vocab_16e6.txt.gz"))
        let fromFiles = try CLIPTokenizer(vocabularyURL: folder.appendingPathComponent("vocab.json"),
                                          mergesURL: folder.appendingPathComponent("merges.txt"))
        for text in ["a photo of a cat", "Ångström’s café, (masterpiece:1.2) 🐱🐶 東京 &amp; 12.5%"] {
            #expect(shared.encode(text) == bundled.encode(text))
            #expect(fromFiles.encode(text) == bundled.encode(text))
        }
    }

    @Test("OpenAI's original tokenizer differs on some prompts (the fixture's examples are real differences)")
    func openAIDifferences() throws {
        let fixture = try CLIPTokenizerTestData.fixture()
        let tokenizer = try CLIPTokenizerTestData.bundled.get()
        #expect(!fixture.openai_differences.isEmpty)
        for difference in fixture.openai_differences {
            #expect(difference.openai != difference.transformers)
            #expect(tokenizer.encode(difference.prompt) == difference.transformers)
        }
    }

    /// A small tokenizer folder: the 512 byte symbols of CLIP (ids as in CLIP), the two special
    /// tokens, and the merges `c a`, `ca t</w>`.
    private func writeSmallFolder(_ folder: URL, merges: String = "#version: 0.2\nc a\nca t</w>\n",
                                  vocabularyJSON: String? = nil, specialTokensMap: String? = nil) throws {
        let bundled = try CLIPTokenizerTestData.bundled.get()
        var vocabulary: [String: Int] = [:]
        for id in 0..<512 { vocabulary[bundled.token(for: id)!] = id }
        vocabulary["<|startoftext|>"] = 512
        vocabulary["<|endoftext|>"] = 513
        vocabulary["ca"] = 514
        vocabulary["cat</w>"] = 515
        let json = try vocabularyJSON ?? String(decoding: JSONEncoder().encode(vocabulary), as: UTF8.self)
        try Data(json.utf8).write(to: folder.appendingPathComponent("vocab.json"))
        try Data(merges.utf8).write(to: folder.appendingPathComponent("merges.txt"))
        if let specialTokensMap {
            try Data(specialTokensMap.utf8).write(to: folder.appendingPathComponent("special_tokens_map.json"))
        }
    }

    @Test("a folder's own vocabulary, merges and pad token (SD 2.x pads with \"!\" = id 0)")
    func smallFolder() throws {
        let folder = try CLIPTokenizerTestData.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try writeSmallFolder(folder, merges: "#version: 0.2\r\nc a\r\nca t</w>\r\n",
                             specialTokensMap: #"{"pad_token": {"content": "!", "lstrip": false}}"#)
        let tokenizer = try CLIPTokenizer(folder: folder)
        #expect(tokenizer.vocabularySize == 516 && tokenizer.padTokenID == 0)
        #expect(tokenizer.encode("Cat cats") == [515, 514, 83, 338])        // cat</w>, ca, t, s</w>
        #expect(tokenizer.tokenize("cat").ids == [512, 515, 513] + Array(repeating: 0, count: 74))

        // A diffusers folder: the tokenizer is read from its tokenizer/ subfolder.
        let pipeline = try CLIPTokenizerTestData.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: pipeline) }
        try FileManager.default.copyItem(at: folder, to: pipeline.appendingPathComponent("tokenizer"))
        #expect(try CLIPTokenizer(folder: pipeline).tokenize("cat").ids == tokenizer.tokenize("cat").ids)
    }

    @Test("bad files are errors naming the file and the problem")
    func errors() throws {
        let folder = try CLIPTokenizerTestData.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }

        /// The error thrown when loading `folder` after `setUp` wrote its files.
        func loadingError(_ setUp: () throws -> Void) throws -> CLIPTokenizerError? {
            for name in ["vocab.json", "merges.txt", "special_tokens_map.json"] {
                try? FileManager.default.removeItem(at: folder.appendingPathComponent(name))
            }
            try setUp()
            do {
                _ = try CLIPTokenizer(folder: folder)
                return nil
            } catch let error as CLIPTokenizerError {
                return error
            }
        }

        let cases: [(label: String, setUp: () throws -> Void, file: String, says: String)] = [
            ("missing vocab.json", { try writeSmallFolder(folder); try FileManager.default.removeItem(at: folder.appendingPathComponent("vocab.json")) },
             "vocab.json", "does not exist"),
            ("missing merges.txt", { try writeSmallFolder(folder); try FileManager.default.removeItem(at: folder.appendingPathComponent("merges.txt")) },
             "merges.txt", "does not exist"),
            ("truncated JSON", { try writeSmallFolder(folder, vocabularyJSON: #"{"a": 1, "b"#) }, "vocab.json", "not a JSON object"),
            ("ids not integers", { try writeSmallFolder(folder, vocabularyJSON: #"{"a": "one"}"#) }, "vocab.json", "not a JSON object"),
            ("no byte symbols", { try writeSmallFolder(folder, vocabularyJSON: #"{"a": 0}"#) }, "vocab.json", "byte"),
            ("a repeated id", { try writeSmallFolder(folder, vocabularyJSON: #"{"a": 0, "b": 0}"#) }, "vocab.json", "id 0 is given to both"),
            ("unknown merge token", { try writeSmallFolder(folder, merges: "#version: 0.2\nc a\nca zz\n") },
             "merges.txt", "line 3: the merge \"ca zz\" names \"zz\", which is not in the vocabulary"),
            ("merged token missing", { try writeSmallFolder(folder, merges: "#version: 0.2\nd o\n") },
             "merges.txt", "names \"do\""),
            ("malformed merge line", { try writeSmallFolder(folder, merges: "#version: 0.2\nc a\nca t</w> x\n") },
             "merges.txt", "line 3 is not a merge rule"),
            ("blank line inside", { try writeSmallFolder(folder, merges: "#version: 0.2\nc a\n\nca t</w>\n") },
             "merges.txt", "line 3 is not a merge rule"),
            ("not UTF-8", { try writeSmallFolder(folder); try Data([0x63, 0x20, 0xFF, 0x0A]).write(to: folder.appendingPathComponent("merges.txt")) },
             "merges.txt", "not UTF-8"),
            ("unknown pad token", { try writeSmallFolder(folder, specialTokensMap: #"{"pad_token": "<pad>"}"#) },
             "vocab.json", "\"<pad>\" (the pad token"),
            ("corrupt special_tokens_map.json", { try writeSmallFolder(folder, specialTokensMap: "{") },
             "special_tokens_map.json", "not valid JSON"),
        ]
        for item in cases {
            guard let error = try loadingError(item.setUp) else {
                Issue.record("\(item.label): no error thrown")
                continue
            }
            #expect(error.file.hasSuffix(item.file), "\(item.label): \(error)")
            #expect(error.description.contains(item.says), "\(item.label): \(error)")
        }

        // OpenAI's format: a file that is not gzip, and a missing file.
        let gz = folder.appendingPathComponent("bpe.txt.gz")
        try Data("not gzip".utf8).write(to: gz)
        let corrupt = #expect(throws: CLIPTokenizerError.self) { try CLIPTokenizer(openAIVocabularyURL: gz) }
        #expect(corrupt?.description.contains("bpe.txt.gz: is not a readable gzip file") == true, "\(String(describing: corrupt))")
        let absent = #expect(throws: CLIPTokenizerError.self) {
            try CLIPTokenizer(openAIVocabularyURL: folder.appendingPathComponent("absent.gz"))
        }
        #expect(absent?.description.contains("absent.gz") == true, "\(String(describing: absent))")
    }
}
