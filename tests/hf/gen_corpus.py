#!/usr/bin/env python3
"""Seeded corpus for the tokenizer reference comparison (tests/hf/test_tokenizer_ref.sh).

    gen_corpus.py SEED COUNT [--any-code-point] > corpus.jsonl

Writes COUNT lines, each one JSON string holding one text. Texts mix many generators:
ASCII prose with contractions in every case, digits and arithmetic, runs of white space
(spaces, tabs, \\n, \\r\\n, Unicode spaces, the look-ahead cases of \\s+(?!\\S)), code,
CJK/Japanese/Hangul (precomposed and conjoining jamo), Arabic, Hebrew, Devanagari, Thai,
Cyrillic, Greek, emoji with ZWJ, skin tones, flags and variation selectors, combining
marks in and out of canonical order (NFC), special-token text whole and broken, random
code points, and invalid UTF-8 / random bytes. Bytes that are not valid UTF-8 are written
raw inside the JSON string (the agentflow CLI takes them as they are; the JavaScript
driver decodes the line with TextDecoder first); some characters are written as \\u
escapes (with surrogate pairs, and lone surrogates). Same SEED, same bytes: only the
standard library and random.Random(SEED) are used; random code points are drawn only
from those assigned in /usr/bin/python3's Unicode database (14.0 on Debian 12), because
characters assigned later are classified differently here and by the reference's
JavaScript engine when its Unicode version differs from the tables in
common/jsregex_unicode.h and common/unicode_nfc_data.h. --any-code-point also draws unassigned ones (for a node whose
Unicode version is the one those tables were generated from).
"""
import random
import sys
import unicodedata

WORDS = ("the of and to in is it that was for on are with as I his they be at one have this from or had by "
         "word but what some we can out other were all there when up use your how said an each she which do "
         "their time if will way about many then them write would like so these her long make thing see him "
         "two has look more day could go come did number sound no most people my over know water than call "
         "first who may down side been now find any new work part take get place made live where after back "
         "little only round man year came show every good me give our under name very through just form "
         "sentence great think say help low line differ turn cause much mean before move right boy old too "
         "same tell does set three want air well also play small end put home read hand port large spell add "
         "even land here must big high such follow act why ask men change went light kind off need house "
         "picture try us again animal point mother world near build self earth father Hello HTTP JSON GPU "
         "iPhone McDonald O'Neil naïve café résumé coöperate façade Zürich São Paulo Ελλάδα Москва").split()
CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'Re", "'rE", "'VE", "'Ve", "'M",
                "'LL", "'Ll", "'lL", "'D", "\u2019s", "\u2019t", "'x", "'", "''", "'s'", "'ss", "'dd", "'llama"]
SPECIALS = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|begin_of_text|>", "<|end_of_text|>",
            "<|object_ref_start|>", "<|box_end|>", "<|quad_start|>", "<|vision_pad|>", "<|image_pad|>",
            "<|video_pad|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>",
            "<tool_response>", "</tool_response>", "<|step_id|>", " <|im_start|> ", "\n<|im_end|>\n",
            "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|python_tag|>",
            "<|finetune_right_pad_id|>", "<|reserved_special_token_0|>", "<|reserved_special_token_250|>",
            "<think>", "</think>", "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|vision_start|>",
            "<|im_start", "im_end|>", "<|", "|>", "<<|im_end|>>", "<|<|endoftext|>|>", "<|im_start|><|im_end|>",
            "<|IM_START|>", "< |im_start|>", "<|endoftext|"]
SPACES = [" ", "  ", "   ", "    ", "\t", "\n", "\n\n", "\r\n", "\r", " \n", "\n ", "  \n  ", "\t\t", "\u00a0",
          "\u3000", "\u2028", "\u2029", "\u0085", "\ufeff", "\u200b", "\u2009", "\u202f", "\x0b", "\x0c",
          " \u00a0 ", "\n\n\n", "\r\n\r\n", " \t \n"]
PUNCT = list(".,;:!?-()[]{}<>\"'/\\|@#$%^&*_+=~`") + ["...", "--", "->", "=>", "!=", "==", "::", "\u2026", "\u201c",
                                                      "\u201d", "\u00bf", "\u00a1", "\u3002", "\uff0c", "\u060c"]
