#!/usr/bin/env python3
"""The sequential model of src/seqmodel.h written a second time, independently, with torch.nn ops
and autograd, in float64 (so the fixture holds the exact answer and every difference the C test
sees is the C code's own fp32 error). Writes one tiny configuration, its inputs, random
parameters, the loss, every gradient and the losses of a few AdamW steps to a little-endian
fixture that tests/test_seqmodel.c reads.

PyTorch is only the generator of this file: nothing in the product or CI imports it.
Run (in a venv outside the repo, e.g. python3 -m venv /work/venv-torch; pip install torch numpy):
    /work/venv-torch/bin/python scripts/golden/make_seqmodel_golden.py tests/fixtures/seqmodel_golden.bin

Fixture layout (little-endian, no padding between fields):
    char    magic[8]       "FRSEQGD1"
    int32   N, d, T, L, H, Dt, F, B, K, n_steps, n_params
    float32 lr, beta1, beta2, eps, weight_decay, max_grad_norm
    float32 text[N*Dt]                 frozen text vectors, row i = item i
    int32   items[B*T]                 -1 = padding (left)
    int32   targets[B*T]               -1 = no loss at that position
    int32   negatives[K]               shared uniform negatives
    float32 params[n_params]           flat, in fr_seq_tensor_id order, per-block tensors stacked over L
    float32 grads[n_params]            d loss / d params at params
    float32 losses[n_steps + 1]        losses[0] = loss at params; losses[k] = loss after k AdamW steps
                                       (each step: forward, backward, clip_grad_norm_, AdamW.step)
"""
import math
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)

N, D, T, L, H, DT, FF, B, K, STEPS = 23, 16, 7, 2, 2, 12, 64, 3, 5, 3
LR, BETA1, BETA2, EPS, WD = 1e-2, 0.9, 0.999, 1e-8, 0.01


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(D, eps=1e-5)
        self.qkv = nn.Linear(D, 3 * D)
        self.proj = nn.Linear(D, D)
        self.ln2 = nn.LayerNorm(D, eps=1e-5)
        self.fc = nn.Linear(D, FF)
        self.fcproj = nn.Linear(FF, D)

    def forward(self, x, valid):
        b, t, _ = x.shape
        hs = D // H
        q, k, v = self.qkv(self.ln1(x)).split(D, dim=-1)
        q, k, v = (z.view(b, t, H, hs).transpose(1, 2) for z in (q, k, v))  # (b, H, t, hs)
        allowed = torch.ones(t, t, dtype=torch.bool).tril()[None] & valid[:, None, :]
        # a padded query has no key it may see; give it itself so its softmax stays finite (its
        # output is discarded below and never reaches a valid position)
        allowed = allowed | (torch.eye(t, dtype=torch.bool)[None] & ~valid[:, :, None])
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
        att = scores.masked_fill(~allowed[:, None], float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, t, D)
        h = x + self.proj(y)
        return h + self.fcproj(F.gelu(self.fc(self.ln2(h)), approximate="none"))


class SeqModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.E = nn.Embedding(N, D)
        self.Wp = nn.Linear(DT, D)
        self.pos = nn.Parameter(torch.zeros(T, D))
        self.blocks = nn.ModuleList(Block() for _ in range(L))
        self.lnf = nn.LayerNorm(D, eps=1e-5)

    def item_vectors(self, ids, text):
        return self.E(ids) + self.Wp(text[ids])

    def forward(self, items, targets, negatives, text):
        valid = items >= 0
        x = (self.item_vectors(items.clamp(min=0), text) + self.pos[None]) * valid[..., None]
        for blk in self.blocks:
            x = blk(x, valid) * valid[..., None]
        u = self.lnf(x)
        has = targets >= 0
        ur, y = u[has], targets[has]  # loss positions in (b, t) order
        cand = torch.cat([y, negatives])
        logits = ur @ self.item_vectors(cand, text).T  # (n, n + K)
        n = y.shape[0]
        same = cand[None, :] == y[:, None]
        same[torch.arange(n), torch.arange(n)] = False  # the positive itself stays
        logits = logits.masked_fill(same, float("-inf"))
        return F.cross_entropy(logits, torch.arange(n))

    def flat(self, grad=False):
        """Tensors in fr_seq_tensor_id order (E, Wp, bp, pos, ln1_w, ln1_b, qkv_w, qkv_b,
        attproj_w, attproj_b, ln2_w, ln2_b, fc_w, fc_b, fcproj_w, fcproj_b, lnf_w, lnf_b)."""
        g = (lambda p: p.grad) if grad else (lambda p: p.detach())
        bl = self.blocks
        per_block = lambda f: torch.stack([g(f(b)) for b in bl])
        ts = [g(self.E.weight), g(self.Wp.weight), g(self.Wp.bias), g(self.pos),
              per_block(lambda b: b.ln1.weight), per_block(lambda b: b.ln1.bias),
              per_block(lambda b: b.qkv.weight), per_block(lambda b: b.qkv.bias),
              per_block(lambda b: b.proj.weight), per_block(lambda b: b.proj.bias),
              per_block(lambda b: b.ln2.weight), per_block(lambda b: b.ln2.bias),
              per_block(lambda b: b.fc.weight), per_block(lambda b: b.fc.bias),
              per_block(lambda b: b.fcproj.weight), per_block(lambda b: b.fcproj.bias),
              g(self.lnf.weight), g(self.lnf.bias)]
        return torch.cat([t.reshape(-1) for t in ts])


