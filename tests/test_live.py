"""test_live.py - live catalogue updates (issue #20) through the real server and a real gRPC
client: UpsertItems (text embedded by the server, or a vector with the model fingerprint) and
DeleteItems reach the next Rerank; errors name the field; updates survive a restart (the log is
replayed); a background compaction folds them into the store file and trims the log; a torn final
record is dropped with a message, a corrupt one in the middle stops start-up naming its offset; a
store with log priors compacts while items are deleted and added (kept items score as before);
without --wal the RPCs are refused.

    test_live.py FEEDRANK_BIN MODEL_DIR SOURCE_DIR"""
import os
import re
import shutil
import subprocess
import sys
import time

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server_harness as h  # noqa: E402

BIN, MODEL, SRC, TMP = h.args("fr_live_")
pb, pbg, hpb, hpbg = h.stubs(SRC, TMP)
check = h.Checks()
STORE = os.path.join(TMP, "items.store")
WAL = os.path.join(TMP, "items.wal")
h.index_example(BIN, MODEL, SRC, STORE)
STORE4 = os.path.join(TMP, "priors.store")
shutil.copy(STORE, STORE4)  # the catalogue as indexed, for the log priors case below
BASE_ID = open(f"{SRC}/examples/catalog.csv").read().splitlines()[1].split(",")[0]


def stub(srv):
    return pbg.RerankerStub(grpc.insecure_channel(f"127.0.0.1:{srv.port}"))


def rerank(st, ids, query="a cordless drill for wood"):
    r = st.Rerank(pb.RerankRequest(context=pb.Context(query=query), candidates=[pb.Candidate(item_id=i) for i in ids]), timeout=30)
    ranked = {it.item_id for it in r.items}
    unknown = {e.item_id for e in r.item_errors}
    return ranked, unknown, r.store_version


srv = h.Server(BIN, MODEL, STORE, TMP, "--wal", WAL, "--compact-items", "1000")
st = stub(srv)
ranked, unknown, v0 = rerank(st, [BASE_ID, "new-1"])
check("before: new-1 is unknown", "new-1" in unknown and BASE_ID in ranked)
check("store_version names the log position (.0)", v0.endswith(".0"))
r = st.UpsertItems(pb.UpsertItemsRequest(items=[pb.ItemUpdate(item_id="new-1", text="Cordless drill driver 18V with two batteries")]), timeout=30)
check("upsert by text: log position 1", r.log_position == 1 and r.items == 1 and r.store_version.endswith(".1"))
ranked, unknown, v1 = rerank(st, [BASE_ID, "new-1"])
check("after: new-1 is ranked in the next request", "new-1" in ranked and not unknown)
check("the response names the snapshot", v1.endswith(".1") and v1.split(".")[0] == v0.split(".")[0])
# errors name the field
code, msg = h.code_of(lambda: st.UpsertItems(pb.UpsertItemsRequest(items=[pb.ItemUpdate(item_id="x", vector=[0.5] * 3, model_fingerprint=1)]), timeout=30))
check(f"a vector of the wrong dimension names items[0].vector ({msg})", code == grpc.StatusCode.INVALID_ARGUMENT and "items[0].vector" in msg)
code, msg = h.code_of(lambda: st.UpsertItems(pb.UpsertItemsRequest(items=[pb.ItemUpdate(item_id="x", vector=[0.5] * 384, model_fingerprint=1)]), timeout=30))
check(f"a foreign model fingerprint is refused by name ({msg})", code == grpc.StatusCode.INVALID_ARGUMENT and "items[0].model_fingerprint" in msg)
FP = int(re.search(r"this server's model \(([0-9a-f]+)\)", msg).group(1), 16)
code, msg = h.code_of(lambda: st.UpsertItems(pb.UpsertItemsRequest(items=[pb.ItemUpdate(item_id="x")]), timeout=30))
check(f"an item without text or vector is refused ({msg})", code == grpc.StatusCode.INVALID_ARGUMENT and "items[0]" in msg)
code, msg = h.code_of(lambda: st.UpsertItems(pb.UpsertItemsRequest(items=[pb.ItemUpdate(item_id="a", text="t"), pb.ItemUpdate(item_id="a", text="u")]), timeout=30))
check(f"a repeated id is refused ({msg})", code == grpc.StatusCode.INVALID_ARGUMENT and "items[1].item_id" in msg)
code, msg = h.code_of(lambda: st.DeleteItems(pb.DeleteItemsRequest(), timeout=30))
check(f"an empty delete is refused ({msg})", code == grpc.StatusCode.INVALID_ARGUMENT and "item_ids" in msg)
# by vector: the new item takes the vector of the base item (same score)
vec = [0.0] * 384
vec[0] = 1.0
r = st.UpsertItems(pb.UpsertItemsRequest(items=[pb.ItemUpdate(item_id="vec-1", vector=vec, model_fingerprint=FP)]), timeout=30)
check("upsert by vector", r.log_position == 2)
r = st.DeleteItems(pb.DeleteItemsRequest(item_ids=[BASE_ID]), timeout=30)
check("delete of a stored item", r.log_position == 3 and r.items == 1)
ranked, unknown, v = rerank(st, [BASE_ID, "new-1", "vec-1"])
check("the deleted item is unknown, the upserted ones ranked", BASE_ID in unknown and {"new-1", "vec-1"} <= ranked and v.endswith(".3"))
r = st.Rerank(pb.RerankRequest(context=pb.Context(history=[pb.HistoryItem(item_id="new-1"), pb.HistoryItem(item_id=BASE_ID)]),
                               candidates=[pb.Candidate(item_id="vec-1"), pb.Candidate(item_id="new-1")]), timeout=30)
