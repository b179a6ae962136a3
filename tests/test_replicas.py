"""test_replicas.py - replicas over one shared log (issue #20 part 5): two `feedrank serve --log
redis://...` processes on loopback, each with its own copy of the store, append to and follow one
Redis stream of a real redis-server (appendonly yes, appendfsync always) started here on a free port.
Checks: positions are consecutive and shared, a write is visible on the replica that took it as soon
as it is acknowledged, both replicas reach the same store_version and rank the same; a replica that
was down catches up at start-up; Redis killed (-9): reads go on, writes are UNAVAILABLE naming the
log engine; Redis restarted from its AOF: nothing acknowledged is lost and writes work again; a
compaction records the replica's folded position and never trims what another replica needs; a
replica whose records were trimmed, or a Redis without appendfsync always, is refused at start-up.
Exit 77 (skipped) when redis-server is not installed.

    test_replicas.py FEEDRANK_BIN MODEL_DIR SOURCE_DIR"""
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request

if not shutil.which("redis-server") or not shutil.which("redis-cli"):
    print("test_replicas: redis-server / redis-cli not installed (scripts/install-deps.sh): skipped")
    sys.exit(77)

import grpc  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server_harness as h  # noqa: E402

BIN, MODEL, SRC, TMP = h.args("fr_replicas_")
pb, pbg, hpb, hpbg = h.stubs(SRC, TMP)
check = h.Checks()
STORE = os.path.join(TMP, "items.store")
h.index_example(BIN, MODEL, SRC, STORE)
BASE_ID = open(f"{SRC}/examples/catalog.csv").read().splitlines()[1].split(",")[0]
RPORT = h.free_port()
RDIR = os.path.join(TMP, "redis")
os.makedirs(RDIR)
URL = f"redis://127.0.0.1:{RPORT}/feed"


def redis_start():
    p = h.track(subprocess.Popen(["redis-server", "--port", str(RPORT), "--bind", "127.0.0.1", "--appendonly", "yes", "--appendfsync", "always",
                                  "--dir", RDIR, "--save", "", "--daemonize", "no"], stdout=open(os.path.join(TMP, "redis.log"), "a"),
                                 stderr=subprocess.STDOUT))
    for _ in range(100):
        if rcli("PING") == "PONG":
            return p
        time.sleep(0.05)
    raise RuntimeError("redis-server did not start: " + open(os.path.join(TMP, "redis.log")).read()[-500:])


def rcli(*a):
    env = dict(os.environ, REDISCLI_AUTH="s3cret-pw")  # used only once Redis requires it (the end)
    r = subprocess.run(["redis-cli", "-p", str(RPORT), *a], capture_output=True, text=True, timeout=10, env=env)
    return r.stdout.strip()


def replica(store, name, *extra):
    return h.Server(BIN, MODEL, store, TMP, "--log", URL, "--replica-name", name, *extra, log_level="2")


def stub(srv):
    return pbg.RerankerStub(grpc.insecure_channel(f"127.0.0.1:{srv.port}"))


IDS = [BASE_ID, "new-1", "new-2", "new-3"] + [f"c-{k}" for k in range(8)]


def ranking(st):
    r = st.Rerank(pb.RerankRequest(context=pb.Context(query="a cordless drill for wood"), candidates=[pb.Candidate(item_id=i) for i in IDS]), timeout=30)
    return [(it.item_id, round(it.score, 5)) for it in r.items], r.store_version


def converge(a, b, deadline_s=10):
    end = time.time() + deadline_s
    while True:
        ra, va = ranking(a)
        rb, vb = ranking(b)
        if va == vb or time.time() > end:
            return ra, va, rb, vb
        time.sleep(0.05)


def metric(srv, name):
    text = urllib.request.urlopen(f"http://127.0.0.1:{srv.mport}/metrics", timeout=10).read().decode()
    m = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def upsert(st, iid, text=None, vec=None):
    item = pb.ItemUpdate(item_id=iid, text=text) if text else pb.ItemUpdate(item_id=iid, vector=vec, model_fingerprint=FP)
    return st.UpsertItems(pb.UpsertItemsRequest(items=[item]), timeout=30)


