#!/usr/bin/env python3
"""summarize_cpu.py RESULTS.jsonl - the table of bench/run_embed_cpu.sh: per (tokens, batch), the
median over runs of each implementation's median batch latency (ms), the fastest peer, and each
feedrank precision's speed relative to it (> 1 = faster). Plain Python, no dependencies."""
import json
import statistics
import sys

PEERS = {"st": "sentence-transformers", "ort": "ORT", "ort-opt": "ORT fused"}


def main(path):
    lat = {}  # (impl, L, B) -> [median_ms per run]
    for line in open(path):
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        if r.get("bench") != "embed":
            continue
        impl = r["impl"] if r["impl"] != "feedrank" else "feedrank " + r.get("precision", "fp32")
        lat.setdefault((impl, r["seq_len"], r["batch"]), []).append(r["median_ms"])
    points = sorted({(L, B) for _, L, B in lat})
    ours = sorted({i for i, _, _ in lat if i.startswith("feedrank")}, key=lambda s: ("fp32", "bf16", "fp16").index(s.split()[1]) if s.split()[1] in ("fp32", "bf16", "fp16") else 9)
    peers = [p for p in PEERS if any(i == p for i, _, _ in lat)]
    runs = max(len(v) for v in lat.values()) if lat else 0
    head = ["tokens x batch"] + [f"{o} ms" for o in ours] + [f"{PEERS[p]} ms" for p in peers] + ["fastest peer"] + [f"{o.split()[1]} / fastest peer" for o in ours]
    print(f"Median over {runs} runs of each implementation's median batch latency.\n")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for L, B in points:
        med = {i: statistics.median(lat[(i, L, B)]) for i in ours + peers if (i, L, B) in lat}
        row = [f"{L} x {B}"] + [f"{med[o]:.2f}" if o in med else "-" for o in ours] + [f"{med[p]:.2f}" if p in med else "-" for p in peers]
        have = [p for p in peers if p in med]
        if have:
            best = min(have, key=lambda p: med[p])
            row.append(PEERS[best])
            row += [f"{med[best] / med[o]:.2f}x" if o in med else "-" for o in ours]
        else:
            row += ["-"] * (1 + len(ours))
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
