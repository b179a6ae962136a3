#!/usr/bin/env python3
"""make-bench-model.py TEMPLATE_DIR OUT_DIR [--layers 12 --hidden 384 --heads 12 --intermediate 1536
--pooling cls --max-seq 512] - a BERT model folder with random weights of a given shape, made by
upstream transformers, for speed measurements where the real weights cannot be fetched (speed does
not depend on the values). The defaults are BAAI/bge-small-en-v1.5's shape. The tokenizer and
sentence-transformers files come from TEMPLATE_DIR (any uncased-BERT-vocabulary model, e.g.
all-MiniLM-L6-v2); pooling and max_seq_length are set as asked."""
import argparse
import json
import os
import shutil

import torch
from transformers import BertConfig, BertModel


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("template")
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--hidden", type=int, default=384)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--intermediate", type=int, default=1536)
    ap.add_argument("--pooling", choices=["cls", "mean"], default="cls")
    ap.add_argument("--max-seq", type=int, default=512)
    a = ap.parse_args()
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=30522, hidden_size=a.hidden, num_hidden_layers=a.layers, num_attention_heads=a.heads,
                     intermediate_size=a.intermediate, max_position_embeddings=512, type_vocab_size=2,
                     layer_norm_eps=1e-12, hidden_act="gelu")
    model = BertModel(cfg, add_pooling_layer=False)
    os.makedirs(a.out, exist_ok=True)
    model.save_pretrained(a.out, safe_serialization=True)
    for name in ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json", "modules.json",
                 "config_sentence_transformers.json"):
        p = os.path.join(a.template, name)
        if os.path.exists(p):
            shutil.copy2(p, os.path.join(a.out, name))
    os.makedirs(os.path.join(a.out, "1_Pooling"), exist_ok=True)
    json.dump({"word_embedding_dimension": a.hidden, "pooling_mode_cls_token": a.pooling == "cls",
               "pooling_mode_mean_tokens": a.pooling == "mean", "pooling_mode_max_tokens": False,
               "pooling_mode_mean_sqrt_len_tokens": False},
              open(os.path.join(a.out, "1_Pooling", "config.json"), "w"))
    json.dump({"max_seq_length": a.max_seq, "do_lower_case": True},
              open(os.path.join(a.out, "sentence_bert_config.json"), "w"))
    print(f"make-bench-model: {a.out}: {a.layers} layers, hidden {a.hidden}, {a.heads} heads, "
          f"intermediate {a.intermediate}, {a.pooling} pooling, max_seq {a.max_seq} (random weights)")


if __name__ == "__main__":
    main()
