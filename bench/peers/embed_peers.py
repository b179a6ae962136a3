#!/usr/bin/env python3
"""Same-run peers for bench/embed_cpu: the same texts embedded by
  st       sentence-transformers (PyTorch), model.encode(batch)
  ort      ONNX Runtime on the model exported by torch.onnx, HF fast tokenizer, mean pooling +
           L2 normalisation in numpy (a typical production ONNX pipeline)
  ort-opt  the same with onnxruntime.transformers' BERT fusions (attention, LayerNorm, GELU)
Each prints one JSON line per (seq_len, batch) in embed_cpu's format: median batch latency over
at least --min-seconds and 5 runs, tokenization included. Needs a venv with
sentence-transformers, onnx and onnxruntime (never installed by CI)."""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import numpy as np


def timed(fn, texts_by_run, min_seconds):
    for w in range(2):
        fn(texts_by_run(w))
    lat, start, runs = [], time.perf_counter(), 0
    while runs < 5 or time.perf_counter() - start < min_seconds:
        batch = texts_by_run(runs)
        t0 = time.perf_counter()
        fn(batch)
        lat.append(time.perf_counter() - t0)
        runs += 1
    return statistics.median(lat), runs


def export_onnx(model_dir, out_path, optimize):
    import torch
    from transformers import AutoModel
    bert = AutoModel.from_pretrained(model_dir).eval()

    class Wrap(torch.nn.Module):  # keyword call: forward()'s positional order varies by version
        def __init__(self):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state

    model = Wrap().eval()
    dummy = {k: torch.ones(2, 16, dtype=torch.long) for k in ("input_ids", "attention_mask", "token_type_ids")}
    torch.onnx.export(model, (dummy["input_ids"], dummy["attention_mask"], dummy["token_type_ids"]), out_path,
                      input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["last_hidden_state"],
                      dynamic_axes={n: {0: "batch", 1: "seq"} for n in ["input_ids", "attention_mask", "token_type_ids", "last_hidden_state"]},
                      opset_version=17, dynamo=False)
    if optimize:
        from onnxruntime.transformers import optimizer
        cfg = bert.config
        opt = optimizer.optimize_model(out_path, model_type="bert", num_heads=cfg.num_attention_heads, hidden_size=cfg.hidden_size)
        opt.save_model_to_file(out_path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--impl", choices=["st", "ort", "ort-opt"], required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--texts-dir", required=True)
    ap.add_argument("--lens", default="16,128")
    ap.add_argument("--batches", default="1,8,64")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--min-seconds", type=float, default=3.0)
    a = ap.parse_args()
    import torch
    torch.set_num_threads(a.threads)
    if a.impl == "st":
        from sentence_transformers import SentenceTransformer
        m = SentenceTransformer(a.model, device="cpu")

        def run(batch):
            return m.encode(batch, batch_size=len(batch), convert_to_numpy=True)
    else:
        import onnxruntime as ort
        from transformers import AutoTokenizer
        tok = AutoTokenizer.from_pretrained(a.model)
        path = os.path.join(tempfile.mkdtemp(), "model.onnx")
        export_onnx(a.model, path, a.impl == "ort-opt")
        so = ort.SessionOptions()
        so.intra_op_num_threads = a.threads
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])

        def run(batch):
            enc = tok(batch, padding=True, truncation=True, max_length=256, return_tensors="np")
            feed = {k: enc[k].astype(np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")}
            h = sess.run(None, feed)[0]
            mask = enc["attention_mask"][..., None].astype(np.float32)
            v = (h * mask).sum(1) / np.maximum(mask.sum(1), 1e-9)
            return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    for L in map(int, a.lens.split(",")):
        texts = [l.rstrip("\n") for l in open(os.path.join(a.texts_dir, f"texts_{L}.txt"))]
        for B in map(int, a.batches.split(",")):
            med, runs = timed(run, lambda r: texts[(r % 4) * B:(r % 4) * B + B], a.min_seconds)
            print(json.dumps({"bench": "embed", "impl": a.impl, "device": "cpu", "seq_len": L, "batch": B, "runs": runs,
                              "median_ms": round(med * 1e3, 3), "texts_per_s": round(B / med, 1),
                              "tokens_per_s": round(B * L / med)}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