t0 = time.time()
redis = redis_start()
STORE_A, STORE_B = os.path.join(TMP, "a.store"), os.path.join(TMP, "b.store")
shutil.copy(STORE, STORE_A)
shutil.copy(STORE, STORE_B)
A, B = replica(STORE_A, "a"), replica(STORE_B, "b")
sa, sb = stub(A), stub(B)
code, msg = h.code_of(lambda: sa.UpsertItems(pb.UpsertItemsRequest(items=[pb.ItemUpdate(item_id="x", vector=[0.5] * 384, model_fingerprint=1)]), timeout=30))
FP = int(re.search(r"this server's model \(([0-9a-f]+)\)", msg).group(1), 16)
check(f"a bad write is refused before it reaches the log ({code})", code == grpc.StatusCode.INVALID_ARGUMENT and rcli("XLEN", "feed") == "0")

r1 = upsert(sa, "new-1", text="Cordless drill driver 18V with two batteries")
ranked, v = ranking(sa)
check(f"write on A: position 1, and A ranks it as soon as it is acknowledged ({r1.store_version} {v})",
      r1.log_position == 1 and v.endswith(".1") and "new-1" in {i for i, _ in ranked})
vec = [0.0] * 384
vec[0] = 1.0
r2 = upsert(sb, "new-2", vec=vec)
r3 = sa.DeleteItems(pb.DeleteItemsRequest(item_ids=[BASE_ID]), timeout=30)
r4 = upsert(sb, "new-3", text="Garden hose 30 m")
check("positions are consecutive across replicas (1, 2, 3, 4)", [r.log_position for r in (r1, r2, r3, r4)] == [1, 2, 3, 4])
ra, va, rb, vb = converge(sa, sb)
check(f"A and B reach the same store_version ({va} {vb})", va == vb and va.endswith(".4"))
check("A and B rank the same (ids and scores)", ra == rb and BASE_ID not in {i for i, _ in ra} and {"new-1", "new-2", "new-3"} <= {i for i, _ in ra})

# concurrent writes on both replicas: one order, the same for both
pos, errs = [], []


def writer(st, tag):
    for k in range(8):
        try:
            pos.append(upsert(st, f"c-{k}", vec=[(hash((tag, k, j)) % 100) / 100 - 0.5 for j in range(384)]).log_position)
        except grpc.RpcError as e:
            errs.append(e.details())


ts = [threading.Thread(target=writer, args=(s, t)) for s, t in ((sa, "a"), (sb, "b"))]
for t in ts:
    t.start()
for t in ts:
    t.join()
check(f"16 concurrent writes on two replicas: positions 5..20, each once ({errs[:1]})", sorted(pos) == list(range(5, 21)))
ra, va, rb, vb = converge(sa, sb)
check(f"after concurrent writes to the same ids: the same store_version and ranking ({va} {vb})", va == vb and va.endswith(".20") and ra == rb)
check("metrics: A caught up and connected", metric(A, "feedrank_replica_lag_entries") == 0 and metric(A, "feedrank_replica_log_connected") == 1
      and metric(A, "feedrank_live_log_position") == 20)
if shutil.which("promtool"):  # Debian's prometheus package (scripts/install-deps.sh)
    text = urllib.request.urlopen(f"http://127.0.0.1:{A.mport}/metrics", timeout=10).read().decode()
    p = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    check(f"promtool: the replica metrics are clean ({(p.stdout + p.stderr).strip()[:200]})", p.returncode == 0 and not (p.stdout + p.stderr).strip())

# a replica that was down catches up at start-up
B.stop()
for k in range(3):
    upsert(sa, f"late-{k}", text=f"Garden chair number {k}")
