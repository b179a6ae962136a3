"""test_live_events.py - live interaction signals (issue #20 part 3) through the real server:
RecordEvents and --events-tail update popularity and co-visitation online, and after N events
the store's priors section (folded by compaction) is byte-for-byte the one `feedrank index
--interactions` builds offline from the same N events written as JSONL - with decay, a small
window and a small neighbour capacity (space-saving replacements), users interleaved, an unknown
item, and a kill -9 + restart in the middle (the tail: a line cut mid-write, a malformed line
skipped and logged by number, a rotated file read from its start). Also: a Rerank with popularity_weight ranks the item
that just got events first within the refresh interval; bad events are refused naming the field;
a store whose offline priors lack the builder's state refuses RecordEvents until rebuilt with
--live-state, and then continues it exactly.

    test_live_events.py FEEDRANK_BIN MODEL_DIR SOURCE_DIR"""
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import time
import urllib.request

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server_harness as h  # noqa: E402

BIN, MODEL, SRC, TMP = h.args("fr_events_")
pb, pbg, hpb, hpbg = h.stubs(SRC, TMP)
check = h.Checks()
BASE = os.path.join(TMP, "base.store")
h.index_example(BIN, MODEL, SRC, BASE)
IDS = [line.split(",")[0] for line in open(f"{SRC}/examples/catalog.csv").read().splitlines()[1:]]
PARAMS = ["--half-life", "3600", "--window", "3", "--neighbors", "4"]
SERVE_PARAMS = ["--events-half-life", "3600", "--events-window", "3", "--events-neighbors", "4"]
PRIORS, PRIORS_STATE = 4, 7


def section(path, kind):
    """The bytes of one section of a store file (item_store.c: 256-byte header, 32-byte entries)."""
    data = open(path, "rb").read()
    nsec = struct.unpack_from("<I", data, 12)[0]
    for i in range(nsec):
        k, _, off, size = struct.unpack_from("<IIQQ", data, 256 + 32 * i)
        if k == kind:
            return data[off:off + size]
    return None


def make_events(n, seed):
    rnd = random.Random(seed)
    users = [f"u{k}" for k in range(5)]
    out, t = [], 1.7e9
    for i in range(n):
        t += rnd.choice([1.5, 30, 600, 0.25])
        ev = {"user": rnd.choice(users), "item": rnd.choice(IDS[:12]) if i % 17 else "not-in-store", "ts": t if i % 11 else t - 5000}
        if i % 3:
            ev["weight"] = rnd.choice([0.5, 2, 3.25])
        out.append(ev)
    return out


def pb_events(evs):
    return pb.RecordEventsRequest(events=[pb.Event(user=e["user"], item=e["item"], ts=e["ts"], **({"weight": e["weight"]} if "weight" in e else {})) for e in evs])


def jsonl(evs):
    return "".join(json.dumps(e) + "\n" for e in evs)


def offline(evs_text, extra=()):
    """The offline build over the same events: priors of a copy of the base store."""
    off = os.path.join(TMP, "offline.store")
    shutil.copy(BASE, off)
    log = os.path.join(TMP, "offline.jsonl")
    open(log, "w").write(evs_text)
    subprocess.run([BIN, "index", "--interactions", log, "--store", off] + PARAMS + list(extra), check=True, capture_output=True)
    return section(off, PRIORS)


def stub(srv):
    return pbg.RerankerStub(grpc.insecure_channel(f"127.0.0.1:{srv.port}"))


def metrics(srv):
    return urllib.request.urlopen(f"http://127.0.0.1:{srv.mport}/metrics", timeout=10).read().decode()


def top(st, ids):
    r = st.Rerank(pb.RerankRequest(context=pb.Context(query="drill"), candidates=[pb.Candidate(item_id=i) for i in ids],
                                   options=pb.RerankOptions(semantic_weight=0, popularity_weight=1, log_gate=0)), timeout=30)
    return r.items[0].item_id


def compact(store, wal):
    p = subprocess.run([BIN, "store", "compact", "--store", store, "--wal", wal], capture_output=True, text=True)
    check(f"store compact folds the events ({p.stderr.strip()})", p.returncode == 0)