SCRIPTS = {  # (lo, hi) code point ranges of letters/digits of many scripts, all assigned long before Unicode 14
    "cjk": [(0x4E00, 0x9FA5)], "kana": [(0x3041, 0x3096), (0x30A1, 0x30FA)], "hangul": [(0xAC00, 0xD7A3)],
    "arabic": [(0x0621, 0x063A), (0x0641, 0x064A), (0x0660, 0x0669)], "hebrew": [(0x05D0, 0x05EA)],
    "devanagari": [(0x0905, 0x0939), (0x093E, 0x094D), (0x0966, 0x096F)], "thai": [(0x0E01, 0x0E3A)],
    "cyrillic": [(0x0410, 0x044F)], "greek": [(0x0391, 0x03A9), (0x03B1, 0x03C9)],
    "latin1": [(0x00C0, 0x00FF)], "latinext": [(0x0100, 0x017F)], "fullwidth": [(0xFF10, 0xFF5A)],
    "math": [(0x2200, 0x22FF)], "arrows": [(0x2190, 0x21FF)], "boxdraw": [(0x2500, 0x257F)],
    "mathalnum": [(0x1D400, 0x1D6A5)], "cjkextb": [(0x20000, 0x2A6D6)], "tamil": [(0x0B85, 0x0B94), (0x0BE6, 0x0BEF)],
    "georgian": [(0x10D0, 0x10FA)], "armenian": [(0x0531, 0x0556)], "ethiopic": [(0x1200, 0x1248)],
    "superscripts": [(0x2070, 0x209C)], "roman": [(0x2160, 0x2188)], "circled": [(0x2460, 0x24FF)],
}
EMOJI = [0x1F600, 0x1F64F, 0x1F300, 0x1F5FF, 0x1F680, 0x1F6C5, 0x1F900, 0x1F9FF]
COMBINING = [(0x0300, 0x036F), (0x0483, 0x0487), (0x0591, 0x05BD), (0x064B, 0x065F), (0x093C, 0x094D),
             (0x0E31, 0x0E3A), (0x1DC0, 0x1DFF), (0x20D0, 0x20F0), (0x3099, 0x309A)]
NFD_PAIRS = ["e\u0301", "a\u0300", "o\u0308", "u\u0308", "n\u0303", "c\u0327", "A\u030a", "i\u0302",
             "\u1100\u1161", "\u1100\u1161\u11a8", "\u1112\u1175\u11ab", "\u0915\u093c", "\u0627\u0653",
             "\u05e9\u05c1", "\u3046\u3099", "\u30cf\u309a", "a\u0323\u0302", "a\u0302\u0323", "q\u0307\u0323",
             "\u1e0b\u0323", "\u0041\u030a\u0301", "\u212b", "\u2126", "\u00c5", "\u0958", "\ufb2c", "\u0344"]


def rchar(rng, ranges):
    lo, hi = rng.choice(ranges)
    return chr(rng.randint(lo, hi))


def prose(rng):
    out = []
    for _ in range(rng.randint(1, 16)):
        w = rng.choice(WORDS)
        r = rng.random()
        if r < 0.1: w = w.upper()
        elif r < 0.25: w = w.capitalize()
        if rng.random() < 0.15: w += rng.choice(CONTRACTIONS)
        out.append(w)
        if rng.random() < 0.2: out.append(rng.choice(PUNCT))
        out.append(rng.choice([" ", " ", " ", " ", "  ", "\n", ", ", ". "]) if rng.random() < 0.9 else "")
    return "".join(out)


def digits(rng):
    parts = []
    for _ in range(rng.randint(1, 12)):
        r = rng.random()
        if r < 0.3: parts.append(str(rng.randint(0, 10 ** rng.randint(1, 40))))
        elif r < 0.5: parts.append("%.*f" % (rng.randint(0, 8), rng.uniform(-1e6, 1e6)))
        elif r < 0.6: parts.append("%e" % rng.uniform(-1e20, 1e20))
        elif r < 0.7: parts.append("".join(rng.choice("0123456789") for _ in range(rng.randint(1, 200))))
        elif r < 0.8: parts.append(rng.choice(["\u0661\u0662\u0663", "\u0967\u0968", "\uff11\uff12\uff13", "\u00bd", "\u2167", "\u00b2"]))
        else: parts.append(rng.choice(["+", "-", "*", "/", "=", " = ", " + ", "(", ")", "^", "%", ",", ".", "1,000,000", "$", "€"]))
        parts.append(rng.choice(["", "", " ", "  "]))
    return "".join(parts)


def spaces(rng):
    parts = []
    for _ in range(rng.randint(1, 15)):
        r = rng.random()
        if r < 0.5: parts.append(rng.choice(SPACES) * rng.randint(1, 6))
        elif r < 0.6: parts.append(rng.choice(FORMAT))
        elif r < 0.8: parts.append(rng.choice(WORDS))
        else: parts.append(rng.choice(PUNCT))
    return "".join(parts)