def main():
    out = sys.argv[1]
    gen = torch.Generator().manual_seed(20240917)
    rnd = lambda *shape, std=1.0: torch.randn(*shape, generator=gen) * std
    model = SeqModel()
    with torch.no_grad():
        # scales chosen so that every path carries a visible gradient: peaked attention, GELU on
        # both sides of 0, LayerNorm gains away from 1, non-zero biases
        for name, p in model.named_parameters():
            if name == "lnf.weight":  # small, so the logits u.v stay moderate (loss near log of the candidates)
                p.copy_(0.3 + rnd(*p.shape, std=0.1))
            elif name.endswith("ln1.weight") or name.endswith("ln2.weight"):
                p.copy_(1.0 + rnd(*p.shape, std=0.2))
            elif name.endswith("bias"):
                p.copy_(rnd(*p.shape, std=0.1))
            elif name == "E.weight" or name == "pos":
                p.copy_(rnd(*p.shape, std=0.5))
            else:
                p.copy_(rnd(*p.shape, std=1.0 / math.sqrt(p.shape[1])))
    text = rnd(N, DT)

    pad = -1
    items = torch.tensor([[3, 7, 1, 12, 7, 20, 5],          # full row, a repeated item
                          [pad, pad, pad, 9, 14, 3, 22],   # left padding
                          [pad, pad, pad, pad, pad, 11, 0]], dtype=torch.long)
    targets = torch.tensor([[7, 1, 12, 7, 20, 5, 16],
                            [pad, pad, pad, 14, 3, 22, -1],  # a valid position without a target
                            [pad, pad, pad, pad, pad, 0, 16]], dtype=torch.long)  # 16: an in-batch repeat
    negatives = torch.tensor([4, 14, 19, 4, 8], dtype=torch.long)  # 14 is a target; 4 is drawn twice

    loss = model(items, targets, negatives, text)
    loss.backward()
    params0, grads0 = model.flat(), model.flat(grad=True)
    norm0 = torch.sqrt(sum((p.grad ** 2).sum() for p in model.parameters())).item()
    max_norm = 0.8 * norm0  # so that clipping acts on (at least) the first step

    opt = torch.optim.AdamW(model.parameters(), lr=LR, betas=(BETA1, BETA2), eps=EPS, weight_decay=WD)
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        l = model(items, targets, negatives, text)
        losses.append(l.item())
        l.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        opt.step()
    with torch.no_grad():
        losses.append(model(items, targets, negatives, text).item())
    assert abs(losses[0] - loss.item()) < 1e-12

    f32 = lambda t: struct.pack(f"<{t.numel()}f", *t.reshape(-1).tolist())
    i32 = lambda t: struct.pack(f"<{t.numel()}i", *t.reshape(-1).tolist())
    with open(out, "wb") as f:
        f.write(b"FRSEQGD1")
        f.write(struct.pack("<11i", N, D, T, L, H, DT, FF, B, K, STEPS, params0.numel()))
        f.write(struct.pack("<6f", LR, BETA1, BETA2, EPS, WD, max_norm))
        f.write(f32(text) + i32(items) + i32(targets) + i32(negatives))
        f.write(f32(params0) + f32(grads0))
        f.write(struct.pack(f"<{len(losses)}f", *losses))
    print(f"{out}: {params0.numel()} parameters, loss {losses[0]:.6f}, grad norm {norm0:.4f} (clip {max_norm:.4f}), "
          f"losses {' '.join(f'{x:.6f}' for x in losses)}")


if __name__ == "__main__":
    main()
