"""test_live_crash.py - crash safety of live updates (issue #20 item 4): a client writes upserts and
deletes, and interaction events (RecordEvents, 3 per call), while the server is killed with SIGKILL
at a random moment; after each restart every acknowledged upsert and delete is there, the call in
flight at the kill is all there or not at all (never half: each call touches 3 ids), at the end the
store's priors count every acknowledged event and whole calls only of the unacknowledged ones, and
the store file validates. Compaction runs often
(--compact-items 12), so kills also land inside compactions. Trials: FEEDRANK_CRASH_TRIALS (default
40; 200 for the record in bench/RESULTS.md).

    test_live_crash.py FEEDRANK_BIN MODEL_DIR SOURCE_DIR"""
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server_harness as h  # noqa: E402

BIN, MODEL, SRC, TMP = h.args("fr_crash_")
pb, pbg, hpb, hpbg = h.stubs(SRC, TMP)
check = h.Checks()
STORE = os.path.join(TMP, "items.store")
WAL = os.path.join(TMP, "items.wal")
h.index_example(BIN, MODEL, SRC, STORE)
TRIALS = int(os.environ.get("FEEDRANK_CRASH_TRIALS", "40"))
rng = random.Random(int(os.environ.get("FEEDRANK_CRASH_SEED", "20")))

present = set()        # acknowledged state: ids that must be ranked
absent = set()         # acknowledged deletes: ids that must be unknown
next_id = 0
ev_acked = 0           # events in acknowledged RecordEvents calls
ev_maybe = 0           # events in calls the kill interrupted (each may have landed whole, or not)
CAT_IDS = [line.split(",")[0] for line in open(f"{SRC}/examples/catalog.csv").read().splitlines()[1:]]
fp = None
violations = []


def start():
    return h.Server(BIN, MODEL, STORE, TMP, "--wal", WAL, "--compact-items", "12", "--store-check-ms", "200", metrics=False)


def state(st, ids):
    r = st.Rerank(pb.RerankRequest(context=pb.Context(query="drill"), candidates=[pb.Candidate(item_id=i) for i in ids]), timeout=60)
    return {it.item_id for it in r.items}, {e.item_id for e in r.item_errors}


t_start = time.time()
inflight = None  # the upsert or delete (kind, ids) a kill interrupted; None after an acknowledged call or an events call
for trial in range(TRIALS):
    srv = start()
    st = pbg.RerankerStub(grpc.insecure_channel(f"127.0.0.1:{srv.port}"))
    if fp is None:
        _, msg = h.code_of(lambda: st.UpsertItems(pb.UpsertItemsRequest(items=[pb.ItemUpdate(item_id="x", vector=[0.0] * 384, model_fingerprint=1)]), timeout=30))
        fp = int(re.search(r"this server's model \(([0-9a-f]+)\)", msg).group(1), 16)
    # verify what the previous trial left
    ids = sorted(present | absent | set(inflight[1] if inflight else ()))
    if ids:
        ranked, unknown = state(st, ids)
        for i in present:
            if i not in ranked and not (inflight and inflight[0] == "delete" and i in inflight[1]):
                violations.append(f"trial {trial}: acknowledged upsert {i} lost")
        for i in absent:
            if i not in unknown and not (inflight and inflight[0] == "upsert" and i in inflight[1]):
                violations.append(f"trial {trial}: acknowledged delete {i} lost")
        if inflight:
            kind, group = inflight
            got = [i in ranked for i in group]
            if any(got) != all(got):
                violations.append(f"trial {trial}: in-flight {kind} of {group} half applied: {got}")
            elif all(got) == (kind == "upsert"):  # the in-flight call took effect: it is part of the state now
                (present.update if kind == "upsert" else present.difference_update)(group)
                (absent.difference_update if kind == "upsert" else absent.update)(group)
    inflight = None
    # write until killed
    stop_at = time.time() + rng.uniform(0.05, 0.8)
    killer = threading.Timer(stop_at - time.time(), lambda p=srv.p: p.send_signal(signal.SIGKILL))
    killer.start()
    while True:
        if rng.random() < 0.2:
            evs = [pb.Event(user=f"cu{(ev_acked + ev_maybe + k) % 7}", item=rng.choice(CAT_IDS), ts=1.7e9 + ev_acked + ev_maybe + k) for k in range(3)]
            code, _ = h.code_of(lambda e=evs: st.RecordEvents(pb.RecordEventsRequest(events=e), timeout=30))
            if code != grpc.StatusCode.OK:
                ev_maybe += 3
                break
            ev_acked += 3
            continue
        if present and rng.random() < 0.35:
            group = rng.sample(sorted(present), min(3, len(present)))
            kind = "delete"
            call = lambda g=group: st.DeleteItems(pb.DeleteItemsRequest(item_ids=g), timeout=30)
        else:
            group = [f"live-{next_id + k}" for k in range(3)]
            next_id += 3
            kind = "upsert"
            items = []
            for g in group:
                v = [rng.uniform(-1, 1) for _ in range(384)]
                items.append(pb.ItemUpdate(item_id=g, vector=v, model_fingerprint=fp))
            call = lambda it=items: st.UpsertItems(pb.UpsertItemsRequest(items=it), timeout=30)
        inflight = (kind, group)
        code, _ = h.code_of(call)
        if code != grpc.StatusCode.OK:
            break  # the server died: this call is unacknowledged (it may or may not have landed)
        if kind == "upsert":
            present.update(group)
            absent.difference_update(group)
        else:
            present.difference_update(group)
            absent.update(group)
        inflight = None
    killer.join()
    srv.p.wait()

