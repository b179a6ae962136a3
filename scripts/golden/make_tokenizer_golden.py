#!/usr/bin/env python3
"""Golden token ids from the real Hugging Face tokenizer (tests/fixtures/tokenizer_golden.tsv).

Each line: hex(input bytes) TAB ids with sentence-transformers' truncation (max_length from
sentence_bert_config.json, truncation='longest_first') TAB ids without truncation.
Invalid UTF-8 is decoded with errors='replace', the C tokenizer's documented rule.
Run: venv/bin/python scripts/golden/make_tokenizer_golden.py models/all-MiniLM-L6-v2 > tests/fixtures/tokenizer_golden.tsv"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import corpus  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402


def main():
    model_dir = sys.argv[1]
    tok = AutoTokenizer.from_pretrained(model_dir)
    max_len = json.load(open(os.path.join(model_dir, "sentence_bert_config.json")))["max_seq_length"]
    items = corpus.build()
    assert len(items) >= 2000, len(items)
    for b in items:
        text = b.decode("utf-8", errors="replace")
        trunc = tok(text, truncation="longest_first", max_length=max_len)["input_ids"]
        full = tok(text, truncation=False)["input_ids"]
        print(b.hex() + "\t" + " ".join(map(str, trunc)) + "\t" + " ".join(map(str, full)))


if __name__ == "__main__":
    main()