B = replica(STORE_B, "b")
sb = stub(B)
ra, va = ranking(sa)
rb, vb = ranking(sb)
check(f"B restarted after 3 writes it missed: the same store_version at once ({va} {vb})", va == vb and va.endswith(".23") and ra == rb)
check("B's log says where it started", "event=log_opened engine=redis" in B.log() and "applied=23" in B.log())

# the log engine down: reads go on, writes refused naming it
redis.kill()
redis.wait()
ra2, va2 = ranking(sa)
rb2, vb2 = ranking(sb)
check("Redis down: both replicas still rank, from the last applied version", (ra2, va2) == (ra, va) and (rb2, vb2) == (rb, vb))
code, msg = h.code_of(lambda: upsert(sa, "down-1", text="Lamp"))
check(f"Redis down: a write is UNAVAILABLE naming the log engine ({msg})", code == grpc.StatusCode.UNAVAILABLE and "redis" in msg)
deadline = time.time() + 5
while metric(B, "feedrank_replica_log_connected") != 0 and time.time() < deadline:
    time.sleep(0.1)
check("Redis down: the follower reports it (connected 0, errors counted)", metric(B, "feedrank_replica_log_connected") == 0
      and metric(B, "feedrank_replica_log_errors_total") >= 1)
code, msg = h.code_of(lambda: upsert(sb, "down-2", text="Lamp"))
check(f"Redis down: B refuses writes too ({msg})", code == grpc.StatusCode.UNAVAILABLE and "redis" in msg)

# Redis back (from its AOF after a kill -9): every acknowledged write is there, writes work again
redis = redis_start()
check(f"Redis restarted from its AOF: every acknowledged entry is there ({rcli('XLEN', 'feed')})", rcli("XLEN", "feed") == "23" and rcli("GET", "feed:pos") == "23")
deadline = time.time() + 15
while metric(A, "feedrank_replica_log_connected") != 1 and time.time() < deadline:
    time.sleep(0.1)
check("Redis back: the follower reconnected (connected 1)", metric(A, "feedrank_replica_log_connected") == 1)
code, msg = h.code_of(lambda: upsert(sa, "back-1", text="Desk lamp with a clamp"))
check(f"Redis back: the first write works again ({code} {msg})", code == grpc.StatusCode.OK)
ra, va, rb, vb = converge(sa, sb)
check(f"Redis back: both replicas at the same store_version, past 23 ({va} {vb})", va == vb and int(va.split(".")[1]) >= 24 and ra == rb)
check("the outage and the recovery were logged", "event=log_engine_down" in B.log() and "event=log_engine_up" in B.log())
last = int(va.split(".")[1])

# compaction on B: its folded position is recorded; A (folded 0) keeps the stream whole
B.stop()
B = replica(STORE_B, "b", "--compact-items", "4", "--store-check-ms", "100")
deadline = time.time() + 10
while "event=log_trimmed" not in B.log() and time.time() < deadline:
    time.sleep(0.1)
check(f"B compacted and recorded its folded position ({rcli('HGETALL', 'feed:folded')})",
      "event=log_trimmed" in B.log() and rcli("HGET", "feed:folded", "b") == str(last) and rcli("HGET", "feed:folded", "a") == "0")
check("nothing A still needs was trimmed", rcli("XLEN", "feed") == str(last))
rb, vb = ranking(stub(B))
ra, va = ranking(sa)
check(f"after B's compaction: the same log position and ranking as A ({va} {vb})", va.split(".")[1] == vb.split(".")[1] and ra == rb)

# interaction events go through the same stream: both replicas apply the same events in one order
sb = stub(B)
evs = [pb.Event(user=f"u{k % 3}", item=i, ts=1.7e9 + k, weight=1 + k % 2) for k, i in enumerate(["new-2", "new-3", "c-1", "nope", "new-2"])]
e1 = sa.RecordEvents(pb.RecordEventsRequest(events=evs[:3]), timeout=30)
e2 = sb.RecordEvents(pb.RecordEventsRequest(events=evs[3:]), timeout=30)
check(f"RecordEvents on both replicas: consecutive positions after {last} ({e1.log_position}, {e2.log_position})",
      (e1.log_position, e2.log_position) == (last + 1, last + 2) and (e1.items, e2.items) == (3, 2))