# ---- RecordEvents: several calls, a kill -9 after acknowledged events, a background compaction
EVENTS = make_events(240, 1)
STORE, WAL = os.path.join(TMP, "rpc.store"), os.path.join(TMP, "rpc.wal")
shutil.copy(BASE, STORE)
srv = h.Server(BIN, MODEL, STORE, TMP, "--wal", WAL, "--events-refresh-ms", "200", "--compact-events", "100", *SERVE_PARAMS)
st = stub(srv)
code, msg = h.code_of(lambda: st.RecordEvents(pb.RecordEventsRequest(events=[pb.Event(user="a", item=IDS[0], ts=1), pb.Event(user="a", item=IDS[1], ts=float("inf"))]), timeout=30))
check(f"a non-finite ts is refused naming the field ({msg})", code == grpc.StatusCode.INVALID_ARGUMENT and "events[1].ts is not finite" in msg)
code, msg = h.code_of(lambda: st.RecordEvents(pb.RecordEventsRequest(events=[pb.Event(user="a", item=IDS[0])]), timeout=30))
check(f"a missing ts is refused ({msg})", code == grpc.StatusCode.INVALID_ARGUMENT and "events[0].ts" in msg)
code, msg = h.code_of(lambda: st.RecordEvents(pb.RecordEventsRequest(events=[pb.Event(user="a", item=IDS[0], ts=1, weight=0)]), timeout=30))
check(f"a zero weight is refused ({msg})", code == grpc.StatusCode.INVALID_ARGUMENT and "events[0].weight" in msg)
# the popularity of an item without events moves it to the top within the refresh interval
cands = IDS[20:25]
hot = cands[-1]
r = st.RecordEvents(pb.RecordEventsRequest(events=[pb.Event(user="z", item=hot, ts=1.7e9 + 100000, weight=50)]), timeout=30)
check("RecordEvents answers the events accepted and the log position", r.items == 1 and r.log_position == 1)


def top_or_none(st, ids):
    try:  # before the first view is published the store has no priors: the request is refused
        return top(st, ids)
    except grpc.RpcError:
        return None


t0 = time.time()
while top_or_none(st, cands) != hot and time.time() - t0 < 3:
    time.sleep(0.02)
took = time.time() - t0
check(f"ranking uses the new popularity within the refresh interval (200 ms; seen after {took:.2f} s)", top_or_none(st, cands) == hot and took < 1.2)
sent = [{"user": "z", "item": hot, "ts": 1.7e9 + 100000, "weight": 50}]
for k in range(0, 120, 30):
    st.RecordEvents(pb_events(EVENTS[k:k + 30]), timeout=30)
    sent += EVENTS[k:k + 30]
srv.stop(signal.SIGKILL)  # acknowledged events must survive
srv = h.Server(BIN, MODEL, STORE, TMP, "--wal", WAL, "--events-refresh-ms", "200", "--compact-events", "100", *SERVE_PARAMS)
st = stub(srv)
for k in range(120, 240, 40):
    st.RecordEvents(pb_events(EVENTS[k:k + 40]), timeout=30)
    sent += EVENTS[k:k + 40]
t0 = time.time()
while "compactions_total{result=\"ok\"} 0" in metrics(srv) and time.time() - t0 < 10:
    time.sleep(0.1)
met = metrics(srv)
check("a background compaction folded events (--compact-events)", 'feedrank_live_compactions_total{result="ok"} 0' not in met)
vals = {line.split()[0]: float(line.split()[1]) for line in met.splitlines() if line.startswith("feedrank_live_events")}
check(f"metrics count events and unknown items ({vals})", vals.get("feedrank_live_events_total", 0) >= 120 and vals.get("feedrank_live_events_unknown_items_total", 0) >= 1)
check("the server stops cleanly", srv.stop() == 0)
compact(STORE, WAL)
want = offline(jsonl(sent))
got = section(STORE, PRIORS)
check(f"RecordEvents + compaction == offline index --interactions, byte for byte ({len(sent)} events, {len(want or b'')} bytes)", got is not None and got == want)
check("the compacted store keeps the builder's state", section(STORE, PRIORS_STATE) is not None)

# ---- --events-tail: lines appended in pieces (one cut mid-line), a bad line skipped, kill -9, rotation
STORE2, WAL2, TAIL = os.path.join(TMP, "tail.store"), os.path.join(TMP, "tail.wal"), os.path.join(TMP, "events.jsonl")
shutil.copy(BASE, STORE2)
evs = make_events(150, 2)
text = jsonl(evs[:60]) + "{not json\n" + jsonl(evs[60:])
open(TAIL, "w").write(text[:2000])
args2 = ["--wal", WAL2, "--events-tail", TAIL, "--events-tail-max-bad", "1", "--events-refresh-ms", "100", *SERVE_PARAMS]
srv = h.Server(BIN, MODEL, STORE2, TMP, *args2)


