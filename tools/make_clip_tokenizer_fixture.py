#!/usr/bin/env python3
"""Writes the CLIP tokenizer fixture read by Tests/DiffusionTests/CLIPTokenizerTests.swift.

Run with the fixture environment (transformers v5 with tokenizers; ftfy for the comparison
with OpenAI's original tokenizer), from the package root, with the shared data folder at
../shared (or at $SWIFTDIFFUSION_SHARED):

    /tmp/venv/bin/pip install ftfy        # only for the OpenAI comparison
    /tmp/venv/bin/python tools/make_clip_tokenizer_fixture.py

Input (not shipped): ../shared/sd15/tokenizer/{vocab.json,merges.txt,special_tokens_map.json},
the real Stable Diffusion 1.5 tokenizer folder, and ../shared/clip/bpe_simple_vocab_16e6.txt.gz.

Output: Tests/DiffusionTests/Fixtures/clip_tokenizer.json with
- transformers_version, tokenizers_version, ftfy_version: the libraries that made it;
- cases: for every prompt (several hundred, by category: punctuation, numbers, contractions,
  accents in composed and decomposed form, CJK, emoji, HTML entities, whitespace runs, long
  prompts, weights syntax, scripts, control characters, ...) its `category`, the `prompt`,
  `input_ids` = `tokenizer(prompt, padding="max_length", max_length=77, truncation=True)
  .input_ids` (77 ids: start, at most 75 ids, end, padding) and `encoded` =
  `tokenizer.encode(prompt, add_special_tokens=False)` (every id, no start/end, no truncation);
- openai_differences: prompts where OpenAI's original `clip/simple_tokenizer.py` (ftfy
  `fix_text`, HTML-unescape twice, whitespace collapsed and stripped, lower-cased; reimplemented
  below from its source, with the same vocabulary file) gives other ids than transformers,
  with both id lists and the tokens, for docs/tokenizer.md.
"""
import gzip
import html
import json
import os
import random
import sys

import regex
import tokenizers
import transformers
from transformers import CLIPTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("SWIFTDIFFUSION_SHARED") or os.path.join(os.path.dirname(ROOT), "shared")
TOKENIZER = os.path.join(SHARED, "sd15", "tokenizer")
OPENAI_VOCAB = os.path.join(SHARED, "clip", "bpe_simple_vocab_16e6.txt.gz")
OUTPUT = os.path.join(ROOT, "Tests", "DiffusionTests", "Fixtures", "clip_tokenizer.json")


# ---------------------------------------------------------------------------------------------
# Prompts, by category.