# the last restart's check, then the store validates
srv = start()
st = pbg.RerankerStub(grpc.insecure_channel(f"127.0.0.1:{srv.port}"))
ids = sorted(present | absent | (set(inflight[1]) if inflight else set()))
ranked, unknown = state(st, ids)
for i in present:
    if i not in ranked and not (inflight and inflight[0] == "delete" and i in inflight[1]):
        violations.append(f"final: acknowledged upsert {i} lost")
for i in absent:
    if i not in unknown and not (inflight and inflight[0] == "upsert" and i in inflight[1]):
        violations.append(f"final: acknowledged delete {i} lost")
srv.stop()
pc = subprocess.run([BIN, "store", "compact", "--store", STORE, "--wal", WAL], capture_output=True, text=True)
check(f"store compact folds what the last server left ({pc.stderr.strip()[-160:]})", pc.returncode == 0)
info = subprocess.run([BIN, "store", "info", STORE], capture_output=True, text=True)
print(f"test_live_crash: {TRIALS} kills, {next_id} ids written ({len(present)} present, {len(absent)} deleted), "
      f"{time.time() - t_start:.0f} s; violations: {len(violations)}")
for v in violations[:10]:
    print("  ", v)
check(f"{TRIALS} kills: every acknowledged upsert and delete survived, no call half applied", not violations)
check(f"the store validates after the kills ({info.stderr.strip()[-200:]})", info.returncode == 0)
import json  # noqa: E402
items = json.loads(info.stdout)["items"] if info.returncode == 0 else 0
ev_total = json.loads(info.stdout).get("priors", {}).get("events", -1) if info.returncode == 0 else -1
check(f"every acknowledged event is in the store's priors, and only whole interrupted calls beside them "
      f"({ev_total} events: {ev_acked} acknowledged, {ev_maybe} in interrupted calls)",
      ev_acked <= ev_total <= ev_acked + ev_maybe and (ev_total - ev_acked) % 3 == 0 and ev_acked > 0)
check(f"updates were written and compacted into the store during the run ({items} items in the store file)", next_id > 3 * TRIALS and items > 30)
shutil.rmtree(TMP, ignore_errors=True)
sys.exit(check.summary("test_live_crash"))
