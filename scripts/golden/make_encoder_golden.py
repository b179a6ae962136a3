#!/usr/bin/env python3
"""Golden sentence vectors from upstream sentence-transformers (run once; outputs committed).

  make_encoder_golden.py minilm MODEL_DIR OUT_PREFIX
      all-MiniLM-L6-v2 real weights: OUT_PREFIX.txt (hex texts) + OUT_PREFIX.f32 (vectors)
  make_encoder_golden.py tiny-bge OUT_DIR
      a small BERT with bge-small-en-v1.5's structure (12 layers, CLS pooling, Normalize, the
      bge query instruction) but random weights and hidden 32, created and saved by upstream
      transformers with a fixed seed in F16 (model.safetensors) and BF16 (model.bf16.safetensors);
      golden vectors for plain and query texts for each file. The reference runs upstream in
      float64: a random 12-layer net amplifies upstream's own fp32 rounding to ~1e-4 of cosine
      (measured: upstream fp32 vs upstream fp64 0.99994), more than the 0.9999 bar leaves.
Vectors are float32 little-endian, one row per text."""
import json
import os
import shutil
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
import corpus  # noqa: E402
from sentence_transformers import SentenceTransformer, models  # noqa: E402

BGE_QUERY = "Represent this sentence for searching relevant passages: "


def texts_for_golden(n_random=220):
    items = corpus.build()
    # a spread: every 9th corpus item, plus all long ones; decoded as the C side does
    picked = [b for i, b in enumerate(items) if i % 9 == 0 or len(b) > 600]
    return [b.decode("utf-8", errors="replace") for b in picked]


def write(prefix, texts, vecs):
    with open(prefix + ".txt", "w") as f:
        for t in texts:
            f.write(t.encode("utf-8").hex() + "\n")
    np.asarray(vecs, dtype="<f4").tofile(prefix + ".f32")


def minilm(model_dir, out_prefix):
    torch.manual_seed(0)
    m = SentenceTransformer(model_dir, device="cpu")
    texts = texts_for_golden()
    assert len(texts) >= 200, len(texts)
    vecs = m.encode(texts, batch_size=16, convert_to_numpy=True)
    write(out_prefix, texts, vecs)
    print(f"{len(texts)} texts, dim {vecs.shape[1]}, max_seq_length {m.max_seq_length}")


def tiny_bge(out_dir, tokenizer_src):
    from transformers import BertConfig, BertModel
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(20240601)
    cfg = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=12, num_attention_heads=4,
                     intermediate_size=128, max_position_embeddings=512, layer_norm_eps=1e-12,
                     initializer_range=0.02, hidden_act="gelu")
    model = BertModel(cfg, add_pooling_layer=False).eval()
    cfg.dtype = "float32"
    tmp = out_dir + ".tmp"
    for dtype, name in ((torch.float16, "model.safetensors"), (torch.bfloat16, "model.bf16.safetensors")):
        model.to(dtype).save_pretrained(tmp, safe_serialization=True)
        shutil.move(os.path.join(tmp, "model.safetensors"), os.path.join(out_dir, name))
    shutil.move(os.path.join(tmp, "config.json"), os.path.join(out_dir, "config.json"))
    shutil.rmtree(tmp)
    for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(os.path.join(tokenizer_src, f), os.path.join(out_dir, f))
    json.dump({"max_seq_length": 512, "do_lower_case": True}, open(os.path.join(out_dir, "sentence_bert_config.json"), "w"), indent=2)
    json.dump({"prompts": {"query": BGE_QUERY, "document": ""}, "default_prompt_name": None},
              open(os.path.join(out_dir, "config_sentence_transformers.json"), "w"), indent=2)
    json.dump([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
               {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}],
              open(os.path.join(out_dir, "modules.json"), "w"), indent=2)
    os.makedirs(os.path.join(out_dir, "1_Pooling"), exist_ok=True)
    json.dump({"word_embedding_dimension": 32, "pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False,
               "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False},
              open(os.path.join(out_dir, "1_Pooling", "config.json"), "w"), indent=2)
    texts = texts_for_golden()[:120]
    for weights, tag in (("model.safetensors", "f16"), ("model.bf16.safetensors", "bf16")):
        # upstream computes in float32 from the stored half-precision values, as feedrank does
        from safetensors.torch import load_file
        bert = BertModel(cfg, add_pooling_layer=False)
        sd = {k: v.float() for k, v in load_file(os.path.join(out_dir, weights)).items()}
        missing, unexpected = bert.load_state_dict(sd, strict=False)
        assert not unexpected and all("position_ids" in k for k in missing), (missing, unexpected)
        bert = bert.double().eval()
        tr = models.Transformer(out_dir, max_seq_length=512)
        tr.auto_model = bert
        st = SentenceTransformer(modules=[tr, models.Pooling(32, pooling_mode="cls"), models.Normalize()], device="cpu",
                                 prompts={"query": BGE_QUERY}).to(torch.float64)
        plain = st.encode(texts, batch_size=16, convert_to_numpy=True)
        query = st.encode(texts, batch_size=16, convert_to_numpy=True, prompt_name="query")
        write(os.path.join(out_dir, f"golden_{tag}_plain"), texts, plain)
        write(os.path.join(out_dir, f"golden_{tag}_query"), texts, query)
    print(f"tiny-bge: {len(texts)} texts")


if __name__ == "__main__":
    if sys.argv[1] == "minilm":
        minilm(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "tiny-bge":
        tiny_bge(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
