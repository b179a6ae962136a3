#!/usr/bin/python3
"""live_updates.py - live updates through the served path under load (issue #20 parts 2 and 6).

Starts `feedrank serve --wal ...` on loopback over a generated 2,000-item catalogue (indexed with the
real model) and measures, per --sync-interval-ms (0: fdatasync before every answer; 100):
  idle      one UpsertItems call at a time (by vector, by text), nothing else running: the time to
            acknowledge, and from the acknowledgement until a Rerank ranks the item;
  baseline  re-rank latency at a steady open-loop 50 re-ranks/s with no writes (before and after);
  ladder    the same 50 re-ranks/s while a writer pushes UpsertItems (by vector, by text; batches of
            1 and 32) at rising offered rates, until the re-ranks degrade or the writes stop keeping
            up. A step alternates 1 s with writes and 1 s without, so "without" is measured under the
            same outside load; it fails when the p99 (or the median) with writes exceeds --p99-factor
            x and --p99-floor-ms over the one without, or when calls are skipped (2 s of calls in
            flight), refused, or acknowledged more than 1 s after their scheduled send at p99; a
            failed step runs once more before the ladder stops. Per step: sustained items/s, re-rank
            p50/p99 with and without writes (the added p99), the ack latency, and the time from ack
            to rankable (a freshly acknowledged id re-ranked until it comes back, every 0.5 s);
  events    the same ladder for RecordEvents (batches of 1 and 32), when the server has that RPC
            ("RecordEvents not available on this server" otherwise);
then, with a small --compact-items and writes on, re-rank p99 in 1 s windows that overlap a
compaction (from the server's `event=compacted` log lines) against the other windows, and the
server's RSS sampled over the phase (memory must stay bounded).

Re-ranks follow a fixed arrival schedule and their latency is measured from the scheduled send time
(a stalled server or client cannot hide requests it did not send: no coordinated omission); each is
a query + history of 3-8 items + 100-200 candidates with upstream scores, top_k 50. The re-ranks and
the writes come from two separate client processes (no shared GIL); both share the machine with the
server, as on any 2-core box. Any failed call, wrong answer or dead server stops the run with a
message and exit status 1. JSON lines go to stdout and to --out.

    live_updates.py FEEDRANK_BIN MODEL_DIR SOURCE_DIR [--quick] [--out FILE]
    live_updates.py --table FILE   (markdown tables of a results file, for bench/RESULTS.md)"""
import argparse
import calendar
import json
import os
import queue
import random
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

CATALOG_ITEMS = 2000
NEW_IDS = 2000  # writers upsert ids from the catalogue (updates) and from NEW_IDS new ones
RERANK_RATE = 50.0
BLOCK_S = 1.0  # a ladder step alternates 1 s with writes and 1 s without
SPILL_S = 0.25  # the first 0.25 s after a writing block counts as "with writes"
ACK_LIMIT_MS = 1000.0  # writes keep up while 99% are acknowledged within 1 s of their scheduled send
WORDS = ("cordless drill light bulb garden hose kitchen sink paint roller ceramic tile ceiling fan smart thermostat "
         "water heater vinyl floor door knob deck screw").split()
ADJ = "black white brushed nickel heavy duty outdoor indoor led soft stainless steel compact wireless".split()


class BenchError(Exception):
    pass


def pct(xs, q):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def r3(x):
    return None if x is None else round(x, 3)


def title(r):
    return " ".join(r.choice(ADJ) for _ in range(3)) + " " + " ".join(r.choice(WORDS) for _ in range(4))


# ---------------------------------------------------------------- client processes
# A worker reads one setup line, then one JSON command per line, and answers each with one JSON line.