errs = {(e.item_id, e.code) for e in r.item_errors}
check(f"history: an upserted id is context, a deleted one an unknown history item ({errs})",
      len(r.items) == 2 and not r.no_context_vector and (BASE_ID, pb.UNKNOWN_HISTORY_ITEM) in errs and not any(i == "new-1" for i, _ in errs))
met = __import__("urllib.request").request.urlopen(f"http://127.0.0.1:{srv.mport}/metrics", timeout=10).read().decode()
check("metrics: updates, log bytes, delta items", 'feedrank_live_updates_total{op="upsert"} 2' in met and "feedrank_live_delta_items 3" in met and "feedrank_live_log_bytes" in met)
srv.stop()

# restart: the log is replayed
srv = h.Server(BIN, MODEL, STORE, TMP, "--wal", WAL, "--compact-items", "4", log_level="2")
st = stub(srv)
ranked, unknown, v = rerank(st, [BASE_ID, "new-1", "vec-1"])
check("after a restart: the same state", BASE_ID in unknown and {"new-1", "vec-1"} <= ranked and v.endswith(".3"))
# compaction: 4 ids in the delta -> folded into the store, the log trimmed
st.UpsertItems(pb.UpsertItemsRequest(items=[pb.ItemUpdate(item_id="new-2", text="Garden hose 30 m")]), timeout=30)
deadline = time.time() + 20
while "event=compacted" not in srv.log() and time.time() < deadline:
    time.sleep(0.2)
check("a background compaction ran", "event=compacted" in srv.log())
ranked, unknown, v = rerank(st, [BASE_ID, "new-1", "vec-1", "new-2"])
check("after compaction: the same answers", BASE_ID in unknown and {"new-1", "vec-1", "new-2"} <= ranked and v.endswith(".4"))
check("the log was trimmed to its header", os.path.getsize(WAL) == 32)
info = subprocess.run([BIN, "store", "info", STORE], capture_output=True, text=True)
check(f"the compacted store validates ({info.stderr.strip()})", info.returncode == 0)
srv.stop()
srv = h.Server(BIN, MODEL, STORE, TMP, "--wal", WAL)
st = stub(srv)
ranked, unknown, v = rerank(st, [BASE_ID, "new-1", "vec-1", "new-2"])
check("after compaction and a restart: the same answers", BASE_ID in unknown and {"new-1", "vec-1", "new-2"} <= ranked and v.endswith(".4"))
st.UpsertItems(pb.UpsertItemsRequest(items=[pb.ItemUpdate(item_id="new-3", text="Table lamp")]), timeout=30)
st.UpsertItems(pb.UpsertItemsRequest(items=[pb.ItemUpdate(item_id="new-4", text="Floor tile")]), timeout=30)
srv.stop()