CODE = [
    "def f(x):\n    return x * 2\n", "int main(void) {\n\tprintf(\"%d\\n\", 42);\n\treturn 0;\n}\n",
    "for (let i = 0; i < n; ++i) {\n  sum += a[i];\n}", "if x != None and y >= 3:\n        pass  # comment\n",
    "SELECT id, name FROM users WHERE age > 21;", "<div class=\"x\">\n  <p>Hi</p>\n</div>", "#include <stdio.h>\n",
    "    \n    \n", "x = {'a': [1, 2, 3], \"b\": None}", "fn main() -> Result<(), Box<dyn Error>> {}",
    "git commit -m 'fix: it's done'", "$ ls -la /usr/bin | grep python3\n", "λx.λy.x y", "a->b = &c[0];",
    "```python\nprint('hi')\n```", "// TODO(me): don't\r\n", "\t\treturn;\n\t}\n}\n", "   ", "\\n\\t\\\\",
    "https://example.com/a/b?c=1&d=%20x#frag", "mailto:user.name+tag@example.org", "C:\\Windows\\System32\\",
    "$\\frac{a^2}{\\sqrt{b}}$", "| a | b |\n|---|---:|\n| 1 | 2 |", "&amp; &lt;p&gt; &#x27;", "!!!!!!", "......",
    "----------", "====", "~~~", "***bold***", "<think>\nreasoning\n</think>\n\n", "0x1F600 0b1010 1e-9 1_000_000",
    "İstanbul ıi STRASSE Straße ﬁ ǅ", "naïveté façade Œuvre", "\t\n\t\n", " \r\n \r\n", "\u00a0\u00a0text\u00a0",
]
FORMAT = ["\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e",
          "\u2060", "\u2066", "\u2067", "\u2068", "\u2069", "\u00ad", "\u180e", "\ufe0e", "\ufe0f", "\u034f",
          "\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f", "\u061c", "\u2061"]


def code(rng):
    return "".join(rng.choice(CODE) for _ in range(rng.randint(1, 5)))


def script(rng):
    name = rng.choice(list(SCRIPTS))
    out = []
    for _ in range(rng.randint(1, 30)):
        out.append(rchar(rng, SCRIPTS[name]))
        if rng.random() < 0.15: out.append(rng.choice([" ", "\n", "\u3002", ", ", "  "]))
        if rng.random() < 0.05: out.append(rng.choice(WORDS))
    return "".join(out)


