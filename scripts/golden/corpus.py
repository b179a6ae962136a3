"""Deterministic test corpus shared by the golden-fixture generators.

Product titles and queries are synthesised from templates (no dataset text is copied); the
rest covers unicode, emoji, accents, CJK, control characters, invalid UTF-8, special-token
strings, over-long words and over-long inputs. Every item is bytes (the C side reads bytes)."""
import random

BRANDS = ["Acme", "Husky", "DeWalt", "Ryobi", "Makita", "Bosch", "Samsung", "LG", "Sony", "Nintendo",
          "Logitech", "Philips", "Whirlpool", "KitchenAid", "Café Bustelo", "Müller", "Señor Frío",
          "Nestlé", "L'Oréal", "3M", "GE", "Rust-Oleum", "Moen", "Delta", "Kohler", "Behr"]
NOUNS = ["cordless drill", "impact driver", "LED light bulb", "garden hose", "wireless mouse",
         "gaming headset", "stainless steel sink", "ceiling fan", "door knob", "paint roller",
         "video game controller", "memory card", "HDMI cable", "water heater", "shower head",
         "vinyl plank flooring", "deck screws", "circular saw blade", "extension cord", "smart thermostat"]
ADJ = ["20-Volt", "Brushless", "Heavy-Duty", "Soft White", "Matte Black", "Brushed Nickel", "2-Pack",
       "Energy Star", "Wi-Fi", "Bluetooth 5.0", "Pre-Owned", "Limited Edition", "Water-Resistant"]
UNITS = ["1/2 in. x 10 ft.", "3/4\" x 8'", "60W Equivalent", "12 oz.", "5 gal.", "2.4GHz", "4K UHD",
         "100-Pack", "#8 x 2-1/2 in.", "16.5 ft. x 1 in.", "120V/60Hz", "(4-Pack)", "[Refurbished]"]
UNICODE = [
    "Café crème brûlée", "naïve façade résumé", "Straße Größe Fußball", "İstanbul ılık", "ΑΒΓ αβγ Ωμέγα",
    "Привет мир, ТЕСТ", "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "สวัสดีครับ", "안녕하세요 세계",
    "日本語のテキスト", "中文产品标题 电钻", "ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３", "½ ¼ ¾ ² ³ µ", "© ® ™ ℃ № ℗",
    "emoji 😀🎮🔥 test", "👩‍👩‍👧‍👦 family", "👍🏽 thumbs", "🇺🇸🇯🇵 flags", "a\u200bb zero\u200dwidth",
    "soft\u00adhyphen", "nbsp\u00a0here", "tab\there", "new\nline", "cr\rlf\r\n", "ctrl\x01\x02\x7f chars",
    "bell\x07 and \x1b[0m escape", "\ufeffBOM at start", "ﬁ ﬂ ligatures", "Å Ω K℃ compat", "e\u0301 combining",
    "Zalgo z̷̢̛a̴l̶g̵o̸", "Ⅻ roman Ⅷ", "math ∑∫√∞ ≤≥", "€19.99 £5 ¥100 ₹250", "«quotes» „German“ ‚single‘",
    "dash – em — minus −", "ellipsis… bullet •", "Ǆ ǅ ǆ digraphs", "ΣΑΣ final sigma ΟΔΟΣ", "ŉ ǰ ΐ special lower",
    "Ⓐⓑⓒ circled", "𝐁𝐨𝐥𝐝 math bold", "𠀀 ext-B CJK 𪜀", "〇 ideographic zero", "ｶﾀｶﾅ halfwidth", "ᄀ ᅡ jamo",
    "Ϊ́ ΰ Greek tonos", "Tiếng Việt có dấu", "Ελληνικά κείμενα", "Ångström Øresund Æble", "Łódź Kraków Gdańsk",
    "ÇÃO ção acentuação", "ñandú pingüino", "Œuvre cœur", "ﷺ arabic ligature", "๓ thai digit", "᠎mongolian vowel sep",
]
SPECIAL = ["[CLS]", "[SEP] after", "before [SEP]", "[MASK] in the middle", "[cls] lowercase", "[UNK][PAD]",
           "x[SEP]y", "[[SEP]]", "[SEP", "SEP]", "[CLS][CLS]"]


def product_title(rng):
    parts = [rng.choice(BRANDS), rng.choice(ADJ), rng.choice(NOUNS)]
    if rng.random() < 0.6:
        parts.append(rng.choice(UNITS))
    if rng.random() < 0.3:
        parts.append(f"Model {rng.choice('ABCDEFGHJK')}{rng.randint(100, 99999)}-{rng.choice(['X', 'XL', 'B2', 'Pro'])}")
    if rng.random() < 0.2:
        parts.append(f"${rng.randint(1, 999)}.{rng.randint(0, 99):02d}")
    rng.shuffle(parts[1:])
    return " ".join(parts)


def query(rng):
    words = (rng.choice(NOUNS) + " " + rng.choice(ADJ)).lower().split()
    rng.shuffle(words)
    q = " ".join(words[: rng.randint(1, len(words))])
    if rng.random() < 0.2 and len(q) > 3:  # a typo
        i = rng.randrange(len(q) - 1)
        q = q[:i] + q[i + 1] + q[i] + q[i + 2:]
    return q


def random_unicode(rng, n):
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.3:
            cp = rng.randint(0x20, 0x7E)
        elif r < 0.6:
            cp = rng.randint(0xA0, 0x2FFF)
        elif r < 0.8:
            cp = rng.randint(0x3000, 0xFFFD)
        else:
            cp = rng.randint(0x10000, 0x10FFFF)
        if 0xD800 <= cp <= 0xDFFF:
            cp = 0x41
        out.append(chr(cp))
    return "".join(out)


def invalid_utf8(rng):
    pieces = [b"ok ", bytes([rng.choice([0x80, 0xBF, 0xC0, 0xC1, 0xF5, 0xFF])]), b" mid",
              b"\xe2\x82", b" cut", b"\xed\xa0\x80 surrogate", b"\xf0\x9f\x98", b" end", b"\xc3\x28",
              b"\xf4\x90\x80\x80 too big", b"\xe0\x80\xaf overlong", "é".encode()]
    rng.shuffle(pieces)
    return b"".join(pieces[: rng.randint(1, len(pieces))])


def build(seed=1234):
    rng = random.Random(seed)
    items = []
    items += [s.encode() for s in ["", " ", "   ", "\t\n", ".", "!!!", "a", "A", "hello world", "Hello, World!"]]
    items += [product_title(rng).encode() for _ in range(700)]
    items += [query(rng).encode() for _ in range(300)]
    items += [s.encode() for s in UNICODE]
    items += [(rng.choice(UNICODE) + " " + product_title(rng)).encode() for _ in range(150)]
    items += [s.encode() for s in SPECIAL]
    items += [random_unicode(rng, rng.randint(1, 40)).encode() for _ in range(500)]
    items += [invalid_utf8(rng) for _ in range(100)]
    items += [("x" * n + " tail").encode() for n in (99, 100, 101, 150, 400)]
    items += [("é" * n).encode() for n in (100, 101)]
    items += [("supercalifragilistic" * 4).encode(), ("antidisestablishmentarianism " * 3).encode()]
    items += [" ".join(product_title(rng) for _ in range(rng.randint(10, 40))).encode() for _ in range(60)]
    items += [("word " * 300).encode(), ("日本" * 200).encode(), ("😀" * 300).encode()]
    items += [(rng.choice(UNICODE) * rng.randint(2, 20)).encode() for _ in range(100)]
    return items
