#!/usr/bin/env python3
"""summarize_gpu.py EMBED_JSONL PEER_JSONL - markdown tables from bench/embed_gpu and its peer
(bench/peers/embed_gpu_peer.py): per model, precision, length and batch, feedrank's sequences/s
and tokens/s, PyTorch's at the same point (same run), the speed-up, and the time over the FLOP
floor at the measured product rate; then the 16-token query latency and candidate scoring."""
import json
import sys


def load(path):
    try:
        return [json.loads(line) for line in open(path) if line.startswith("{")]
    except OSError:
        return []


def main():
    ours, peer = load(sys.argv[1]), load(sys.argv[2])
    dev = [r for r in ours if r["kind"] == "device"]
    pdev = [r for r in peer if r["kind"] == "peer_device"]
    for d in dev:
        print(f"- {d['gpu']} ({d['sms']} SMs): cuBLAS {d['precision']} 8192^3 product {d['gemm_8192_flops'] / 1e12:.0f} TFLOP/s, "
              f"device copy {d['copy_bytes_per_s'] / 1e12:.2f} TB/s (read + write)")
    for d in pdev:
        print(f"- peer: torch {d['torch']}, attention '{d['attn']}', {d['precision']} matmul {d['matmul_8192_flops'] / 1e12:.0f} TFLOP/s")
    pe = {(r["model"], r["precision"], r["seq"], r["batch"]): r for r in peer if r["kind"] == "peer_embed"}
    print()
    print("| model | prec | seq | batch | feedrank seq/s | tokens/s | PyTorch seq/s | speed-up | x FLOP floor |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in ours:
        if r["kind"] != "embed":
            continue
        p = pe.get((r["model"], r["precision"], r["seq"], r["batch"]))
        ps = f"{p['seqs_per_s']:.0f}" if p else "-"
        sp = f"{r['seqs_per_s'] / p['seqs_per_s']:.2f}x" if p else "-"
        print(f"| {r['model']} | {r['precision']} | {r['seq']} | {r['batch']} | {r['seqs_per_s']:.0f} | {r['tokens_per_s']:.3g} | "
              f"{ps} | {sp} | {r['x_floor']:.2f} |")
    print()
    pq = {(r["model"], r["precision"]): r for r in peer if r["kind"] == "peer_query_latency"}
    for r in ours:
        if r["kind"] == "query_latency":
            p = pq.get((r["model"], r["precision"]))
            ptxt = f"; PyTorch {p['median_s'] * 1e3:.2f} ms (p99 {p['p99_s'] * 1e3:.2f})" if p else ""
            print(f"- one {r['tokens']}-token query, {r['model']} {r['precision']}: median {r['median_s'] * 1e3:.3f} ms, "
                  f"p99 {r['p99_s'] * 1e3:.3f} ms{ptxt}")
    ps = {r["candidates"]: r for r in peer if r["kind"] == "peer_score"}
    print()
    print("| candidates | feedrank score | + top-100 | PyTorch score | + top-100 | memory floor |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in ours:
        if r["kind"] == "score":
            p = ps.get(r["candidates"])
            f = lambda v: f"{v * 1e6:.1f} us"
            print(f"| {r['candidates']} | {f(r['score_median_s'])} | {f(r['score_top100_median_s'])} | "
                  f"{f(p['score_median_s']) if p else '-'} | {f(p['score_top100_median_s']) if p else '-'} | {f(r['memory_floor_s'])} |")


if __name__ == "__main__":
    main()
