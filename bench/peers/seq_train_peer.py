#!/usr/bin/env python3
"""PyTorch peer of the sequential model's trainer (src/seqmodel.h, bench/seq_train_cpu.c): the same
model, data, batch size, negatives and optimiser, written with torch.nn ops in fp32 eager mode, to
time a training step against feedrank's C trainer in the same run (bench/run_seq_train.sh).

Same model: item vector = id embedding + linear projection of a frozen text vector (random here,
as in seq_train_cpu: speed does not depend on the values), learned positions over a left-padded
window, pre-norm blocks (LayerNorm, causal self-attention, exact-GELU FFN), dropout on the
embedding sum and on each residual branch, final LayerNorm; sampled softmax over the batch's loss
positions' targets plus K shared uniform negatives, every other copy of a position's own target
masked; AdamW (no weight decay, as `feedrank train`'s default). Same data: every user history of
a RecBole .inter file (the targets never train), shuffled per epoch, the newest T+1 items of each
(inputs all but the newest, targets all but the oldest). Item vectors are computed once per
distinct item of a step (torch.unique), as the C trainer does.

    seq_train_peer.py --data Games.dev.inter [--epochs E] [--max-seq S] [--batch 128] [--neg 1024]
                      [--threads 2] [--device cpu|cuda] [--d 64] [--layers 2] [--heads 1] [--len 50]

Prints JSON lines: the configuration, then per epoch seconds, sequences/s, the median step time and
the mean loss (the same fields as seq_train_cpu). Not a product dependency: run from a venv.
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, d, heads, ff, p):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d, eps=1e-5)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d, eps=1e-5)
        self.fc = nn.Linear(d, ff)
        self.fcproj = nn.Linear(ff, d)
        self.drop = nn.Dropout(p)

    def forward(self, x, allowed):
        b, t, d = x.shape
        hs = d // self.heads
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        q, k, v = (z.view(b, t, self.heads, hs).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed[:, None])
        h = x + self.drop(self.proj(y.transpose(1, 2).reshape(b, t, d)))
        return h + self.drop(self.fcproj(F.gelu(self.fc(self.ln2(h)), approximate="none")))


class SeqModel(nn.Module):
    def __init__(self, n_items, d, t, layers, heads, d_text, ff, p):
        super().__init__()
        self.E = nn.Embedding(n_items, d)
        self.Wp = nn.Linear(d_text, d)
        self.pos = nn.Parameter(torch.randn(t, d) * 0.02)
        self.blocks = nn.ModuleList(Block(d, heads, ff, p) for _ in range(layers))
        self.lnf = nn.LayerNorm(d, eps=1e-5)
        self.drop = nn.Dropout(p)
        for name, w in self.named_parameters():
            if w.dim() == 2 and name != "pos":
                nn.init.normal_(w, std=0.02)

    def forward(self, items, targets, negatives, text):
        b, t = items.shape
        valid = items >= 0
        has = targets >= 0
        y = targets[has]
        cand = torch.cat([y, negatives])
        uniq, inv = torch.unique(torch.cat([items.clamp(min=0).reshape(-1), cand]), return_inverse=True)
        V = self.E(uniq) + self.Wp(text[uniq])
        x_ids, c_ids = inv[: b * t].view(b, t), inv[b * t:]
        x = self.drop((V[x_ids] + self.pos[None]) * valid[..., None])
        causal = torch.ones(t, t, dtype=torch.bool, device=items.device).tril()
        allowed = (causal[None] & valid[:, None, :]) | (torch.eye(t, dtype=torch.bool, device=items.device)[None] & ~valid[:, :, None])
        for blk in self.blocks:
            x = blk(x, allowed) * valid[..., None]
        u = self.lnf(x)[has]
        logits = u @ V[c_ids].T
        n = y.shape[0]
        same = cand[None, :] == y[:, None]
        same[torch.arange(n, device=items.device), torch.arange(n, device=items.device)] = False
        logits = logits.masked_fill(same, float("-inf"))
        return F.cross_entropy(logits, torch.arange(n, device=items.device))


def load_histories(path):
    """Histories of a RecBole feed .inter file, as store rows numbered in first-seen order."""
    ids, seqs = {}, []
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        col = next(i for i, h in enumerate(header) if h.startswith("item_id_list"))
        for line in f:
            parts = line.rstrip("\n").split("\t")
            seqs.append([ids.setdefault(x, len(ids)) for x in parts[col].split()])
    return seqs, len(ids)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--max-seq", type=int, default=0)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--neg", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=1)
    ap.add_argument("--len", type=int, default=50)
    ap.add_argument("--text-dim", type=int, default=384)
    ap.add_argument("--dropout", type=float, default=0.2)
    ap.add_argument("--items", type=int, default=0, help="catalogue size (default: items seen in the histories)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    dev = torch.device(a.device)
    seqs, n_seen = load_histories(a.data)
    if a.max_seq > 0:
        seqs = seqs[: a.max_seq]
    n_items = max(a.items, n_seen)
    T = a.len
    text = (torch.rand(n_items, a.text_dim) - 0.5) * 0.2
    model = SeqModel(n_items, a.d, T, a.layers, a.heads, a.text_dim, 4 * a.d, a.dropout).to(dev)
    text = text.to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    # inputs/targets of every sequence, left-padded, built once (the C trainer builds a batch's on the fly)
    train = [s for s in seqs if len(s) >= 2]
    inp = torch.full((len(train), T), -1, dtype=torch.long)
    tgt = torch.full((len(train), T), -1, dtype=torch.long)
    for i, s in enumerate(train):
        s = s[-(T + 1):]
        n = len(s) - 1
        inp[i, T - n:] = torch.tensor(s[:-1])
        tgt[i, T - n:] = torch.tensor(s[1:])
    print(json.dumps({"config": {"peer": "pytorch", "torch": torch.__version__, "device": a.device, "items": n_items,
                                 "d": a.d, "len": T, "layers": a.layers, "heads": a.heads, "d_text": a.text_dim,
                                 "d_ff": 4 * a.d, "dropout": a.dropout, "batch": a.batch, "neg": a.neg,
                                 "sequences": len(seqs), "threads": torch.get_num_threads(),
                                 "params": sum(p.numel() for p in model.parameters())}}), flush=True)
    g = torch.Generator().manual_seed(7)
    sync = (lambda: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda: None)
    for e in range(a.epochs):
        model.train()
        order = torch.randperm(len(train), generator=g)
        steps, total, positions, step_s = 0, 0.0, 0, []
        sync()
        t0, c0 = time.perf_counter(), time.process_time()
        for first in range(0, len(train), a.batch):
            s0 = time.perf_counter()
            idx = order[first:first + a.batch]
            items, targets = inp[idx].to(dev), tgt[idx].to(dev)
            negs = torch.randint(0, n_items, (a.neg,), generator=g).to(dev)
            loss = model(items, targets, negs, text)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item()  # also waits for the step on a GPU
            positions += int((targets >= 0).sum())
            steps += 1
            step_s.append(time.perf_counter() - s0)
        sync()
        sec, cpu = time.perf_counter() - t0, time.process_time() - c0
        step_s.sort()
        print(json.dumps({"epoch": e, "seconds": round(sec, 2), "cpu_seconds": round(cpu, 2),
                          "sequences_per_s": round(len(train) / sec, 1), "positions_per_s": round(positions / sec),
                          "steps": steps, "median_step_ms": round(step_s[len(step_s) // 2] * 1e3, 2),
                          "mean_loss": round(total / steps, 4)}), flush=True)


if __name__ == "__main__":
    main()
