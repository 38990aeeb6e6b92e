// CLIPTokenizer+Normalization: the clean-up of a prompt and its split into words, exactly as
// transformers v5's `CLIPTokenizer` configures the `tokenizers` pipeline
// (transformers/models/clip/tokenization_clip.py):
//
//   normalizer     NFC → Replace(Regex(`\s+`), " ") → Lowercase
//   pre-tokenizer  Split(Regex(`<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|
//                  [\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`), behavior: removed, invert: true)
//                  → ByteLevel(add_prefix_space: false, use_regex: true)
//
// The split keeps every match of the pattern as a word and drops what no alternative matches —
// only white space. ByteLevel's own (GPT-2) split then leaves every word whole except the two
// special-token spellings, which it cuts as `<|`, the name, `|>`.
//
// Everything here works on Unicode scalars, as the regex engine of `tokenizers` (Oniguruma) and
// Rust's lower-casing do: a Swift `Character` is a grapheme cluster (`e` + U+0301 is one
// Character but two scalars, and the accent is not a letter), and `String` comparison uses
// canonical equivalence. The character classes are Oniguruma's Unicode definitions:
//   \s     the White_Space property (`properties.isWhitespace`): tab, line feed, U+000B,
//          U+000C, carriage return, space, U+0085, U+00A0, U+1680, U+2000...U+200A, U+2028,
//          U+2029, U+202F, U+205F, U+3000. Not U+001C...U+001F (Python's `str.isspace` says
//          yes), not U+200B or U+FEFF.
//   \p{L}  general category Lu, Ll, Lt, Lm or Lo (`properties.generalCategory`).
//   \p{N}  general category Nd, Nl or No.
// Lowercase is Rust's `char::to_lowercase` scalar by scalar: the full mapping (`İ` → `i` +
// U+0307) without context (`Σ` → `σ` everywhere, never the final `ς`) — Swift's
// `properties.lowercaseMapping`. NFC is Foundation's `precomposedStringWithCanonicalMapping`.
// Characters assigned in recent Unicode versions can be classified differently by the two
// libraries' tables; the fixture's "unicode probes" check a few from Unicode 14 to 16.

import Foundation

extension CLIPTokenizer {
    /// A piece of text between special tokens, or the special token itself.
    enum Segment: Equatable {
        /// Scalars to normalize or split further.
        case text([Unicode.Scalar])
        /// One occurrence of the special token cut out.
        case special
    }

    /// `<|startoftext|>`, matched in normalized text.
    static let startOfText = Array("<|startoftext|>".unicodeScalars)
    /// `<|endoftext|>`, matched in raw text.
    static let endOfText = Array("<|endoftext|>".unicodeScalars)

    /// `text` cut at every occurrence of `token`, left to right without overlaps; empty
    /// pieces between occurrences are dropped.
    static func split(_ text: [Unicode.Scalar], at token: [Unicode.Scalar]) -> [Segment] {
        var segments: [Segment] = []
        var start = 0, i = 0
        while i + token.count <= text.count {
            if text[i] == token[0], text[i..<(i + token.count)].elementsEqual(token) {
                if i > start { segments.append(.text(Array(text[start..<i]))) }
                segments.append(.special)
                i += token.count
                start = i
            } else {
                i += 1
            }
        }
        if start < text.count { segments.append(.text(Array(text[start...]))) }
        return segments
    }

    /// The normalizer: NFC, every run of white space replaced by one space, then lower-case.
    static func normalize(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        let composed = String(String.UnicodeScalarView(text)).precomposedStringWithCanonicalMapping
        var result: [Unicode.Scalar] = []
        result.reserveCapacity(text.count)
        var inSpace = false
        for scalar in composed.unicodeScalars {
            if isSpace(scalar) {
                if !inSpace { result.append(" ") }
                inSpace = true
                continue
            }
            inSpace = false
            if scalar.isASCII {
                // A...Z → a...z; the full mapping below gives the same, this skips a String.
                let value = scalar.value
                result.append((0x41...0x5A).contains(value) ? Unicode.Scalar(UInt8(value + 0x20)) : scalar)
            } else {
                result.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
            }
        }
        return result
    }

    /// The pre-tokenizer: the words of normalized `text`, in order, as the split pattern and
    /// ByteLevel's split leave them. At each position the pattern's alternatives are tried in
    /// order (Oniguruma is a backtracking engine: the first alternative that matches wins).
    static func preTokenize(_ text: [Unicode.Scalar]) -> [ArraySlice<Unicode.Scalar>] {
        var words: [ArraySlice<Unicode.Scalar>] = []
        var i = 0
        while i < text.count {
            let scalar = text[i]
            // `<\|startoftext\|>|<\|endoftext\|>`: one word for the pattern, three for ByteLevel.
            if scalar == "<", let special = [startOfText, endOfText].first(where: { text[i...].starts(with: $0) }) {
                words.append(text[i..<(i + 2)])                              // <|
                words.append(text[(i + 2)..<(i + special.count - 2)])        // startoftext, endoftext
                words.append(text[(i + special.count - 2)..<(i + special.count)])   // |>
                i += special.count
            } else if scalar == "'", let length = contractionLength(text, at: i) {
                words.append(text[i..<(i + length)])                         // 's 't 're 've 'm 'll 'd
                i += length
            } else if isLetter(scalar) {
                let end = text[i...].firstIndex { !isLetter($0) } ?? text.count
                words.append(text[i..<end])                                  // [\p{L}]+
                i = end
            } else if isNumber(scalar) {
                words.append(text[i..<(i + 1)])                              // [\p{N}]: one digit
                i += 1
            } else if isSpace(scalar) {
                i += 1                                                        // removed
            } else {
                let end = text[i...].firstIndex { isSpace($0) || isLetter($0) || isNumber($0) } ?? text.count
                words.append(text[i..<end])                                  // [^\s\p{L}\p{N}]+
                i = end
            }
        }
        return words
    }

    /// The length of the contraction `'s|'t|'re|'ve|'m|'ll|'d` starting at `i`, if one does.
    private static func contractionLength(_ text: [Unicode.Scalar], at i: Int) -> Int? {
        guard i + 1 < text.count else { return nil }
        switch text[i + 1] {
        case "s", "t", "m", "d": return 2
        case "r", "v", "l":
            guard i + 2 < text.count else { return nil }
            let pair = (text[i + 1], text[i + 2])
            return pair == ("r", "e") || pair == ("v", "e") || pair == ("l", "l") ? 3 : nil
        default: return nil
        }
    }

    /// `\s`: the White_Space property.
    static func isSpace(_ scalar: Unicode.Scalar) -> Bool { scalar.properties.isWhitespace }

    /// `\p{L}`: a letter (general category Lu, Ll, Lt, Lm, Lo).
    static func isLetter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    /// `\p{N}`: a number (general category Nd, Nl, No).
    static func isNumber(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }
}
