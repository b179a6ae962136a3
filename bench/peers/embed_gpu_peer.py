#!/usr/bin/env python3
"""embed_gpu_peer.py - the same-run peer of bench/embed_gpu: PyTorch + sentence-transformers on the
same model folder and GPU, at the same points, timed the same way (host clock around a
synchronised call, median of >= 5 runs and --min-seconds after 3 warm-ups).

  embed_gpu_peer.py --model DIR [--precision fp16|bf16|fp32] [--lens ...] [--batches ...]

Per (length, batch): random ids of exactly that length ([CLS] ... [SEP], no padding), moved to
the GPU inside the timed region, the sentence-transformers module stack (Transformer -> Pooling ->
Normalize) under inference_mode, the pooled vectors copied back. Also: one 16-token query end to
end through model.encode, one query against 1e3 / 1e5 / 1e6 fp32 candidates (matmul, and matmul +
topk(100)), and the fp16/bf16/fp32 rate of an 8192^3 torch.matmul. Output: JSON lines."""
import argparse
import json
import time

import torch
from sentence_transformers import SentenceTransformer


def median_time(fn, min_s):
    for _ in range(3):
        fn()
    ts, start = [], time.perf_counter()
    while len(ts) < 5 or time.perf_counter() - start < min_s:
        a = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - a)
    ts.sort()
    n = len(ts)
    return (ts[n // 2] if n % 2 else 0.5 * (ts[n // 2 - 1] + ts[n // 2])), ts[int(0.99 * (n - 1))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--label")
    ap.add_argument("--precision", default="fp16", choices=["fp16", "bf16", "fp32"])
    ap.add_argument("--lens", default="16,32,128,512")
    ap.add_argument("--batches", default="1,8,64,256,1024")
    ap.add_argument("--min-seconds", type=float, default=0.5)
    ap.add_argument("--skip-score", action="store_true")
    a = ap.parse_args()
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[a.precision]
    dev = "cuda"
    model = SentenceTransformer(a.model, device=dev)
    model.to(dtype)
    model.eval()
    label = a.label or a.model.rstrip("/").split("/")[-1]
    attn = getattr(model[0].auto_model.config, "_attn_implementation", "?")
    n = 8192
    x = torch.randn(n, n, device=dev, dtype=dtype)
    y = torch.randn(n, n, device=dev, dtype=dtype)
    for _ in range(2):
        x @ y
    torch.cuda.synchronize()
    best = 0
    for _ in range(6):
        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        e0.record()
        x @ y
        e1.record()
        e1.synchronize()
        best = max(best, 2 * n ** 3 / (e0.elapsed_time(e1) * 1e-3))
    del x, y
    print(json.dumps({"kind": "peer_device", "peer": "pytorch", "torch": torch.__version__, "attn": attn,
                      "gpu": torch.cuda.get_device_name(), "precision": a.precision, "matmul_8192_flops": best}),
          flush=True)
    maxlen = model.max_seq_length
    g = torch.Generator().manual_seed(7)
    for L in [int(v) for v in a.lens.split(",")]:
        if L > maxlen:
            continue
        for B in [int(v) for v in a.batches.split(",")]:
            ids = torch.randint(1996, 1996 + 27000, (B, L), generator=g)
            ids[:, 0], ids[:, -1] = 101, 102
            feats = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}

            def run():
                with torch.inference_mode():
                    f = {k: v.to(dev) for k, v in feats.items()}
                    out = model(f)["sentence_embedding"].float().cpu()
                return out

            m, _ = median_time(run, a.min_seconds)
            print(json.dumps({"kind": "peer_embed", "peer": "pytorch", "model": label, "precision": a.precision,
                              "seq": L, "batch": B, "median_s": m, "seqs_per_s": B / m, "tokens_per_s": B * L / m}),
                  flush=True)
            torch.cuda.empty_cache()
    text = "cordless drill with two batteries and a charger for home garden work"
    m, p99 = median_time(lambda: model.encode([text], convert_to_numpy=True), a.min_seconds)
    print(json.dumps({"kind": "peer_query_latency", "peer": "pytorch", "model": label, "precision": a.precision,
                      "median_s": m, "p99_s": p99}), flush=True)
    if not a.skip_score:
        D = model.get_sentence_embedding_dimension()
        for N in (1000, 100000, 1000000):
            items = (torch.rand(N, D, device=dev) - 0.5) * 0.2
            q = items[0].clone()

            def score():
                s = items @ q
                torch.cuda.synchronize()
                return s

            def score_topk():
                s = items @ q
                torch.topk(s, min(100, N))
                torch.cuda.synchronize()

            m1, _ = median_time(score, a.min_seconds)
            m2, _ = median_time(score_topk, a.min_seconds)
            print(json.dumps({"kind": "peer_score", "peer": "pytorch", "candidates": N, "dim": D, "score_median_s": m1,
                              "score_top100_median_s": m2}), flush=True)
            del items


if __name__ == "__main__":
    main()