def prompts():
    cases = []

    def add(category, *texts):
        for t in texts:
            cases.append((category, t))

    add("basic", "a photo of a cat", "A Photo Of A Cat", "A PHOTO OF A CAT", "cat", "a", "",
        "the quick brown fox jumps over the lazy dog", "astronaut riding a horse on mars",
        "portrait of a woman, oil painting", "hello world", "HeLLo WoRLD", "x", "I", "ok")
    add("punctuation", "!!!", "?!?!", "...", "hello!!!", "wait... what?", "a,b,c", "a, b, c",
        "(((cat)))", "--", "-", "---- ----", "a--b", "foo_bar", "foo-bar-baz", "#hashtag",
        "@user", "50%", "$100", "a/b", "a\\b", "a|b", "a+b=c", "~tilde~", "`code`", "\"quoted\"",
        "'single'", "«guillemets»", "„low quotes“", "¿qué?", "¡hola!", "…", "a—b–c", "•bullet",
        "§1", "©2024", "™", "°C", "a*b", "**bold**", "<tag>", "</tag>", "<<>>", "{curly}", "[square]",
        "()", "(", ")", ";;", ":)", ":-(", "^_^", "<3", "->", "=>", "!=", "&&", "||", ".,;:!?",
        "'", "''", "'''", "''s", "a'", "'a", "it''s", "<|", "|>", "<||>")
    add("numbers", "1", "12", "123", "2024", "3.14", "0.5", "1,000,000", "1e10", "-5", "+7",
        "v1.5", "sd1.5", "4k", "8k uhd", "1080p", "16:9", "24/7", "#1", "1st 2nd 3rd 4th",
        "007", "12.5%", "3x3", "x2", "2x", "1/2", "½", "²", "³", "①", "Ⅻ", "٣", "३", "௫", "一二三",
        "100000000000000000000", "3.14159265358979")
    add("contractions", "it's", "don't", "I'm", "we're", "they've", "you'll", "he'd",
        "IT'S", "DON'T", "I'M", "WE'RE", "THEY'VE", "YOU'LL", "HE'D", "it'S", "It'S",
        "don’t", "it’s", "I’m", "cat's toy", "the cats' toys", "rock 'n' roll", "'tis",
        "'re'", "'s's", "o'clock", "o'neil", "'ll", "'d'", "'m", "'ve")
    add("accents",
        "café", "cafe\u0301", "Café", "CAFE\u0301", "naïve", "nai\u0308ve", "résumé",
        "re\u0301sume\u0301", "Ångström", "A\u030angstro\u0308m", "piñata", "pin\u0303ata",
        "Zoë", "São Paulo", "Ærøskøbing", "straße", "STRASSE", "ẞ", "ñ", "n\u0303",
        "ş", "s\u0327", "e\u0301\u0301", "a\u0323\u0302", "a\u0302\u0323", "ệ", "e\u0323\u0302",
        "Å", "\u212b", "Ω", "\u2126", "K", "\u212a", "İstanbul", "ǅungla", "ΣΑΣ", "σας", "ς",
        "Ⅻ century", "ﬀ", "Dž", "ǈ", "ŉ", "ΐ", "ﬅ")
    add("cjk", "猫", "一只猫的照片", "東京タワー", "ひらがな", "カタカナ", "한국어", "한\u1100\u1161",
        "\u1100\u1161\u11a8", "中文 English 混合", "日本語のテキスト、句読点。", "「引用」",
        "漢字123", "ｶﾀｶﾅ", "㎏", "㈱")
    add("emoji", "😀", "a cat 🐱", "🐱🐶", "👍🏽", "👍🏿 thumbs", "👨‍👩‍👧‍👦", "🏳️‍🌈", "❤️", "❤",
        "🇯🇵", "🇺🇸🇬🇧", "🧑🏻‍💻", "✨sparkles✨", "🔥🔥🔥", "1️⃣", "#️⃣", "😀😃😄😁😆", "☕️",
        "emoji:😀:end", "👩‍❤️‍💋‍👨")
    add("html", "&amp;", "tom &amp; jerry", "&lt;b&gt;", "&quot;hi&quot;", "&#39;", "&#x27;s",
        "&nbsp;", "a&amp;amp;b", "R&D", "&", "&&&", "&copy; 2024", "&unknown;")
    add("whitespace", "  leading", "trailing  ", "  both  ", "a  b", "a\tb", "a\nb", "a\r\nb",
        "a \t\n b", "\t\t", "\n", " ", "   ", "a\u00a0b", "a\u2003b", "a\u3000b", "a\u2028b",
        "a\u2029b", "a\u0085b", "a\u200bb", "a\u180eb", "a\u202fb", "a\u205fb", "a\x0bb",
        "a\x0cb", "a\x1cb", "a\x1db", "a\x1eb", "a\x1fb", "\ta photo\tof a\ncat\n",
        "word\u00a0\u00a0word", "x\u1680y", "x\ufeffy")
    add("control", "a\x00b", "a\x01b", "\x07bell", "a\x7fb", "a\x80b", "a\x9fb", "a\u200db",
        "a\u200cb", "a\u2060b", "a\ufffdb", "a\ue000b", "\u202eevil", "a\u00adb")
    add("weights syntax", "(masterpiece:1.2)", "((best quality))", "[foo|bar]", "[cat:dog:0.5]",
        "(masterpiece:1.2), (best quality:1.4), 1girl, solo",
        "a cat, (blue eyes:1.3), [[[dark]]], {{{light}}}", "BREAK", "cat BREAK dog",
        "<lora:my_lora:0.8>", "embedding:easynegative", "\\(escaped\\)", "(a|b|c)",
        "a photo of a cat AND a dog", "((((((((cat))))))))", "(cat:-1)", "(cat:.5)")
    add("urls", "https://example.com/path?q=1&x=2", "www.example.org", "user@example.com",
        "http://a.b/c_d-e.png", "see https://huggingface.co/runwayml/stable-diffusion-v1-5 now",
        "C:\\Users\\me\\image.png", "/usr/share/datasets", "file.tar.gz")
    add("full-width and ligatures", "Ｆｕｌｌ ｗｉｄｔｈ", "ＡＢＣ１２３", "ｃａｔ", "！？", "ﬁne",
        "ﬂower", "ﬃ", "ﬄ", "œuvre", "Œ", "æ", "Æ", "ĳ", "Ĳ", "ᵃᵇᶜ", "ℌ𝔢𝔩𝔩𝔬", "𝐛𝐨𝐥𝐝", "𝓈𝒸𝓇𝒾𝓅𝓉",
        "ⓒⓘⓡⓒⓛⓔ", "🄰🄱🄲", "㍿", "™®©")
    add("scripts", "привет мир", "ПРИВЕТ", "Ёлка", "ёлка", "Україна", "مرحبا بالعالم", "السلام",
        "שלום עולם", "נָחָשׁ", "नमस्ते दुनिया", "हिन्दी", "ক্ষ", "தமிழ்", "ไทย", "ภาษาไทย",
        "Ελληνικά", "ΕΛΛΗΝΙΚΆ", "ქართული", "Հայերեն", "አማርኛ", "ᚠᚢᚦ", "𓀀", "ꦗꦮ", "Tiếng Việt",
        "TIẾNG VIỆT", "Türkçe", "TÜRKÇE ıi İI", "Ⴀ", "ᏣᎳᎩ", "ꮳꮃꭹ", "ǉ Ǉ ǈ")
    # Characters from recent Unicode versions (14 to 16) between letters and digits: whether a
    # character counts as a letter (one piece with its neighbours) or a digit, and how it
    # lower-cases, depends on the Unicode tables of each library.
    for c in ("\U00011f04", "\U0001e030", "\U00031350", "\u0b55", "\U0001e4d0", "\U00010d50",
              "\u1c89", "\U0002ebf0", "\ua7cb", "\ua7c0", "\U00016d40", "\U0001e5d1", "\U0001fae9",
              "\U00011f50", "\U0001e4f0", "\U00016ac0"):
        add("unicode probes", f"x{c}x", f"{c.upper()}1{c}", f"a {c} 2")
    add("special tokens", "<|startoftext|>", "<|endoftext|>", "a<|startoftext|>b",
        "x<|endoftext|>y", "x <|ENDOFTEXT|> y", "<|STARTOFTEXT|>", "<|StartOfText|>cat",
        "<<|endoftext|>>", "<|endoftext|><|endoftext|>", "<|endoftext", "<|startoftext|>a photo",
        "e<|endoftext|>\u0301", "<|startoftext|>\u0301", "\t<|endoftext|>\n")
    add("typical SD prompts",
        "masterpiece, best quality, ultra-detailed, 8k, photorealistic, cinematic lighting",
        "a beautiful landscape painting of mountains at sunset by greg rutkowski, trending on artstation",
        "portrait of an old man, highly detailed, sharp focus, studio lighting, 85mm, f/1.8",
        "cyberpunk city at night, neon lights, rain, reflections, blade runner style",
        "low quality, worst quality, blurry, deformed hands, extra fingers, watermark, text",
        "a corgi wearing a top hat, digital art", "An astronaut riding a horse, photograph",
        "isometric pixel art of a cozy cabin", "studio ghibli style forest with spirits",
        "a bowl of ramen, food photography, bokeh", "a watercolor painting of a fox in the snow",
        "anime girl, long hair, school uniform, cherry blossoms",
        "hyperrealistic 3D render of a glass sculpture, octane render, unreal engine 5",
        "a teddy bear on a skateboard in times square", "vintage photo of a 1950s diner",
        "A red cube on top of a blue sphere", "logo of a coffee shop, minimalist, vector",
        "steampunk airship over victorian london", "macro shot of a dew drop on a leaf",
        "the mona lisa in the style of van gogh")

    # Long prompts: several lengths around and far beyond the 75-id limit.
    words = ("masterpiece best quality detailed photo of a cat sitting on a red chair in a sunny "
             "garden with flowers trees clouds mountains river bridge castle dragon knight").split()
    for n in (10, 60, 70, 74, 75, 76, 77, 78, 80, 100, 150, 300):
        add("long", " ".join(words[i % len(words)] for i in range(n)))
    for n in (73, 74, 75, 76, 77, 100):
        add("long", ", ".join(["cat"] * ((n + 1) // 2))[: 2 * n])
        add("long", "!" * n * 5)
        add("long", " ".join(str(d) for d in range(n)))
    add("long", "a" * 500, "supercalifragilisticexpialidocious " * 20, "🐱" * 40,
        "猫" * 90, "(masterpiece:1.2), " * 30)
    add("long words", "pneumonoultramicroscopicsilicovolcanoconiosis", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "abababababababababab", "zzzzzzzzzz", "llllllll", "xqzjvkwpfh", "ÿÿÿÿ", "ЖЖЖЖЖЖ")

    # Seeded random mixtures of the pieces above, to reach several hundred prompts with
    # neighbours that the hand-written lists do not have (accent next to punctuation, emoji
    # next to digits, ...).
    rng = random.Random(20240601)
    pool = [t for _, t in cases if 0 < len(t) < 40]
    joiners = [" ", "", ", ", "  ", "\t", "\n", "-", "'", "’", "(", ":1.1)", "|"]
    for _ in range(140):
        k = rng.randint(2, 5)
        parts = [rng.choice(pool) for _ in range(k)]
        text = parts[0]
        for p in parts[1:]:
            text += rng.choice(joiners) + p
        if rng.random() < 0.3:
            text = text.upper()
        add("random mixture", text)
    return cases


# ---------------------------------------------------------------------------------------------
# OpenAI's original tokenizer (openai/CLIP clip/simple_tokenizer.py), reimplemented from its
# source: ftfy.fix_text, html.unescape twice, strip, whitespace collapsed, lower-case, its split
# pattern (IGNORECASE), byte-level BPE with the first 48,894 merges of the vocabulary file.

def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


class OpenAITokenizer:
    def __init__(self, path):
        import ftfy
        self.ftfy = ftfy
        self.byte_encoder = bytes_to_unicode()
        merges = gzip.open(path).read().decode("utf-8").split("\n")[1:49152 - 256 - 2 + 1]
        merges = [tuple(m.split()) for m in merges]
        vocab = list(self.byte_encoder.values())
        vocab = vocab + [v + "</w>" for v in vocab] + ["".join(m) for m in merges]
        vocab += ["<|startoftext|>", "<|endoftext|>"]
        self.encoder = {v: i for i, v in enumerate(vocab)}
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.pat = regex.compile(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""", regex.IGNORECASE)

    def bpe(self, token):
        if token in ("<|startoftext|>", "<|endoftext|>"):
            return [token]
        word = list(token[:-1]) + [token[-1] + "</w>"]
        while len(word) > 1:
            pairs = [(word[i], word[i + 1]) for i in range(len(word) - 1)]
            best = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if best not in self.ranks:
                break
            out, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            word = out
        return word

    def clean(self, text):
        text = self.ftfy.fix_text(text)
        text = html.unescape(html.unescape(text)).strip()
        return regex.sub(r"\s+", " ", text).strip().lower()

    def encode(self, text):
        ids = []
        for token in regex.findall(self.pat, self.clean(text)):
            token = "".join(self.byte_encoder[b] for b in token.encode("utf-8"))
            ids.extend(self.encoder[t] for t in self.bpe(token))
        return ids


# ---------------------------------------------------------------------------------------------

def main():
    tokenizer = CLIPTokenizer.from_pretrained(TOKENIZER)
    assert tokenizer.pad_token_id == 49407 and tokenizer.bos_token_id == 49406
    assert tokenizer("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]

    cases = []
    seen = set()
    for category, prompt in prompts():
        if prompt in seen:
            continue
        seen.add(prompt)
        padded = tokenizer(prompt, padding="max_length", max_length=77, truncation=True).input_ids
        encoded = tokenizer.encode(prompt, add_special_tokens=False)
        assert len(padded) == 77
        # The padded form is start + the first 75 ids + end + padding: checked here so the Swift
        # tests can rely on it.
        body = encoded[:75]
        assert padded == [49406] + body + [49407] + [49407] * (75 - len(body)), prompt
        cases.append({"category": category, "prompt": prompt, "input_ids": padded, "encoded": encoded})

    differences = []
    try:
        import ftfy
        openai = OpenAITokenizer(OPENAI_VOCAB)
        ftfy_version = ftfy.__version__
        assert openai.encode("a photo of a cat") == [320, 1125, 539, 320, 2368]
        for case in cases:
            theirs = openai.encode(case["prompt"])
            if theirs != case["encoded"]:
                differences.append({
                    "prompt": case["prompt"],
                    "transformers": case["encoded"],
                    "openai": theirs,
                    "transformers_tokens": tokenizer.convert_ids_to_tokens(case["encoded"]),
                    "openai_tokens": tokenizer.convert_ids_to_tokens(theirs),
                })
    except ImportError:
        ftfy_version = None
        print("ftfy is not installed: no OpenAI comparison", file=sys.stderr)

    fixture = {
        "transformers_version": transformers.__version__,
        "tokenizers_version": tokenizers.__version__,
        "ftfy_version": ftfy_version,
        "tokenizer": "sd15/tokenizer (CLIPTokenizer.from_pretrained)",
        "max_length": 77,
        "cases": cases,
        "openai_differences": differences,
    }
    # One case per line (ASCII, escapes for everything else), so a diff shows which prompts moved.
    with open(OUTPUT, "w", encoding="ascii") as f:
        f.write("{\n")
        for key, value in fixture.items():
            if isinstance(value, list):
                rows = ",\n".join("  " + json.dumps(v, separators=(",", ":")) for v in value)
                f.write(f"{json.dumps(key)}: [\n{rows}\n]")
            else:
                f.write(f"{json.dumps(key)}: {json.dumps(value)}")
            f.write(",\n" if key != "openai_differences" else "\n")
        f.write("}\n")
    json.load(open(OUTPUT))
    categories = {}
    for c in cases:
        categories[c["category"]] = categories.get(c["category"], 0) + 1
    print(f"wrote {len(cases)} prompts to {OUTPUT}: {categories}")
    print(f"{len(differences)} prompts where OpenAI's tokenizer differs")


if __name__ == "__main__":
    main()
