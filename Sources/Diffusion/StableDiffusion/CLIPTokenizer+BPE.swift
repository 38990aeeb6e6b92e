// CLIPTokenizer+BPE: byte-pair encoding of one word (Sennrich et al. 2016, "Neural Machine
// Translation of Rare Words with Subword Units", with GPT-2's byte-level alphabet).
//
// A word starts as one symbol per UTF-8 byte, the last one carrying the end-of-word mark
// `</w>` (so `cat` starts as `c`, `a`, `t</w>`). Each merge rule `left right` learned from the
// training text has a rank (its line in merges.txt); repeatedly, the adjacent pair with the
// lowest rank — the leftmost on a tie — becomes one symbol, until no adjacent pair has a rule.
// This is the order of `tokenizers`' `Word::merge_all` (a heap of (rank, position)) and of
// OpenAI's `bpe()` (all occurrences of the best pair, left to right); the two agree because a
// rule can only use symbols made by rules of lower rank. Symbols are token ids throughout.

extension CLIPTokenizer {
    /// GPT-2's `bytes_to_unicode`, in vocabulary order: the 188 printable bytes `!`...`~`,
    /// `¡`...`¬`, `®`...`ÿ` stand for themselves, the 68 others (controls, space, U+007F...U+00A0,
    /// U+00AD) for U+0100, U+0101, ... in byte order. Vocabulary ids 0...255 are these symbols,
    /// 256...511 the same followed by `</w>`.
    static let byteSymbols: [(byte: UInt8, symbol: Unicode.Scalar)] = {
        let printable = Array(0x21...0x7E) + Array(0xA1...0xAC) + Array(0xAE...0xFF)
        var table = printable.map { (byte: UInt8($0), symbol: Unicode.Scalar(UInt8($0))) }
        var next: UInt32 = 0x100
        for byte in 0...255 where !printable.contains(byte) {
            table.append((byte: UInt8(byte), symbol: Unicode.Scalar(next)!))
            next += 1
        }
        return table
    }()

    /// The merge rules: for a pair of ids, its rank and the id of the merged symbol.
    struct BPEMerges: Sendable {
        /// A rule's rank (its 0-based line among the merges) and the id it produces.
        struct Rule: Sendable {
            let rank: Int32
            let id: Int32
        }

        /// Rules keyed by `left << 32 | right`.
        private var rules: [UInt64: Rule] = [:]

        /// Adds a rule; a pair listed twice keeps its last rank, as both references do.
        mutating func add(left: Int, right: Int, merged: Int, rank: Int) {
            rules[Self.key(left, right)] = Rule(rank: Int32(rank), id: Int32(merged))
        }

        /// The rule for the pair `(left, right)`, if there is one.
        func rule(_ left: Int, _ right: Int) -> Rule? { rules[Self.key(left, right)] }

        private static func key(_ left: Int, _ right: Int) -> UInt64 { UInt64(left) << 32 | UInt64(right) }
    }

    /// The ids of one word given as UTF-8 bytes.
    func bytePairEncode(_ bytes: [UInt8]) -> [Int] {
        guard let last = bytes.last else { return [] }
        var symbols = bytes.dropLast().map { byteIDs[Int($0)] } + [finalByteIDs[Int(last)]]
        // rules[i]: the rule for (symbols[i], symbols[i + 1]), kept up to date as symbols merge.
        var rules = (0..<(symbols.count - 1)).map { merges.rule(symbols[$0], symbols[$0 + 1]) }
        while true {
            var best: Int?
            for (i, rule) in rules.enumerated() {
                if let rule, best == nil || rule.rank < rules[best!]!.rank { best = i }
            }
            guard let i = best else { break }
            symbols[i] = Int(rules[i]!.id)
            symbols.remove(at: i + 1)
            rules.remove(at: i)
            if i > 0 { rules[i - 1] = merges.rule(symbols[i - 1], symbols[i]) }
            if i < rules.count { rules[i] = merges.rule(symbols[i], symbols[i + 1]) }
        }
        return symbols
    }
}
