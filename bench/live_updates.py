#!/usr/bin/python3
"""live_updates.py - the price of live updates through the served path (issue #20): the time until
an UpsertItems call is acknowledged (one item by vector; one item by text, embedded by the server)
under --sync-interval-ms 0 (fdatasync before every answer) and 100, and the time from the
acknowledgement until a Rerank ranks the item. One call at a time on loopback; the log on the
checkout's file system. Prints JSON lines with medians and p99.

    live_updates.py FEEDRANK_BIN MODEL_DIR SOURCE_DIR [CALLS]"""
import os
import random
import re
import statistics
import sys
import time

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import server_harness as h  # noqa: E402

BIN, MODEL, SRC = (os.path.abspath(a) for a in sys.argv[1:4])
CALLS = int(sys.argv[4]) if len(sys.argv) > 4 else 200
TMP = os.path.join(SRC, "build", "bench-live")  # not /tmp: fsync must reach a disk
os.makedirs(TMP, exist_ok=True)
pb, pbg, _, _ = h.stubs(SRC, TMP)
STORE = os.path.join(TMP, "items.store")
h.index_example(BIN, MODEL, SRC, STORE)
rng = random.Random(3)


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


for sync in ("0", "100"):
    wal = os.path.join(TMP, f"items-{sync}.wal")
    if os.path.exists(wal):
        os.remove(wal)
    srv = h.Server(BIN, MODEL, STORE, TMP, "--wal", wal, "--sync-interval-ms", sync, "--compact-items", "100000", metrics=False)
    st = pbg.RerankerStub(grpc.insecure_channel(f"127.0.0.1:{srv.port}"))
    _, msg = h.code_of(lambda: st.UpsertItems(pb.UpsertItemsRequest(items=[pb.ItemUpdate(item_id="x", vector=[0.0] * 384, model_fingerprint=1)]), timeout=30))
    fp = int(re.search(r"this server's model \(([0-9a-f]+)\)", msg).group(1), 16)
    for kind in ("vector", "text"):
        ack, visible = [], []
        for k in range(CALLS if kind == "vector" else CALLS // 4):
            iid = f"{kind}-{sync}-{k}"
            if kind == "vector":
                item = pb.ItemUpdate(item_id=iid, vector=[rng.uniform(-1, 1) for _ in range(384)], model_fingerprint=fp)
            else:
                item = pb.ItemUpdate(item_id=iid, text=f"cordless drill model {k} with {k % 7 + 1} batteries and a case")
            t0 = time.perf_counter()
            st.UpsertItems(pb.UpsertItemsRequest(items=[item]), timeout=30)
            t1 = time.perf_counter()
            r = st.Rerank(pb.RerankRequest(context=pb.Context(query="drill"), candidates=[pb.Candidate(item_id=iid)]), timeout=30)
            t2 = time.perf_counter()
            assert len(r.items) == 1, r  # rankable by the very next request
            ack.append(t1 - t0)
            visible.append(t2 - t1)
        print('{"bench":"live_upsert","sync_interval_ms":%s,"by":"%s","calls":%d,"ack_median_ms":%.3f,"ack_p99_ms":%.3f,'
              '"ack_to_ranked_median_ms":%.3f,"ack_to_ranked_p99_ms":%.3f}' % (
                  sync, kind, len(ack), 1e3 * statistics.median(ack), 1e3 * pct(ack, 0.99), 1e3 * statistics.median(visible), 1e3 * pct(visible, 0.99)))
        sys.stdout.flush()
    srv.stop()