def wait_tail(srv, size):
    t0 = time.time()
    while time.time() - t0 < 10:
        if f"feedrank_live_events_tail_offset_bytes {size}\n" in metrics(srv):
            return True
        time.sleep(0.05)
    return False


last_nl = text[:2000].rindex("\n") + 1
check("the tail logs the complete lines, not the one being written", wait_tail(srv, last_nl))
with open(TAIL, "a") as f:
    f.write(text[2000:6000])
check("the tail follows appended lines", wait_tail(srv, text[:6000].rindex("\n") + 1))
log = srv.log()
srv.stop(signal.SIGKILL)
with open(TAIL, "a") as f:
    f.write(text[6000:])
srv = h.Server(BIN, MODEL, STORE2, TMP, *args2)
check("after kill -9 the tail resumes after the last logged line", wait_tail(srv, len(text)))
rotated = jsonl(make_events(20, 3))
os.rename(TAIL, TAIL + ".1")
open(TAIL, "w").write(rotated)
check("a rotated file is detected and read from its start", wait_tail(srv, len(rotated)) and "events_tail_rotated" in srv.log())
log += srv.log()
check("the malformed line is logged with its number", "events_tail_bad_line" in log and "line=61" in log)
rc = srv.stop()
check(f"the server with a tail stops cleanly (exit {rc})", rc == 0)
compact(STORE2, WAL2)
want = offline(text + rotated, ["--max-bad-lines", "1"])
got = section(STORE2, PRIORS)
check(f"--events-tail + compaction == offline over the same file, byte for byte ({len(evs)} events)", got == want)
if got != want and os.environ.get("FR_DEBUG"):
    print(log, len(got or b""), len(want or b""), got[:96].hex() if got else None, want[:96].hex())

# ---- the start-state rule: offline priors without the builder's state are refused; with it, continued
STORE3, WAL3 = os.path.join(TMP, "offline3.store"), os.path.join(TMP, "offline3.wal")
shutil.copy(BASE, STORE3)
first, rest = EVENTS[:100], EVENTS[100:]
log3 = os.path.join(TMP, "first.jsonl")
open(log3, "w").write(jsonl(first))
subprocess.run([BIN, "index", "--interactions", log3, "--store", STORE3] + PARAMS, check=True, capture_output=True)
info = json.loads(subprocess.run([BIN, "store", "info", STORE3], capture_output=True, text=True, check=True).stdout)
check("store info: priors without a live state", info["priors"]["live_state"] is False)
srv = h.Server(BIN, MODEL, STORE3, TMP, "--wal", WAL3, metrics=False)
code, msg = h.code_of(lambda: stub(srv).RecordEvents(pb_events(rest[:5]), timeout=30))
check(f"offline priors without state: FAILED_PRECONDITION saying how ({msg[:80]}...)", code == grpc.StatusCode.FAILED_PRECONDITION and "--live-state" in msg)
srv.stop()
subprocess.run([BIN, "index", "--interactions", log3, "--store", STORE3, "--live-state"] + PARAMS, check=True, capture_output=True)
srv = h.Server(BIN, MODEL, STORE3, TMP, "--wal", WAL3, metrics=False)
stub(srv).RecordEvents(pb_events(rest), timeout=30)
srv.stop()
compact(STORE3, WAL3)
info = json.loads(subprocess.run([BIN, "store", "info", STORE3], capture_output=True, text=True, check=True).stdout)
check("store info: the compacted priors keep a live state", info["priors"]["live_state"] is True)
check("offline (--live-state) + live events == offline over all of them, byte for byte", section(STORE3, PRIORS) == offline(jsonl(EVENTS)))

# ---- items added while events flow: events name them before and after the compaction that gives
# them rows; the result equals the offline build over the catalogue with them appended
STORE4, WAL4 = os.path.join(TMP, "grow.store"), os.path.join(TMP, "grow.wal")
shutil.copy(BASE, STORE4)
NEW = [("new-a", "Cordless leaf blower 40V"), ("new-b", "Garden hose reel, wall mounted"), ("new-c", "LED work light, 5000 lumen")]
srv = h.Server(BIN, MODEL, STORE4, TMP, "--wal", WAL4, "--compact-items", "3", "--events-refresh-ms", "0", *SERVE_PARAMS)
st = stub(srv)
rnd = random.Random(4)
sent4 = []