def worker_main(role, tmp):
    sys.path.insert(0, tmp)
    import grpc
    from feedrank.v1 import reranker_pb2 as pb, reranker_pb2_grpc as pbg
    setup = json.loads(sys.stdin.readline())
    ch = grpc.insecure_channel(f"127.0.0.1:{setup['port']}", options=[("grpc.max_send_message_length", 64 << 20)])
    st = pbg.RerankerStub(ch)
    r = random.Random(setup["seed"])
    off = time.time() - time.perf_counter()  # wall clock = perf_counter + off
    cat = [f"i{k}" for k in range(CATALOG_ITEMS)]

    grpc.channel_ready_future(ch).result(timeout=30)
    if role == "rerank":
        reqs = []
        for k in range(200):
            c = r.sample(cat, r.randint(100, 200))
            reqs.append(pb.RerankRequest(
                request_id=f"L{k}",
                context=pb.Context(query=" ".join(r.choice(WORDS + ADJ) for _ in range(r.randint(6, 12))),
                                   history=[pb.HistoryItem(item_id=h, weight=r.choice((1.0, 1.0, 3.0))) for h in r.sample(cat, r.randint(3, 8))]),
                candidates=[pb.Candidate(item_id=x, upstream_score=round(r.random(), 3)) for x in c],
                options=pb.RerankOptions(top_k=50)))
        for req in reqs[:40]:  # warm the channel, the server's first passes and this interpreter
            st.Rerank(req, timeout=30)
            st.Rerank.future(req, timeout=30).result()
        print(json.dumps({"ready": True}), flush=True)
        for line in sys.stdin:
            cmd = json.loads(line)
            n = int(cmd["seconds"] * cmd["rate"])
            p0 = cmd["t0"] - off
            done, errors, lag = [], [], []
            futs = []
            for i in range(n):
                sched = p0 + i / cmd["rate"]
                now = time.perf_counter()
                if sched > now:
                    time.sleep(sched - now)
                lag.append(time.perf_counter() - sched)
                req = reqs[i % len(reqs)]
                f = st.Rerank.future(req, timeout=30)

                def cb(f, sched=sched, want=min(50, len(req.candidates))):
                    t = time.perf_counter()
                    try:
                        resp = f.result()
                        if len(resp.items) != want or len(resp.item_errors):
                            errors.append(f"a re-rank answered {len(resp.items)} items (want {want}) and {len(resp.item_errors)} item errors")
                    except grpc.RpcError as e:
                        errors.append(f"Rerank failed: {e.code().name}: {e.details()}")
                    done.append((sched + off, 1e3 * (t - sched)))
                f.add_done_callback(cb)
                futs.append(f)
            for f in futs:
                try:
                    f.result(timeout=60)
                except Exception:
                    pass  # reported by its callback
            t_end = time.perf_counter() + 5
            while len(done) < n and time.perf_counter() < t_end:
                time.sleep(0.01)
            done.sort()
            print(json.dumps({"sent": n, "done": [[round(a, 4), round(b, 3)] for a, b in done], "errors": errors[:5],
                              "n_errors": len(errors), "lag_p99_ms": r3(1e3 * pct(lag, 0.99)) if lag else None}), flush=True)
        return

    # role == "write": UpsertItems (by vector or text) or RecordEvents, open loop, plus the probe
    fp = setup["fingerprint"]
    dim = setup["dim"]
    vecs = []
    for _ in range(256):
        v = [r.gauss(0, 1) for _ in range(dim)]
        s = sum(x * x for x in v) ** 0.5
        vecs.append([x / s for x in v])
    ids = cat + [f"n{k}" for k in range(NEW_IDS)]
    probe_q = queue.Queue()
    probe_busy = threading.Event()
    visible, probe_err = [], []

    def probe_loop():
        """Ranks a freshly acknowledged id until it comes back: the time from ack to rankable."""
        while True:
            iid, t_ack = probe_q.get()
            if iid is None:
                return
            tries = 0
            while True:
                tries += 1
                try:
                    resp = st.Rerank(pb.RerankRequest(context=pb.Context(query="probe"), candidates=[pb.Candidate(item_id=iid)]), timeout=30)
                except grpc.RpcError as e:
                    probe_err.append(f"probe Rerank failed: {e.code().name}: {e.details()}")
                    break
                if len(resp.items) == 1:
                    visible.append((1e3 * (time.perf_counter() - t_ack), tries))
                    break
                if time.perf_counter() - t_ack > 10:
                    probe_err.append(f"{iid} was acknowledged and is still not rankable 10 s later")
                    break
                time.sleep(0.001)
            probe_busy.clear()

    threading.Thread(target=probe_loop, daemon=True).start()
    print(json.dumps({"ready": True}), flush=True)
    seq = 0
    for line in sys.stdin:
        cmd = json.loads(line)
        kind, batch = cmd["kind"], cmd["batch"]
        calls_per_s = cmd["rate_items"] / batch
        block = cmd.get("block_s")  # writes only in every other block of this length (none: all the time)
        on_s = cmd["seconds"] / 2 if block else cmd["seconds"]
        n = max(1, int(on_s * calls_per_s))
        p0 = cmd["t0"] - off
        ack_send, ack_sched, errors, refused = [], [], [], []
        items_ok = [0]
        inflight = [0]
        lock = threading.Lock()
        skipped = 0
        last_done = [p0]
        next_probe = p0
        futs = []
        visible.clear()
        probe_err.clear()
        for i in range(n):
            tau = i / calls_per_s  # time into the writing
            sched = p0 + (2 * block * (tau // block) + tau % block if block else tau)
            now = time.perf_counter()
            if sched > now:
                time.sleep(sched - now)
            if inflight[0] >= cmd["inflight_cap"]:
                skipped += 1  # the server is that far behind: the offered rate is not kept up
                continue
            seq += 1
            probe_id = None
            if cmd.get("probe", True) and kind != "event" and sched >= next_probe and not probe_busy.is_set():
                probe_busy.set()
                probe_id = f"p{setup['seed']}-{seq}"
                next_probe = sched + 0.5
            if kind == "event":
                req = pb.RecordEventsRequest()
                for _ in range(batch):
                    req.events.add(user=f"u{r.randrange(5000)}", item=r.choice(cat), ts=time.time(), weight=1.0)
                call = st.RecordEvents
            else:
                chosen = r.sample(ids, batch)
                if probe_id:
                    chosen[0] = probe_id
                if kind == "vector":
                    items = [pb.ItemUpdate(item_id=x, vector=vecs[r.randrange(256)], model_fingerprint=fp) for x in chosen]
                else:
                    items = [pb.ItemUpdate(item_id=x, text=title(r)) for x in chosen]
                req = pb.UpsertItemsRequest(items=items)
                call = st.UpsertItems
            with lock:
                inflight[0] += 1
            t_send = time.perf_counter()
            f = call.future(req, timeout=60)

            def cb(f, sched=sched, t_send=t_send, probe_id=probe_id):
                t = time.perf_counter()
                with lock:
                    inflight[0] -= 1
                    last_done[0] = max(last_done[0], t)
                try:
                    resp = f.result()
                    if kind != "event" and resp.items != batch:  # the events contract does not say what items counts
                        errors.append(f"an update call of {batch} answered items={resp.items}")
                    items_ok[0] += batch
                    ack_send.append(1e3 * (t - t_send))
                    ack_sched.append(1e3 * (t - sched))
                    if probe_id:
                        probe_q.put((probe_id, t))
                except grpc.RpcError as e:
                    if probe_id:
                        probe_busy.clear()
                    if e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                        refused.append(e.details())  # the delta's bound: compaction is behind
                    else:
                        errors.append(f"{'RecordEvents' if kind == 'event' else 'UpsertItems'} failed: {e.code().name}: {e.details()}")
            f.add_done_callback(cb)
            futs.append(f)
        for f in futs:
            try:
                f.result(timeout=120)
            except Exception:
                pass  # reported by its callback
        t_wait = time.perf_counter() + 12
        while (probe_busy.is_set() or inflight[0]) and time.perf_counter() < t_wait:
            time.sleep(0.01)
        span = on_s + max(0.0, last_done[0] - (p0 + cmd["seconds"]))  # writing time, and any overrun past the step
        print(json.dumps({"calls": len(futs), "skipped": skipped, "items_ok": items_ok[0], "span_s": round(span, 3),
                          "ack_send_ms": [round(x, 3) for x in ack_send], "ack_sched_ms": [round(x, 3) for x in ack_sched],
                          "visible_ms": [round(v, 3) for v, _ in visible], "visible_tries": [k for _, k in visible],
                          "refused": len(refused), "refused_first": refused[:1],
                          "errors": (errors + probe_err)[:5], "n_errors": len(errors) + len(probe_err)}), flush=True)


# ---------------------------------------------------------------- the run

def tables(path):
    """Markdown tables of a results file (the JSON lines of one or more runs, each from its
    live_setup line), for bench/RESULTS.md."""
    runs = []
    for line in open(path):
        if line.strip():
            r = json.loads(line)
            if r["bench"] == "live_setup" or not runs:
                runs.append([])
            runs[-1].append(r)
    for rows in runs:
        run_tables(rows)
        print()


def run_tables(rows):
    s0, done = rows[0], rows[-1]
    if s0["bench"] == "live_setup":
        print(f"Run of {s0['date']}, commit {s0['commit']}, {s0['cpus']} CPUs, load average {' '.join(s0['loadavg_before'])} before"
              + (f", {' '.join(done['loadavg_after'])} after, {done['seconds']} s" if done["bench"] == "live_done" else ", did not finish") + ":")
        print()

    def f(x, d=1):
        return "-" if x is None else f"{x:,.{d}f}"
    print("| sync ms | upsert by | batch | offered/s | sustained/s | re-rank p50 / p99 with writes | without | added p99 | ack p50 / p99 | ack -> rankable p50 / p99 (n) | step |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if r["bench"] == "live_step" and "skipped" not in r:
            verdict = "ok" if r["keeps_up"] and r["p99_within_limit"] else ("writes behind" if not r["keeps_up"] else "re-ranks degraded")
            verdict += " (second try)" if r.get("attempt") == 2 else ""
            print(f"| {r['sync_interval_ms']} | {r['kind']} | {r['batch']} | {r['offered_per_s']:,} | {f(r['sustained_per_s'], 0)} | "
                  f"{f(r['rerank_p50_with_writes_ms'])} / {f(r['rerank_p99_with_writes_ms'])} | {f(r['rerank_p50_without_ms'])} / {f(r['rerank_p99_without_ms'])} | "
                  f"{r['added_p99_ms']:+.1f} | {f(r['ack_p50_ms'])} / {f(r['ack_p99_ms'])} | "
                  f"{f(r['ack_to_rankable_p50_ms'])} / {f(r['ack_to_rankable_p99_ms'])} ({r['ack_to_rankable_n']}) | {verdict} |")
        elif r["bench"] == "live_step":
            print(f"| {r['sync_interval_ms']} | {r['kind']} | {r['batch']} | {r['offered_per_s']:,} | not run: {r['skipped']} | | | | | | |")
    print()
    print("| sync ms | idle upsert by | calls | ack p50 / p99 | ack -> ranked p50 / p99 |")
    print("|---|---|---|---|---|")
    for r in rows:
        if r["bench"] == "live_idle":
            print(f"| {r['sync_interval_ms']} | {r['by']} | {r['calls']} | {f(r['ack_p50_ms'])} / {f(r['ack_p99_ms'])} | {f(r['ack_to_ranked_p50_ms'])} / {f(r['ack_to_ranked_p99_ms'])} |")
    print()
    print("| baseline (no writes) | sync ms | re-ranks | p50 | p99 | max |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        if r["bench"] == "live_baseline":
            print(f"| {r['when']} | {r['sync_interval_ms']} | {r['reranks']} | {f(r['rerank_p50_ms'])} | {f(r['rerank_p99_ms'])} | {f(r['rerank_max_ms'])} |")
    for r in rows:
        if r["bench"] in ("live_compaction", "live_memory", "live_sustained", "live_events", "live_setup", "live_done"):
            print(json.dumps(r))



class Worker:
    def __init__(self, role, tmp, setup):
        self.role = role
        self.p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", role, tmp], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        self.send(setup)
        if not self.recv().get("ready"):
            raise BenchError(f"the {self.role} client process did not start")

    def send(self, obj):
        self.p.stdin.write(json.dumps(obj) + "\n")
        self.p.stdin.flush()

    def recv(self):
        line = self.p.stdout.readline()
        if not line:
            raise BenchError(f"the {self.role} client process died (exit {self.p.wait()}); its traceback is above")
        return json.loads(line)

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=30)


def metrics(port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    out = {}
    for line in text.splitlines():
        m = re.match(r"^(feedrank_live_\w+(?:\{[^}]*\})?) (\S+)$", line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("bin")
    ap.add_argument("model")
    ap.add_argument("src")
    ap.add_argument("--quick", action="store_true", help="one rate per mode, short steps: about a minute")
    ap.add_argument("--syncs", default="0,100", help="--sync-interval-ms values to run (default 0,100)")
    ap.add_argument("--modes", default="vector:1,vector:32,text:1,text:32,event:1,event:32")
    ap.add_argument("--step-seconds", type=float, help="seconds of writing per ladder step, which alternates 1 s with writes and 1 s without, so it "
                    "lasts twice that (default 4, baselines 8 s; quick 2, baselines 2 s)")
    ap.add_argument("--p99-factor", type=float, default=2.0)
    ap.add_argument("--p99-floor-ms", type=float, default=10.0)
    ap.add_argument("--compact-items", type=int, help="for the compaction phase (default 2000; quick 1000)")
    ap.add_argument("--compact-seconds", type=float, help="length of the compaction + memory phase (default 90; quick 8)")
    ap.add_argument("--budget-minutes", type=float, help="the whole run's time: ladder steps past each --syncs value's share are "
                    "skipped (reported), leaving time for the compaction phase (default 10; quick 1)")
    ap.add_argument("--out", help="also append the JSON lines here")
    a = ap.parse_args()
    quick = a.quick
    step_s = a.step_seconds or (2.0 if quick else 4.0)
    comp_s = a.compact_seconds or (8.0 if quick else 90.0)
    base_s = 2.0 if quick else 2 * step_s
    compact_items = a.compact_items or (1000 if quick else 2000)
    budget = 60 * (a.budget_minutes or (1.0 if quick else 10.0))
    rates = {  # offered items (or events) per second, rising until a step fails
        ("vector", 1): [50, 100, 200, 400, 800, 1600], ("vector", 32): [640, 1280, 2560, 5120, 10240],
        ("text", 1): [5, 10, 20, 40, 80], ("text", 32): [32, 64, 128, 256],
        ("event", 1): [100, 200, 400, 800, 1600], ("event", 32): [1280, 2560, 5120, 10240, 20480]}
    quick_rates = {("vector", 1): [100], ("vector", 32): [1280], ("text", 1): [10], ("text", 32): [64], ("event", 1): [200], ("event", 32): [2560]}
    modes = []
    for m in a.modes.split(","):
        k, b = m.split(":")
        if (k, int(b)) not in rates:
            ap.error(f"--modes: {m} is not one of {sorted(rates)}")
        modes.append((k, int(b)))
    if quick:
        modes = [m for m in modes if m[1] == 32 or m[0] == "vector"]  # vector:1 + the batches of 32
    bin_, model, src = (os.path.abspath(x) for x in (a.bin, a.model, a.src))
    out = open(a.out, "a") if a.out else None
    t_start = time.time()

    def emit(obj):
        line = json.dumps(obj)
        print(line, flush=True)
        if out:
            out.write(line + "\n")
            out.flush()

    import grpc
    import server_harness as h
    tmp = os.path.join(src, "build", "bench-live")  # not /tmp: fsync must reach a disk
    os.makedirs(tmp, exist_ok=True)
    pb, pbg, _, _ = h.stubs(src, tmp)
    rng = random.Random(3)
    base = os.path.join(tmp, "cat2000.store")
    if not os.path.exists(base):
        cat = os.path.join(tmp, "cat2000.csv")
        with open(cat, "w") as f:
            f.write("id,title\n")
            for i in range(CATALOG_ITEMS):
                f.write(f"i{i},{title(rng)}\n")
        r = subprocess.run([bin_, "index", "--model", model, "--catalog", cat, "--text", "{title}", "--out", base + ".part"], capture_output=True, text=True)
        if r.returncode:
            raise BenchError(f"feedrank index failed ({r.returncode}): {r.stderr[-2000:]}")
        os.rename(base + ".part", base)
    commit = subprocess.run(["git", "-C", src, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    emit({"bench": "live_setup", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "commit": commit, "cpus": os.cpu_count(),
          "loadavg_before": open("/proc/loadavg").read().split()[:3], "quick": quick, "step_seconds": step_s,
          "catalog_items": CATALOG_ITEMS, "rerank_rate": RERANK_RATE, "argv": sys.argv[1:]})

    def start(sync, compact_items, tag):
        store = os.path.join(tmp, f"live-{tag}.store")
        wal = os.path.join(tmp, f"live-{tag}.wal")
        shutil.copyfile(base, store)  # compaction rewrites the store: every server gets its own copy
        if os.path.exists(wal):
            os.remove(wal)
        srv = h.Server(bin_, model, store, tmp, "--wal", wal, "--sync-interval-ms", str(sync), "--compact-items", str(compact_items), log_level="2")
        st = pbg.RerankerStub(grpc.insecure_channel(f"127.0.0.1:{srv.port}"))
        code, msg = h.code_of(lambda: st.UpsertItems(pb.UpsertItemsRequest(items=[pb.ItemUpdate(item_id="x", vector=[0.0] * 384, model_fingerprint=1)]), timeout=30))
        m = re.search(r"this server's model \(([0-9a-f]+)\)", msg)
        if not m:
            raise BenchError(f"could not learn the model fingerprint: {code} {msg}")
        return srv, st, int(m.group(1), 16)

    def workers(srv, fp, seed):
        setup = {"port": srv.port, "fingerprint": fp, "dim": 384, "seed": seed}
        return Worker("rerank", tmp, setup), Worker("write", tmp, setup)

    def check(srv, what):
        if not srv.alive():
            raise BenchError(f"the server died during {what}:\n{srv.log()[-3000:]}")

    def rerank_stats(res, what):
        if res["n_errors"]:
            raise BenchError(f"{what}: {res['n_errors']} re-ranks failed, e.g. {res['errors']}")
        if len(res["done"]) != res["sent"]:
            raise BenchError(f"{what}: {res['sent'] - len(res['done'])} re-ranks never completed")
        lat = [x[1] for x in res["done"]]
        return {"reranks": len(lat), "rerank_p50_ms": r3(pct(lat, 0.5)), "rerank_p99_ms": r3(pct(lat, 0.99)),
                "rerank_max_ms": r3(max(lat)), "client_lag_p99_ms": res["lag_p99_ms"]}

    def baseline(rw, srv, sync, when):
        rw.send({"t0": time.time() + 0.3, "seconds": base_s, "rate": RERANK_RATE})
        res = rw.recv()
        check(srv, "the baseline")
        s = rerank_stats(res, f"baseline (sync {sync})")
        emit({"bench": "live_baseline", "sync_interval_ms": sync, "when": when, **s})
        return [x[1] for x in res["done"]]

    def step(rw, ww, srv, what, write_cmd, seconds):
        t0 = time.time() + 0.3
        rw.send({"t0": t0, "seconds": seconds, "rate": RERANK_RATE})
        ww.send({"t0": t0, "seconds": seconds, **write_cmd})
        rres, wres = rw.recv(), ww.recv()
        check(srv, what)
        if wres["n_errors"]:
            raise BenchError(f"{what}: {wres['n_errors']} write calls failed or answered wrongly, e.g. {wres['errors']}")
        return t0, rres, wres

    def idle(st, fp, sync, calls):
        """One call at a time, nothing else running (the earlier live_updates.py measurement)."""
        n = 0
        for kind in ("vector", "text"):
            ack, vis = [], []
            for k in range(calls if kind == "vector" else max(5, calls // 4)):
                iid = f"idle-{kind}-{sync}-{k}"
                if kind == "vector":
                    item = pb.ItemUpdate(item_id=iid, vector=[rng.uniform(-1, 1) for _ in range(384)], model_fingerprint=fp)
                else:
                    item = pb.ItemUpdate(item_id=iid, text=f"cordless drill model {k} with {k % 7 + 1} batteries and a case")
                t0 = time.perf_counter()
                st.UpsertItems(pb.UpsertItemsRequest(items=[item]), timeout=30)
                t1 = time.perf_counter()
                r = st.Rerank(pb.RerankRequest(context=pb.Context(query="drill"), candidates=[pb.Candidate(item_id=iid)]), timeout=30)
                t2 = time.perf_counter()
                if len(r.items) != 1:
                    raise BenchError(f"{iid} was acknowledged but the next Rerank did not rank it: {r}")
                ack.append(1e3 * (t1 - t0))
                vis.append(1e3 * (t2 - t1))
            emit({"bench": "live_idle", "sync_interval_ms": sync, "by": kind, "calls": len(ack), "ack_p50_ms": r3(pct(ack, 0.5)),
                  "ack_p99_ms": r3(pct(ack, 0.99)), "ack_to_ranked_p50_ms": r3(pct(vis, 0.5)), "ack_to_ranked_p99_ms": r3(pct(vis, 0.99))})
            n += len(ack)
        return n

    summary = []
    syncs = [int(x) for x in a.syncs.split(",")]
    ladder_end = t_start + budget - (comp_s + base_s + 6)  # what the compaction phase needs
    for si, sync in enumerate(syncs):
        deadline = time.time() + (ladder_end - time.time()) / (len(syncs) - si)  # an equal share of what is left
        srv, st, fp = start(sync, 1 << 20, f"s{sync}")
        rw, ww = workers(srv, fp, 10 + sync)
        items_acked = idle(st, fp, sync, 12 if quick else 100)
        baseline(rw, srv, sync, "start")
        runnable = modes
        if any(k == "event" for k, _ in modes):
            if not hasattr(pb, "RecordEventsRequest") or not hasattr(st, "RecordEvents"):
                no_events = "RecordEvents not available on this server (the proto has no RecordEvents)"
            else:
                req = pb.RecordEventsRequest()
                req.events.add(user="u0", item="i0", ts=time.time(), weight=1.0)
                code, msg = h.code_of(lambda: st.RecordEvents(req, timeout=30))
                if code == grpc.StatusCode.UNIMPLEMENTED:
                    no_events = f"RecordEvents not available on this server ({msg or 'UNIMPLEMENTED'})"
                elif code != grpc.StatusCode.OK:
                    raise BenchError(f"RecordEvents failed: {code.name}: {msg}")
                else:
                    no_events = ""
            if no_events:
                print(no_events, file=sys.stderr)
                emit({"bench": "live_events", "sync_interval_ms": sync, "available": False, "reason": no_events})
                runnable = [m for m in modes if m[0] != "event"]
        tail = 0 if quick else base_s  # the closing baseline
        for mi, (kind, batch) in enumerate(runnable):
            # each mode an equal share of the time left (what a short ladder leaves goes to the next)
            mode_deadline = time.time() + (deadline - tail - time.time()) / (len(runnable) - mi)
            best = None
            for rate in (quick_rates if quick else rates)[(kind, batch)]:
                if time.time() + 2 * step_s + 1 > mode_deadline:
                    emit({"bench": "live_step", "sync_interval_ms": sync, "kind": kind, "batch": batch, "offered_per_s": rate,
                          "skipped": "time budget spent"})
                    break
                for attempt in (1, 2):  # a failed step runs once more: a stall from elsewhere must not end the ladder
                    if attempt == 2 and time.time() + 2 * step_s + 1 > mode_deadline:
                        emit({"bench": "live_step", "sync_interval_ms": sync, "kind": kind, "batch": batch, "offered_per_s": rate,
                              "skipped": "time budget spent (second run of a failed step)"})
                        break
                    what = f"sync {sync}, {kind} x{batch} at {rate}/s"
                    cap = max(16, int(2 * rate / batch))  # two seconds of calls behind: not keeping up
                    t0, rres, wres = step(rw, ww, srv, what, {"kind": kind, "batch": batch, "rate_items": rate, "inflight_cap": cap,
                                                              "block_s": BLOCK_S}, 2 * step_s)
                    s = rerank_stats(rres, what)
                    # the re-ranks of the writing blocks (and of the first SPILL_S after each, where a backlog
                    # of writes may still run) against those of the rest of the quiet blocks: paired, so load
                    # from elsewhere on the machine falls on both sides alike
                    writing = [(t0 + 2 * k * BLOCK_S, t0 + 2 * k * BLOCK_S + min(BLOCK_S, step_s - k * BLOCK_S) + SPILL_S)
                               for k in range(int(-(-step_s // BLOCK_S)))]
                    with_w, without_w = [], []
                    for sched, lat in rres["done"]:
                        (with_w if any(w0 <= sched < w1 for w0, w1 in writing) else without_w).append(lat)
                    p99_with, p99_without = pct(with_w, 0.99), pct(without_w, 0.99)
                    p50_with, p50_without = pct(with_w, 0.5), pct(without_w, 0.5)
                    limit = max(a.p99_factor * p99_without, p99_without + a.p99_floor_ms)
                    # the median too: when the machine's own stalls make both tails long, a p99 ratio
                    # alone would let a saturated server pass
                    limit50 = max(a.p99_factor * p50_without, p50_without + a.p99_floor_ms)
                    ack_sched_p99 = pct(wres["ack_sched_ms"], 0.99)
                    if kind != "event":
                        items_acked += wres["items_ok"]
                    sustained = wres["items_ok"] / wres["span_s"]
                    keeps_up = (wres["skipped"] == 0 and wres["refused"] == 0 and sustained >= 0.9 * rate
                                and ack_sched_p99 is not None and ack_sched_p99 <= ACK_LIMIT_MS)
                    p99_ok = p99_with <= limit and p50_with <= limit50
                    row = {"bench": "live_step", "sync_interval_ms": sync, "kind": kind, "batch": batch, "offered_per_s": rate,
                           "sustained_per_s": round(sustained, 1), "calls": wres["calls"], "calls_skipped": wres["skipped"], "refused": wres["refused"],
                           "rerank_p50_with_writes_ms": r3(p50_with), "rerank_p99_with_writes_ms": r3(p99_with), "reranks_with_writes": len(with_w),
                           "rerank_p50_without_ms": r3(p50_without), "rerank_p99_without_ms": r3(p99_without), "reranks_without": len(without_w),
                           "added_p99_ms": r3(p99_with - p99_without), "rerank_max_ms": s["rerank_max_ms"], "client_lag_p99_ms": s["client_lag_p99_ms"],
                           "ack_p50_ms": r3(pct(wres["ack_send_ms"], 0.5)), "ack_p99_ms": r3(pct(wres["ack_send_ms"], 0.99)),
                           "ack_from_schedule_p99_ms": r3(ack_sched_p99),
                           "ack_to_rankable_p50_ms": r3(pct(wres["visible_ms"], 0.5)), "ack_to_rankable_p99_ms": r3(pct(wres["visible_ms"], 0.99)),
                           "ack_to_rankable_n": len(wres["visible_ms"]), "ack_to_rankable_max_tries": max(wres["visible_tries"], default=None),
                           "keeps_up": keeps_up, "p99_within_limit": p99_ok, "p99_limit_ms": r3(limit), "p50_limit_ms": r3(limit50)}
                    row["attempt"] = attempt
                    emit(row)
                    if keeps_up and p99_ok:
                        break
                if not (keeps_up and p99_ok):
                    break
                best = row
            summary.append({"bench": "live_sustained", "sync_interval_ms": sync, "kind": kind, "batch": batch,
                            "best_passing_offered_per_s": best and best["offered_per_s"], "sustained_per_s": best and best["sustained_per_s"],
                            "added_p99_ms": best and best["added_p99_ms"]})
        if not quick:
            baseline(rw, srv, sync, "end")  # drift: the machine's load may have changed
        got = metrics(srv.mport)
        upserts = got.get('feedrank_live_updates_total{op="upsert"}')
        if upserts != items_acked:
            raise BenchError(f"the server counted {upserts} upserted items, the clients had {items_acked} acknowledged")
        rw.close()
        ww.close()
        code = srv.stop()
        if code != 0:
            raise BenchError(f"the server (sync {sync}) exited {code}:\n{srv.log()[-3000:]}")

    # compaction's cost and memory over a longer run (the default sync: fdatasync per call)
    srv, st, fp = start(0, compact_items, "compact")
    rw, ww = workers(srv, fp, 99)
    base_lat = baseline(rw, srv, 0, "compaction phase, before")
    rss, stop = [], threading.Event()

    def sample():
        while not stop.is_set():
            rss.append((time.time(), srv.rss_kb()))
            stop.wait(0.5)
    sampler = threading.Thread(target=sample)
    sampler.start()
    rate = 320
    t0, rres, wres = step(rw, ww, srv, "the compaction phase", {"kind": "vector", "batch": 32, "rate_items": rate,
                                                               "inflight_cap": 64, "probe": True}, comp_s)
    stop.set()
    sampler.join()
    s = rerank_stats(rres, "the compaction phase")
    m = metrics(srv.mport)
    comps = []
    for line in srv.log().splitlines():
        if "event=compacted" in line:
            ts = re.search(r"ts=(\S+)Z", line).group(1)
            end = calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")) + float("0" + ts[19:])
            ms = float(re.search(r" ms=([0-9.]+)", line).group(1))
            comps.append((end - ms / 1e3, end, ms))
    n_ok = m.get('feedrank_live_compactions_total{result="ok"}', 0)
    if n_ok != len(comps):
        raise BenchError(f"the metrics count {n_ok} compactions, the log {len(comps)}")
    inside, outside = [], []
    t_end = t0 + comp_s
    w = t0
    windows_in = windows_out = 0
    while w < t_end:
        lat = [x[1] for x in rres["done"] if w <= x[0] < w + 1]
        if any(c0 < w + 1 and c1 > w for c0, c1, _ in comps):
            inside += lat
            windows_in += 1
        else:
            outside += lat
            windows_out += 1
        w += 1
    emit({"bench": "live_compaction", "sync_interval_ms": 0, "compact_items": compact_items, "seconds": comp_s,
          "write": f"vector x32 at {rate} items/s offered", "sustained_per_s": round(wres["items_ok"] / wres["span_s"], 1),
          "refused": wres["refused"], "compactions": len(comps), "compaction_ms": [round(c[2], 1) for c in comps], **s,
          "baseline_p99_ms": r3(pct(base_lat, 0.99)), "windows_with_compaction": windows_in, "windows_without": windows_out,
          "p50_ms_in_compaction_windows": r3(pct(inside, 0.5)), "p99_ms_in_compaction_windows": r3(pct(inside, 0.99)),
          "p99_ms_other_windows": r3(pct(outside, 0.99)), "p50_ms_other_windows": r3(pct(outside, 0.5)),
          "ack_p50_ms": r3(pct(wres["ack_send_ms"], 0.5)), "ack_p99_ms": r3(pct(wres["ack_send_ms"], 0.99)),
          "ack_to_rankable_p50_ms": r3(pct(wres["visible_ms"], 0.5)), "ack_to_rankable_p99_ms": r3(pct(wres["visible_ms"], 0.99))})
    if not comps:
        raise BenchError("no compaction ran in the compaction phase: raise --compact-seconds or lower --compact-items")
    kb = [k for _, k in rss]
    q = max(1, len(kb) // 4)
    emit({"bench": "live_memory", "seconds": comp_s, "samples": len(kb), "rss_kb_first": kb[0], "rss_kb_min": min(kb), "rss_kb_max": max(kb),
          "rss_kb_last": kb[-1], "rss_kb_max_second_quarter": max(kb[q:2 * q] or kb), "rss_kb_max_last_quarter": max(kb[-q:]),
          "delta_items_end": m.get("feedrank_live_delta_items"), "delta_bytes_end": m.get("feedrank_live_delta_bytes"),
          "log_bytes_end": m.get("feedrank_live_log_bytes"), "items_upserted": m.get('feedrank_live_updates_total{op="upsert"}')})
    rw.close()
    ww.close()
    code = srv.stop()
    if code != 0:
        raise BenchError(f"the compaction-phase server exited {code}:\n{srv.log()[-3000:]}")
    for row in summary:
        emit(row)
    emit({"bench": "live_done", "seconds": round(time.time() - t_start, 1), "loadavg_after": open("/proc/loadavg").read().split()[:3]})


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker_main(sys.argv[2], sys.argv[3])
        sys.exit(0)
    if len(sys.argv) == 3 and sys.argv[1] == "--table":
        tables(sys.argv[2])
        sys.exit(0)
    try:
        main()
    except BenchError as e:
        print(f"live_updates.py: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