def emoji(rng):
    out = []
    for _ in range(rng.randint(1, 12)):
        lo, hi = EMOJI[2 * (k := rng.randrange(len(EMOJI) // 2))], EMOJI[2 * k + 1]
        e = chr(rng.randint(lo, hi))
        r = rng.random()
        if r < 0.2: e += chr(rng.randint(0x1F3FB, 0x1F3FF))
        elif r < 0.35: e += "\u200d" + chr(rng.randint(0x1F300, 0x1F5FF))
        elif r < 0.45: e += "\ufe0f"
        elif r < 0.55: e = chr(0x1F1E6 + rng.randrange(26)) + chr(0x1F1E6 + rng.randrange(26))
        elif r < 0.6: e = "\U0001F468\u200d\U0001F469\u200d\U0001F467\u200d\U0001F466"
        elif r < 0.65: e = "\U0001F3F4" + rng.choice(FORMAT[-3:-2])
        out.append(e)
        if rng.random() < 0.3: out.append(rng.choice([" ", "", "!", rng.choice(WORDS), "\u200c", "\u200d"]))
    return "".join(out)


def combining(rng):
    out = []
    for _ in range(rng.randint(1, 20)):
        r = rng.random()
        if r < 0.4: out.append(rng.choice(NFD_PAIRS))
        elif r < 0.7:
            out.append(rng.choice("aeiouAEIOUnczsg\u03b1\u0430\u05d0\u0915 "))
            for _ in range(rng.randint(1, 4)): out.append(rchar(rng, COMBINING))
        elif r < 0.85: out.append(rchar(rng, COMBINING))  # a mark with no base
        else: out.append(rng.choice(WORDS))
        if rng.random() < 0.3: out.append(" ")
    return "".join(out)


def specials(rng):
    out = []
    for _ in range(rng.randint(1, 10)):
        r = rng.random()
        if r < 0.1: out.append("<|reserved_special_token_%d|>" % rng.randint(0, 260))
        elif r < 0.45: out.append(rng.choice(SPECIALS))
        elif r < 0.75: out.append(rng.choice(WORDS))
        else: out.append(rng.choice(SPACES))
    return "".join(out)


def chat(rng):
    roles = ["system", "user", "assistant", "tool"]
    out = []
    for _ in range(rng.randint(1, 4)):
        if rng.random() < 0.5:
            out.append("<|im_start|>" + rng.choice(roles) + "\n" + prose(rng) + "<|im_end|>\n")
        else:
            out.append("<|start_header_id|>" + rng.choice(roles) + "<|end_header_id|>\n\n" + prose(rng) + "<|eot_id|>")
    return "".join(out)


def random_cp(rng):
    out = []
    for _ in range(rng.randint(1, 30)):
        r = rng.random()
        if r < 0.5: cp = rng.randint(0x20, 0x2FFF)
        elif r < 0.8: cp = rng.randint(0x3000, 0xFFFD)
        elif r < 0.95: cp = rng.randint(0x10000, 0x2FFFF)
        else: cp = rng.randint(0x30000, 0x10FFFF)
        if 0xD800 <= cp < 0xE000 or (not ANY_CP and unicodedata.category(chr(cp)) in ("Cn", "Co", "Cs")): cp = 0xFFFD
        out.append(chr(cp))
    return "".join(out)


def mixed(rng):
    gens = [prose, digits, spaces, code, script, emoji, combining, specials]
    return "".join(rng.choice(gens)(rng) for _ in range(rng.randint(2, 3)))


def long_text(rng):
    r = rng.random()
    if r < 0.3: return " " * rng.randint(100, 800) + rng.choice(["x", "", "\n", " x "])
    if r < 0.5: return "".join(rng.choice("abcdefghij") for _ in range(rng.randint(300, 800)))
    if r < 0.6: return rng.choice(["\n", "\t", "\r\n", "-", "=", "0"]) * rng.randint(100, 800)
    return " ".join(mixed(rng) for _ in range(rng.randint(3, 6)))


TEXT_GENS = [(prose, 18), (digits, 8), (spaces, 8), (code, 6), (script, 12), (emoji, 5), (combining, 6),
             (specials, 7), (chat, 3), (random_cp, 5), (mixed, 10), (long_text, 0.3)]


def text_to_bytes(rng, s):
    return s.encode("utf-8", "surrogatepass")


def invalid_bytes(rng):
    r = rng.random()
    if r < 0.3: return bytes(rng.randrange(256) for _ in range(rng.randint(1, 60)))
    base = bytearray(text_to_bytes(rng, rng.choice([prose, script, emoji, combining])(rng)))
    bad = [b"\x80", b"\xbf", b"\xc0\xaf", b"\xc1\xbf", b"\xe0\x80\xaf", b"\xed\xa0\x80", b"\xed\xbf\xbf",
           b"\xf4\x90\x80\x80", b"\xf5", b"\xff", b"\xfe", b"\xe4\xb8", b"\xf0\x9f\x98", b"\xf0\x9f", b"\xc3",
           b"\xe2\x82", b"\xc3\x28", b"\xe2\x28\xa1", b"\xf0\x28\x8c\xbc", b"\xf8\x88\x80\x80\x80", b"\xc2\xc2"]
    for _ in range(rng.randint(1, 5)):
        pos = rng.randint(0, len(base))
        if rng.random() < 0.7: base[pos:pos] = rng.choice(bad)
        elif len(base): base[min(pos, len(base) - 1)] = rng.randrange(0x80, 0x100)  # may cut a character
    return bytes(base)


def json_line(rng, b):
    """Bytes -> one JSON string line: escapes for '"', '\\' and controls, some \\u escapes."""
    out = bytearray(b'"')
    esc_rate = rng.choice([0.0, 0.0, 0.1, 0.5])
    i = 0
    while i < len(b):
        c = b[i]
        if c == 0x22: out += b'\\"'
        elif c == 0x5C: out += b'\\\\'
        elif c < 0x20: out += rng.choice([b"\\u%04x" % c, b"\\u%04X" % c]) if c not in (10, 9, 13) else {10: b"\\n", 9: b"\\t", 13: b"\\r"}[c]
        elif c >= 0x80 and esc_rate and rng.random() < esc_rate:
            # escape one whole well-formed character as \\u (surrogate pair above U+FFFF)
            for n in (2, 3, 4):
                try:
                    ch = b[i:i + n].decode("utf-8")
                except UnicodeDecodeError:
                    continue
                cp = ord(ch)
                if cp >= 0x10000:
                    v = cp - 0x10000
                    out += b"\\u%04x\\u%04x" % (0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF))
                else:
                    out += b"\\u%04x" % cp
                i += n
                break
            else:
                out.append(c)
                i += 1
            continue
        else: out.append(c)
        i += 1
    if rng.random() < 0.01: out += rng.choice([b"\\ud800", b"\\udfff", b"\\ud83d", b"x\\udc00y"])
    out += b'"'
    return bytes(out)


ANY_CP = False


def main():
    global ANY_CP
    seed, count = int(sys.argv[1]), int(sys.argv[2])
    ANY_CP = "--any-code-point" in sys.argv[3:]
    rng = random.Random(seed)
    gens, weights = zip(*TEXT_GENS)
    w = sys.stdout.buffer
    for _ in range(count):
        if rng.random() < 0.08:
            b = invalid_bytes(rng)
        else:
            b = text_to_bytes(rng, rng.choices(gens, weights)[0](rng))
        w.write(json_line(rng, b) + b"\n")


if __name__ == "__main__":
    main()