def send(items, n, t0):
    evs = [{"user": f"g{k % 4}", "item": rnd.choice(items), "ts": t0 + 7 * k, "weight": rnd.choice([1, 2.5])} for k in range(n)]
    st.RecordEvents(pb_events(evs), timeout=30)
    sent4.extend(evs)


send(IDS[:10], 40, 1.7e9)
for iid, text in NEW[:2]:
    st.UpsertItems(pb.UpsertItemsRequest(items=[pb.ItemUpdate(item_id=iid, text=text)]), timeout=60)
send(IDS[:6] + ["new-a", "new-b"], 40, 1.7e9 + 1000)  # before they have rows in the store
st.UpsertItems(pb.UpsertItemsRequest(items=[pb.ItemUpdate(item_id=NEW[2][0], text=NEW[2][1])]), timeout=60)
t0 = time.time()
while 'feedrank_live_compactions_total{result="ok"} 0' in metrics(srv) and time.time() - t0 < 15:
    time.sleep(0.1)
check("a compaction moved rows (3 items added) while the store has live priors", 'feedrank_live_compactions_total{result="ok"} 0' not in metrics(srv))
send(IDS[:6] + [n for n, _ in NEW], 40, 1.7e9 + 2000)
st.RecordEvents(pb_events([{"user": "g9", "item": "new-c", "ts": 1.7e9 + 3000, "weight": 500}]), timeout=30)
sent4.append({"user": "g9", "item": "new-c", "ts": 1.7e9 + 3000, "weight": 500})
check("an added item's fresh popularity ranks it first", top(st, IDS[30:34] + ["new-c"]) == "new-c")
check("the server stops cleanly", srv.stop() == 0)
compact(STORE4, WAL4)
cat4 = os.path.join(TMP, "grow.csv")
open(cat4, "w").write(open(f"{SRC}/examples/catalog.csv").read().rstrip("\n") + "\n" + "".join(f'{i},"{t}",Acme,Outdoor\n' for i, t in NEW))
OFF4 = os.path.join(TMP, "grow-offline.store")
h.index_example(BIN, MODEL, SRC, OFF4, catalog=cat4)
log4 = os.path.join(TMP, "grow.jsonl")
open(log4, "w").write(jsonl(sent4))
subprocess.run([BIN, "index", "--interactions", log4, "--store", OFF4] + PARAMS, check=True, capture_output=True)
check(f"events around a row-moving compaction == offline over the grown catalogue, byte for byte ({len(sent4)} events)",
      section(STORE4, PRIORS) == section(OFF4, PRIORS) and section(STORE4, PRIORS) is not None)

# ---- live updates own the store file: SIGHUP and a file replaced under the server are refused, logged
STORE5, WAL5 = os.path.join(TMP, "own.store"), os.path.join(TMP, "own.wal")
shutil.copy(BASE, STORE5)
srv = h.Server(BIN, MODEL, STORE5, TMP, "--wal", WAL5, "--store-check-ms", "100", metrics=False)
st = stub(srv)
before = st.Rerank(pb.RerankRequest(context=pb.Context(query="drill"), candidates=[pb.Candidate(item_id=i) for i in IDS[:5]]), timeout=30).store_version
srv.p.send_signal(signal.SIGHUP)
shutil.copy(STORE3, STORE5 + ".tmp")
os.replace(STORE5 + ".tmp", STORE5)  # another store under the running server
t0 = time.time()
while srv.log().count("store_reload_refused") < 2 and time.time() - t0 < 5:
    time.sleep(0.05)
after = st.Rerank(pb.RerankRequest(context=pb.Context(query="drill"), candidates=[pb.Candidate(item_id=i) for i in IDS[:5]]), timeout=30).store_version
check(f"with --wal, SIGHUP and a replaced store file are refused and logged; the server keeps its store ({before} {after})",
      srv.log().count("store_reload_refused") >= 2 and before == after)
srv.stop()

# ---- without --wal
srv = h.Server(BIN, MODEL, BASE, TMP, metrics=False)
code, msg = h.code_of(lambda: stub(srv).RecordEvents(pb_events(EVENTS[:1]), timeout=30))
check(f"without --wal: FAILED_PRECONDITION ({msg})", code == grpc.StatusCode.FAILED_PRECONDITION and "--wal" in msg)
srv.stop()
sys.exit(check.summary("test_live_events"))