# a torn final record: dropped with a message
data = open(WAL, "rb").read()
open(WAL, "wb").write(data[:-5])
srv = h.Server(BIN, MODEL, STORE, TMP, "--wal", WAL)
ranked, unknown, v = rerank(stub(srv), ["new-3", "new-4"])
check("torn tail: the last record dropped, the one before kept", "new-3" in ranked and "new-4" in unknown)
check("torn tail: reported", "event=wal_torn_tail" in srv.log())
srv.stop()
# a flipped bit in the middle: start-up refused naming the offset; --wal-skip-corrupt starts
st = stub(h.Server(BIN, MODEL, STORE, TMP, "--wal", WAL))
st.UpsertItems(pb.UpsertItemsRequest(items=[pb.ItemUpdate(item_id="new-5", text="Paint brush")]), timeout=30)
h._started[-1].kill()
data = bytearray(open(WAL, "rb").read())
data[32 + 20] ^= 0x40
open(WAL, "wb").write(bytes(data))
p = subprocess.run([BIN, "serve", "--model", MODEL, "--store", STORE, "--wal", WAL, "--listen", "127.0.0.1:0"], capture_output=True, text=True, timeout=60)
check(f"corrupt middle record: start-up refused naming offset 32 ({p.stderr.strip()[-200:]})", p.returncode != 0 and "offset 32" in p.stderr)
srv = h.Server(BIN, MODEL, STORE, TMP, "--wal", WAL, "--wal-skip-corrupt", "1")
ranked, unknown, v = rerank(stub(srv), ["new-3", "new-5"])
check("--wal-skip-corrupt: the corrupt record dropped, the next kept", "new-3" in unknown and "new-5" in ranked)
p = subprocess.run([BIN, "store", "compact", "--store", STORE, "--wal", WAL], capture_output=True, text=True)
check(f"store compact is refused while a server holds the log ({p.stderr.strip()})", p.returncode == 1 and "in use" in p.stderr)
srv.stop()
# offline compaction
p = subprocess.run([BIN, "store", "compact", "--store", STORE, "--wal", WAL], capture_output=True, text=True)
check(f"store compact refuses the corrupt log by default ({p.stderr.strip()[-120:]})", p.returncode == 1 and "offset 32" in p.stderr)
p = subprocess.run([BIN, "store", "compact", "--store", STORE, "--wal", WAL, "--wal-skip-corrupt"], capture_output=True, text=True)
check(f"store compact folds the log into the store ({p.stderr.strip()})", p.returncode == 0 and "folded" in p.stderr and os.path.getsize(WAL) == 32)
srv = h.Server(BIN, MODEL, STORE, TMP)  # no log at all: the store file alone holds the updates
ranked, unknown, v = rerank(stub(srv), [BASE_ID, "new-1", "new-5"])
check("after store compact: the store alone answers like the log did", {"new-1", "new-5"} <= ranked and BASE_ID in unknown)
srv.stop()

# a store with log priors: a compaction that deletes and adds items remaps them (no refusal);
# kept items keep their popularity and co-visitation, new ones start with none
WAL4, LOG4 = os.path.join(TMP, "priors.wal"), os.path.join(TMP, "priors.jsonl")
IDS = [line.split(",")[0] for line in open(f"{SRC}/examples/catalog.csv").read().splitlines()[1:]]
with open(LOG4, "w") as f:
    for t in range(48):
        f.write(f'{{"user":"u{t // 6}","item":"{IDS[(t // 6 * 5 + t % 6 * 3) % len(IDS)]}","ts":{t}}}\n')
subprocess.run([BIN, "index", "--interactions", LOG4, "--store", STORE4], check=True, capture_output=True)
srv = h.Server(BIN, MODEL, STORE4, TMP, "--wal", WAL4, "--compact-items", "4", "--store-check-ms", "100", log_level="2")
st = stub(srv)
NEW4 = ["prior-new-1", "prior-new-2", "prior-new-3"]
LOGQ = pb.RerankRequest(context=pb.Context(history=[pb.HistoryItem(item_id=IDS[0]), pb.HistoryItem(item_id=IDS[3])]),
                        candidates=[pb.Candidate(item_id=i) for i in IDS[:12] + NEW4],
                        options=pb.RerankOptions(semantic_weight=0, popularity_weight=1, covisitation_weight=1, log_gate=0, normalization=pb.NONE))
before = {it.item_id: it.score for it in st.Rerank(LOGQ, timeout=30).items}
st.UpsertItems(pb.UpsertItemsRequest(items=[pb.ItemUpdate(item_id=i, vector=[0.02 * k] * 384, model_fingerprint=FP) for k, i in enumerate(NEW4)]), timeout=30)
st.DeleteItems(pb.DeleteItemsRequest(item_ids=[IDS[5], IDS[6]]), timeout=30)
deadline = time.time() + 20
while "event=compacted" not in srv.log() and time.time() < deadline:
    time.sleep(0.2)
check("priors: a compaction that deletes 2 items and adds 3 runs", "event=compacted" in srv.log())
after = {it.item_id: it.score for it in st.Rerank(LOGQ, timeout=30).items}
kept = [i for i in IDS[:12] if i not in (IDS[5], IDS[6])]
check(f"priors: kept items score as before, new ones 0, deleted ones gone ({sum(before[i] != 0 for i in kept)} non-zero)",
      all(after[i] == before[i] for i in kept) and all(after[i] == 0 for i in NEW4) and IDS[5] not in after and
      sum(before[i] != 0 for i in kept) >= 3)
srv.stop()
info = __import__("json").loads(subprocess.run([BIN, "store", "info", STORE4], capture_output=True, text=True).stdout or "{}")
check(f"priors: the compacted store validates, its priors cover 31 items ({info.get('items')}, {info.get('priors')})",
      info.get("items") == 31 and info.get("priors", {}).get("events") == 48)