deadline = time.time() + 10
while time.time() < deadline and (metric(A, "feedrank_live_events_total") != 5 or metric(B, "feedrank_live_events_total") != 5):
    time.sleep(0.05)
check(f"both replicas applied all 5 events, 1 of them for an unknown item ({metric(A, 'feedrank_live_events_total')}, {metric(B, 'feedrank_live_events_total')})",
      metric(A, "feedrank_live_events_total") == 5 and metric(B, "feedrank_live_events_total") == 5
      and metric(A, "feedrank_live_events_unknown_items_total") == metric(B, "feedrank_live_events_unknown_items_total") == 1)
_, va = ranking(sa)
_, vb = ranking(sb)
check(f"after events: the same log position on both ({va} {vb})", va.split(".")[1] == vb.split(".")[1] == str(last + 2))
last += 2
B.stop()
A.stop()

# a replica whose records were trimmed refuses to start, saying so; so does a weakly durable Redis
rcli("XTRIM", "feed", "MINID", "3-0")
p = subprocess.run([BIN, "serve", "--model", MODEL, "--store", STORE, "--listen", "127.0.0.1:0", "--log", URL, "--replica-name", "c"],
                   capture_output=True, text=True, timeout=60)
check(f"a replica whose records were trimmed is refused ({p.stderr.strip()[-160:]})", p.returncode != 0 and "records 1..2 are missing" in p.stderr)
check("the refused replica did not register", rcli("HEXISTS", "feed:folded", "c") == "0")
rcli("CONFIG", "SET", "appendfsync", "everysec")
p = subprocess.run([BIN, "serve", "--model", MODEL, "--store", STORE_A, "--listen", "127.0.0.1:0", "--log", URL, "--replica-name", "a"],
                   capture_output=True, text=True, timeout=60)
check(f"Redis without appendfsync always is refused ({p.stderr.strip()[-160:]})", p.returncode != 0 and "appendfsync everysec" in p.stderr)
p = subprocess.run([BIN, "serve", "--model", MODEL, "--store", STORE_A, "--listen", "127.0.0.1:0", "--log", URL], capture_output=True, text=True, timeout=60)
check(f"--log without --replica-name is refused naming the flag ({p.stderr.strip()[-120:]})", p.returncode != 0 and "--replica-name" in p.stderr)
p = subprocess.run([BIN, "serve", "--model", MODEL, "--store", STORE_A, "--listen", "127.0.0.1:0", "--log", "redis://127.0.0.1/feed", "--replica-name", "a"],
                   capture_output=True, text=True, timeout=60)
check(f"a --log URL without a port is refused naming the flag ({p.stderr.strip()[-120:]})", p.returncode != 0 and "--log" in p.stderr)
# a Redis with a password: from a file or the environment, never a flag
rcli("CONFIG", "SET", "appendfsync", "always")
rcli("CONFIG", "SET", "requirepass", "s3cret-pw")
PWF = os.path.join(TMP, "redis.pw")
open(PWF, "w").write("s3cret-pw\n")
B = replica(STORE_B, "b", "--log-password-file", PWF)  # B compacted at `last`: nothing it needs was trimmed
r = upsert(stub(B), "pw-1", text="Lamp")
check(f"--log-password-file: the replica starts and writes ({r.log_position})", r.log_position == last + 1)
B.stop()
check("the password is not in the log", "s3cret" not in B.log())
redis.terminate()
redis.wait()
print(f"test_replicas: {time.time() - t0:.1f} s")
shutil.rmtree(TMP, ignore_errors=True)
sys.exit(check.summary("test_replicas"))