# a long run: 3,000 ids through a delta that compacts at 100: the delta stays bounded
WAL2, STORE2 = os.path.join(TMP, "long.wal"), os.path.join(TMP, "long.store")
shutil.copy(STORE, STORE2)
srv = h.Server(BIN, MODEL, STORE2, TMP, "--wal", WAL2, "--compact-items", "100", "--store-check-ms", "100", log_level="2")
st = stub(srv)
rng = __import__("random").Random(5)
most = 0
for k in range(300):
    items = [pb.ItemUpdate(item_id=f"long-{k}-{j}", vector=[rng.uniform(-1, 1) for _ in range(384)], model_fingerprint=FP) for j in range(10)]
    for attempt in range(100):  # RESOURCE_EXHAUSTED while compaction catches up: back off
        code, msg = h.code_of(lambda: st.UpsertItems(pb.UpsertItemsRequest(items=items), timeout=30))
        if code != grpc.StatusCode.RESOURCE_EXHAUSTED:
            break
        time.sleep(0.1)
    if code != grpc.StatusCode.OK:
        break
    if k % 20 == 0:
        met = __import__("urllib.request").request.urlopen(f"http://127.0.0.1:{srv.mport}/metrics", timeout=10).read().decode()
        most = max(most, int(re.search(r"feedrank_live_delta_items (\d+)", met).group(1)))
check(f"long run: 3,000 ids accepted ({code} {msg})", code == grpc.StatusCode.OK)
check(f"long run: the delta stayed within 4 x --compact-items (at most {most} seen)", most <= 400)
check("long run: compactions ran", srv.log().count("event=compacted") >= 5)
ranked, unknown, v = rerank(st, ["long-0-0", "long-150-5", "long-299-9"])
check("long run: early and late ids ranked", len(ranked) == 3)
srv.stop()
info = __import__("json").loads(subprocess.run([BIN, "store", "info", STORE2], capture_output=True, text=True).stdout or "{}")
check(f"long run: the store file holds all but the last delta's ({info.get('items')})", info.get("items", 0) >= 30 + 3000 - 400)
srv = h.Server(BIN, MODEL, STORE2, TMP, "--wal", WAL2, "--compact-items", "100")
ranked, unknown, v = rerank(stub(srv), [f"long-{k}-{j}" for k in range(0, 300, 7) for j in (0, 9)] + ["long-299-9"])
check("long run: after a restart, early and late ids ranked (store + log)", not unknown)
srv.stop()

# a full disk (the kernel's file-size limit, inherited by the server): writes refused, reads go on
import resource  # noqa: E402
WAL3 = os.path.join(TMP, "full.wal")
old = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (48 << 10, old[1]))
try:
    srv = h.Server(BIN, MODEL, STORE, TMP, "--wal", WAL3, metrics=False)
finally:
    resource.setrlimit(resource.RLIMIT_FSIZE, old)
st = stub(srv)
acked, code = [], grpc.StatusCode.OK
for k in range(60):
    code, msg = h.code_of(lambda: st.UpsertItems(pb.UpsertItemsRequest(items=[pb.ItemUpdate(item_id=f"full-{k}", vector=[0.01] * 384, model_fingerprint=FP)]), timeout=30))
    if code != grpc.StatusCode.OK:
        break
    acked.append(f"full-{k}")
check(f"disk full: the write is refused with an error status ({code} {msg})", code == grpc.StatusCode.UNAVAILABLE and "cannot append" in msg and 10 < len(acked) < 60)
ranked, unknown, v = rerank(st, acked[:3] + [f"full-{len(acked)}"])
check("disk full: reads go on, with every acknowledged item", set(acked[:3]) <= ranked and f"full-{len(acked)}" in unknown)
srv.stop()
srv = h.Server(BIN, MODEL, STORE, TMP, "--wal", WAL3, metrics=False)
ranked, unknown, v = rerank(stub(srv), acked + [f"full-{len(acked)}"])
check("disk full: after a restart with room, every acknowledged item and not the refused one", set(acked) <= ranked and f"full-{len(acked)}" in unknown)
code, msg = h.code_of(lambda: stub(srv).UpsertItems(pb.UpsertItemsRequest(items=[pb.ItemUpdate(item_id="after-full", text="x")]), timeout=30))
check("disk full: writes work again once there is room", code == grpc.StatusCode.OK)
srv.stop()

# without --wal
srv = h.Server(BIN, MODEL, STORE, TMP)
code, msg = h.code_of(lambda: stub(srv).DeleteItems(pb.DeleteItemsRequest(item_ids=["a"]), timeout=30))
check(f"without --wal: FAILED_PRECONDITION ({msg})", code == grpc.StatusCode.FAILED_PRECONDITION and "--wal" in msg)
srv.stop()
shutil.rmtree(TMP, ignore_errors=True)
sys.exit(check.summary("test_live"))
