#!/usr/bin/python3
"""soak_clients.py - the abusive and auxiliary clients of bench/run_soak.sh, and its summary.

  soak_clients.py drive --addr HOST:PORT --metrics-port P --token-file F --src DIR --work DIR
                        --out DIR --seconds S --max-candidates N
  soak_clients.py summary --out DIR

`drive` generates Python stubs from proto/ with grpc_tools (like tests/test_server.py), prepares
its payloads, writes WORK/ready, waits for WORK/go (which holds the soak's start time, bash's
$EPOCHREALTIME), then runs until SIGTERM or S seconds, each loop closed (one call at a time) and
every call with a deadline:
  abuse_light   invalid / abusive unary requests, round-robin over LIGHT_KINDS
  abuse_heavy   expensive ones (MMR over every candidate with a huge depth, an Embed of 64 x 16 KiB
                with a 0.5 s deadline, 3 MiB of 1.5M empty candidates), round-robin
  stream_fast   RerankStream sessions of up to 1,000 requests sent as fast as possible, all read
  stream_unread RerankStream sessions of up to 2,000 requests whose responses are never read,
                cancelled after 10 s
  health        grpc.health.v1 Check with a 100 ms deadline every 250 ms (misses counted)
  idle          32 plain TCP connections to the gRPC port and 8 to the metrics port, held open
Status codes are recorded per kind, never asserted: the server may answer any of them any way.
Writes OUT/clients.json (also every 30 s while running) and OUT/health_misses.tsv.

`summary` reads OUT/{facts.env,rss.tsv,events.tsv,load.json,clients.json}, applies the pass rule
of run_soak.sh, prints one JSON line, writes OUT/summary.json and OUT/plot_title.txt, and exits
0 on pass, 1 on fail."""
import collections
import json
import os
import random
import re
import signal
import socket
import sys
import threading
import time


def arg(name, default=None):
    a = sys.argv
    return a[a.index(name) + 1] if name in a else default


# ------------------------------------------------------------------------------------------ drive
def drive():
    import grpc
    from grpc_tools import protoc

    addr, mport = arg("--addr"), int(arg("--metrics-port"))
    src, work, out = arg("--src"), arg("--work"), arg("--out")
    seconds, max_cand = float(arg("--seconds")), int(arg("--max-candidates"))
    token = open(arg("--token-file")).read().strip()
    n_items = int(arg("--items", "2000"))

    gen = os.path.join(work, "pystubs")
    os.makedirs(os.path.join(gen, "frhealth"), exist_ok=True)
    assert protoc.main(["protoc", f"-I{src}/proto", f"--python_out={gen}", f"--grpc_python_out={gen}",
                        f"{src}/proto/feedrank/v1/reranker.proto"]) == 0
    # the grpc package shadows grpc/health/v1: generate health.proto from a copy under another folder
    with open(os.path.join(gen, "frhealth", "health.proto"), "w") as f:
        f.write(open(f"{src}/proto/grpc/health/v1/health.proto").read())
    assert protoc.main(["protoc", f"-I{gen}", f"--python_out={gen}", f"--grpc_python_out={gen}",
                        f"{gen}/frhealth/health.proto"]) == 0
    sys.path.insert(0, gen)
    from feedrank.v1 import reranker_pb2 as pb, reranker_pb2_grpc as pbg
    from frhealth import health_pb2 as hpb, health_pb2_grpc as hpbg

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    lock = threading.Lock()
    kinds = collections.defaultdict(collections.Counter)   # kind -> status name -> calls
    streams = {"fast": collections.Counter(), "unread": collections.Counter()}
    stream_errors = collections.Counter()                   # RerankResponse.error texts (normalised)
    health = {"checks": 0, "ok": 0, "misses": 0, "miss_codes": collections.Counter(), "max_ms": 0.0}
    client_errors = collections.Counter()                   # exceptions of this script (not statuses)
    details = {}                                            # "kind code" -> the first status message
    miss_log = open(os.path.join(out, "health_misses.tsv"), "w")
    miss_log.write("# elapsed_s\tcode\tms\n")
    t0 = [time.time()]
    hard_end = [time.monotonic() + seconds + 30]

    def running():
        return not stop.is_set() and time.monotonic() < hard_end[0]

    def code_name(e):
        c = e.code() if hasattr(e, "code") else None
        return c.name if c is not None else "UNKNOWN"

    auth = [("authorization", f"Bearer {token}")]
    words = "cordless drill light bulb garden hose kitchen sink paint roller ceramic tile ceiling fan".split()
    rnd = random.Random(11)

    def q():
        return " ".join(rnd.choice(words) for _ in range(8))

    def cands(ids):
        return [pb.Candidate(item_id=i, upstream_score=rnd.random()) for i in ids]

    def some(n=20):
        return [f"i{x}" for x in rnd.sample(range(n_items), n)]

    def rr(query=None, history=None, ids=None, **kw):
        ctx = pb.Context()
        if query is not None:
            ctx.query = query
        for h in history or ():
            ctx.history.add(**h)
        r = pb.RerankRequest(request_id=f"soak{rnd.randrange(1 << 30)}", candidates=cands(ids if ids is not None else some()), **kw)
        if query is not None or history:
            r.context.CopyFrom(ctx)
        return r

    def channel(own_connection=False):
        # channels with equal arguments share one connection (grpc's global subchannel pool)
        return grpc.insecure_channel(addr, options=[("grpc.max_receive_message_length", 64 << 20),
                                                    ("grpc.use_local_subchannel_pool", int(own_connection))])

    ch = channel()
    stub = pbg.RerankerStub(ch)
    raw = lambda method: ch.unary_unary(method, request_serializer=lambda b: b, response_deserializer=lambda b: b)
    meta_ch = channel(own_connection=True)  # the 16 KiB-metadata calls: one may tear its connection down
    meta_stub = pbg.RerankerStub(meta_ch)
    T = 10  # deadline of a light call
    big = 1 << 62
    LIGHT_KINDS = [
        ("unknown_ids", lambda: stub.Rerank(rr(q(), ids=[f"zz{j}" for j in range(50)]), metadata=auth, timeout=T)),
        ("empty_context", lambda: stub.Rerank(rr(), metadata=auth, timeout=T)),
        ("too_many_candidates", lambda: stub.Rerank(rr(q(), ids=[f"i{j % n_items}x{j}" for j in range(max_cand + 1)]), metadata=auth, timeout=T)),
        ("unknown_arm", lambda: stub.Rerank(rr(q(), arm="nope"), metadata=auth, timeout=T)),
        ("oversized_query", lambda: stub.Rerank(rr("x" * 20000), metadata=auth, timeout=T)),
        ("history_ts_+2^62", lambda: stub.Rerank(rr(history=[dict(item_id="i1", timestamp=big), dict(item_id="i2", timestamp=big - 1)]), metadata=auth, timeout=T)),
        ("history_ts_-2^62", lambda: stub.Rerank(rr(history=[dict(item_id="i1", timestamp=-big), dict(item_id="i2", timestamp=-big + 1)]), metadata=auth, timeout=T)),
        ("history_ts_+-2^62", lambda: stub.Rerank(rr(history=[dict(item_id="i1", timestamp=-big), dict(item_id="i2", timestamp=big)]), metadata=auth, timeout=T)),
        ("nul_in_candidate_id", lambda: stub.Rerank(rr(q(), ids=["i1\x00evil", "i2", "i1"]), metadata=auth, timeout=T)),
        ("nul_in_history_id", lambda: stub.Rerank(rr(history=[dict(item_id="i3\x00evil")]), metadata=auth, timeout=T)),
        ("nul_leading_query", lambda: stub.Rerank(rr("\x00" + q()), metadata=auth, timeout=T)),
        ("nul_inside_query", lambda: stub.Rerank(rr("drill\x00evil lamp"), metadata=auth, timeout=T)),
        ("all_unknown_history", lambda: stub.Rerank(rr(history=[dict(item_id="zz1"), dict(item_id="zz2")]), metadata=auth, timeout=T)),
        ("zero_weight_history", lambda: stub.Rerank(rr(history=[dict(item_id="i5", weight=0)]), metadata=auth, timeout=T)),
        ("nan_upstream_score", lambda: stub.Rerank(pb.RerankRequest(context=pb.Context(query="drill"), candidates=[pb.Candidate(item_id="i1", upstream_score=float("nan"))]), metadata=auth, timeout=T)),
        ("metadata_16KiB", lambda: meta_stub.Rerank(rr(q()), metadata=auth + [("x-soak-pad", "p" * 16384)], timeout=T)),
        ("wrong_token", lambda: stub.Rerank(rr(q()), metadata=[("authorization", "Bearer not-the-token")], timeout=T)),
        ("no_token", lambda: stub.Rerank(rr(q()), timeout=T)),
        ("unknown_method", lambda: raw("/feedrank.v1.Reranker/Frobnicate")(b"", metadata=auth, timeout=T)),
        ("unknown_service", lambda: raw("/nope.v1.Nope/Do")(b"", metadata=auth, timeout=T)),
        ("malformed_protobuf", lambda: raw("/feedrank.v1.Reranker/Rerank")(b"\xff\xff\xff\xff garbage", metadata=auth, timeout=T)),
    ]
    # 1.5M empty Candidate messages (field 3, length 0: 2 bytes each) after a valid context: 3 MiB
    ctx = pb.Context(query="cordless drill").SerializeToString()
    empties = b"\x12" + bytes([len(ctx)]) + ctx + b"\x1a\x00" * 1_500_000
    long_texts = [("drill lamp hose " * 1100)[:16384] for _ in range(64)]
    mmr_req = rr(q(), ids=[f"i{j}" for j in range(min(max_cand, n_items))],
                 options=pb.RerankOptions(mmr_lambda=0.5, mmr_depth=(1 << 32) - 1))
    HEAVY_KINDS = [
        ("mmr_all_candidates_huge_depth", lambda: stub.Rerank(mmr_req, metadata=auth, timeout=30)),
        ("embed_64x16KiB_0.5s_deadline", lambda: stub.Embed(pb.EmbedRequest(texts=long_texts, kind=pb.DOCUMENT), metadata=auth, timeout=0.5)),
        ("empty_candidates_1.5M_3MiB", lambda: raw("/feedrank.v1.Reranker/Rerank")(empties, metadata=auth, timeout=30)),
    ]

    def call(kind, fn):
        try:
            fn()
            c = "OK"
        except grpc.RpcError as e:
            c = code_name(e)
            if f"{kind} {c}" not in details:
                details[f"{kind} {c}"] = (e.details() or "")[:120] if hasattr(e, "details") else ""
        except Exception as e:  # a bug of this script, never the server's answer
            c = "CLIENT_ERROR"
            with lock:
                client_errors[f"{kind}: {type(e).__name__}: {str(e)[:120]}"] += 1
        with lock:
            kinds[kind][c] += 1
        if c == "UNAVAILABLE" or c == "CLIENT_ERROR":
            stop.wait(0.2)  # no busy loop against a dead or restarting server

    def loop(kind_list, pause):
        i = 0
        while running():
            call(*kind_list[i % len(kind_list)])
            i += 1
            stop.wait(pause)

    def small(i):
        if i % 10 == 9:
            return pb.RerankRequest(request_id=f"st{i}", candidates=cands(some(5)))  # invalid: empty context
        return rr(q(), ids=some(20), options=pb.RerankOptions(top_k=5))

    def norm_error(text):
        t = re.sub(r"\d+", "N", text)[:60]
        with lock:
            if t not in stream_errors and len(stream_errors) >= 20:
                t = "(other)"
            stream_errors[t] += 1

    def stream_fast():
        while running():
            sent = [0]

            def gen():
                for i in range(1000):
                    if not running():
                        return
                    sent[0] += 1
                    yield small(i)
            n = 0
            try:
                for r in stub.RerankStream(gen(), metadata=auth, timeout=60):
                    n += 1
                    if r.error:
                        norm_error(r.error)
                c = "OK"
            except grpc.RpcError as e:
                c = code_name(e)
            except Exception as e:
                c = "CLIENT_ERROR"
                with lock:
                    client_errors[f"stream_fast: {type(e).__name__}: {str(e)[:120]}"] += 1
            with lock:
                s = streams["fast"]
                s["sessions"] += 1
                s[f"end_{c}"] += 1
                s["sent"] += sent[0]
                s["responses"] += n
            if c != "OK":
                stop.wait(0.2)

    def stream_unread():
        while running():
            sent = [0]
            until = time.monotonic() + 10

            def gen():
                while running() and time.monotonic() < until and sent[0] < 2000:
                    sent[0] += 1
                    yield small(sent[0])
            try:
                call_ = stub.RerankStream(gen(), metadata=auth, timeout=30)
                while running() and time.monotonic() < until:
                    stop.wait(0.1)
                call_.cancel()  # never read a response; close it
                c = call_.code()
                c = c.name if c is not None else "UNKNOWN"
            except Exception as e:
                c = "CLIENT_ERROR"
                with lock:
                    client_errors[f"stream_unread: {type(e).__name__}: {str(e)[:120]}"] += 1
            with lock:
                s = streams["unread"]
                s["sessions"] += 1
                s[f"end_{c}"] += 1
                s["sent"] += sent[0]
            stop.wait(1)

    hch = channel(own_connection=True)  # health on its own connection, as a probe's
    hstub = hpbg.HealthStub(hch)

    def health_poll():
        while running():
            t = time.monotonic()
            try:
                hstub.Check(hpb.HealthCheckRequest(), timeout=0.1)
                c = "OK"
            except grpc.RpcError as e:
                c = code_name(e)
            ms = 1e3 * (time.monotonic() - t)
            with lock:
                health["checks"] += 1
                health["max_ms"] = max(health["max_ms"], ms)
                if c == "OK":
                    health["ok"] += 1
                else:
                    health["misses"] += 1
                    health["miss_codes"][c] += 1
                    miss_log.write(f"{time.time() - t0[0]:.1f}\t{c}\t{ms:.0f}\n")
                    miss_log.flush()
            stop.wait(0.25)

    def snapshot(final=False, idle=None):
        with lock:
            d = {"abuse": {k: dict(v) for k, v in sorted(kinds.items())},
                 "streams": {k: dict(v) for k, v in streams.items()},
                 "stream_response_errors": dict(stream_errors),
                 "health": {**health, "miss_codes": dict(health["miss_codes"]), "max_ms": round(health["max_ms"], 1)},
                 "first_details": dict(sorted(details.items())),
                 "client_errors": dict(client_errors), "final": final}
        if idle is not None:
            d["idle"] = idle
        tmp = os.path.join(out, "clients.json.tmp")
        with open(tmp, "w") as f:
            json.dump(d, f)
        os.replace(tmp, os.path.join(out, "clients.json"))

    # connect, then wait for the soak to start
    for c_ in (ch, meta_ch, hch):
        grpc.channel_ready_future(c_).result(timeout=20)
    open(os.path.join(work, "ready"), "w").close()
    go = os.path.join(work, "go")
    give_up = time.monotonic() + 300
    while not os.path.exists(go) and running() and time.monotonic() < give_up:
        time.sleep(0.1)
    if not os.path.exists(go):
        return 0 if stop.is_set() else 3
    time.sleep(0.05)
    t0[0] = float(open(go).read().strip() or time.time())
    hard_end[0] = time.monotonic() + seconds + 30

    host, port = addr.rsplit(":", 1)
    idle_socks = []
    for p_, n_ in ((int(port), 32), (mport, 8)):
        for _ in range(n_):
            try:
                idle_socks.append((p_, socket.create_connection((host, p_), timeout=5)))
            except OSError:
                client_errors[f"idle connect to port {p_} failed"] += 1
    threads = [threading.Thread(target=f, args=a, daemon=True, name=n) for n, f, a in (
        ("abuse_light", loop, (LIGHT_KINDS, 0.02)), ("abuse_heavy", loop, (HEAVY_KINDS, 0.5)),
        ("stream_fast", stream_fast, ()), ("stream_unread", stream_unread, ()), ("health", health_poll, ()))]
    for t in threads:
        t.start()
    next_snap = time.monotonic() + 30
    while running():
        stop.wait(1)
        if time.monotonic() >= next_snap:
            snapshot()
            next_snap += 30
    stop.set()
    for t in threads:
        t.join(timeout=70)
    stuck = [t.name for t in threads if t.is_alive()]
    idle = {"grpc_opened": 0, "grpc_open_at_end": 0, "metrics_opened": 0, "metrics_open_at_end": 0}
    for p_, s in idle_socks:
        k = "grpc" if p_ == int(port) else "metrics"
        idle[f"{k}_opened"] += 1
        try:  # drain what the server sent (an HTTP/2 SETTINGS frame, say): open = nothing more, no EOF
            s.setblocking(False)
            while s.recv(1 << 16):
                pass
        except BlockingIOError:
            idle[f"{k}_open_at_end"] += 1
        except OSError:
            pass
        s.close()
    if stuck:
        client_errors[f"threads still running after 70 s: {stuck}"] += 1
    snapshot(final=True, idle=idle)
    miss_log.close()
    os._exit(0)  # stuck daemon threads and grpc's own must not hold the exit


# ---------------------------------------------------------------------------------------- summary
def summary():
    out = arg("--out")
    rd = lambda n: open(os.path.join(out, n)).read() if os.path.exists(os.path.join(out, n)) else ""
    facts = dict(l.split("=", 1) for l in rd("facts.env").splitlines() if "=" in l)
    num = lambda k, d=None: (float(facts[k]) if facts.get(k, "") not in ("", "NA") else d)
    rss = []
    for l in rd("rss.tsv").splitlines():
        if l.startswith("#"):
            continue
        p = l.split("\t")
        if len(p) >= 2 and p[1] != "NA":
            rss.append((float(p[0]), int(p[1]), None if len(p) < 3 or p[2] == "NA" else int(float(p[2]))))
    events = collections.Counter(l.split("\t")[1] for l in rd("events.tsv").splitlines() if l and not l.startswith("#"))
    try:
        load = json.loads(rd("load.json"))
    except ValueError:
        load = None
    try:
        clients = json.loads(rd("clients.json"))
    except ValueError:
        clients = None
    warm_s = num("warm_s", 0)
    start = rss[0][1] if rss else None
    warm = next((r for t, r, _o in rss if t >= warm_s), rss[-1][1]) if rss else None
    end = int(num("rss_kb_end")) if num("rss_kb_end") is not None else None  # None: the server died
    last = rss[-1][1] if rss else None
    mx = max(r for _, r, _ in rss) if rss else None
    server_calls = collections.defaultdict(dict)  # method -> code -> calls, from the last /metrics scrape
    for l in (rd("metrics_end.txt") or rd("metrics_last.txt")).splitlines():
        m = re.match(r'feedrank_requests_total\{method="([^"]+)",code="([^"]+)"\} (\S+)', l)
        if m:
            server_calls[m[1]][m[2]] = int(float(m[3]))
    exit_ = facts.get("exit", "NA")
    alive = facts.get("alive", "no")
    hm = clients["health"]["misses"] if clients else None
    max_hm = int(num("max_health_misses", 0))
    reasons = []
    if alive != "yes":
        reasons.append(f"server died at {facts.get('died_at_s', '?')} s ({facts.get('died_how', '?')}); last event: {facts.get('last_event', 'none')}")
    if alive == "yes" and exit_ != "0":
        reasons.append(f"exit on SIGTERM was {exit_}, not 0")
    if alive == "yes" and (start is None or end is None or warm is None):
        reasons.append("no RSS samples")
    elif alive == "yes" and end > warm * 1.2:
        reasons.append(f"RSS end {end} KB > 1.2 x RSS after warm-up ({warm} KB)")
    if hm is None:
        reasons.append("no client results (soak_clients.py failed)")
    elif hm > max_hm:
        reasons.append(f"{hm} health checks missed the 100 ms deadline (allowed {max_hm})")
    if alive == "yes" and (not load or not load.get("codes", {}).get("0")):
        reasons.append("no valid request succeeded (bench/load)")
    if clients and facts.get("clients_rc", "0") != "0":
        reasons.append(f"soak_clients.py exited {facts.get('clients_rc')}")
    ok_req = [o for _, _, o in rss if o is not None]
    s = {"bench": "soak", "seconds": int(num("seconds", 0)), "ran_s": num("ran_s"), "warm_s": warm_s,
         "load": load if load else "lost (bench/load prints at its end; it was stopped when the server died)",
         "server_calls": server_calls or None, "abuse": clients and clients["abuse"], "streams": clients and clients["streams"],
         "stream_response_errors": clients and clients["stream_response_errors"],
         "health": clients and clients["health"], "idle": clients and clients.get("idle"),
         "events": dict(events), "requests_ok_server": ok_req[-1] if ok_req else None,
         "metrics_scrape_misses": int(num("scrape_misses", 0)),
         "first_details": clients and clients.get("first_details"),
         "client_errors": clients and clients["client_errors"],
         "rss_kb_start": start, "rss_kb_warm": warm, "rss_kb_end": end, "rss_kb_last_sample": last, "rss_kb_max": mx,
         "alive": alive, "died_at_s": num("died_at_s"), "died_how": facts.get("died_how") or None,
         "exit": int(exit_) if exit_.lstrip("-").isdigit() else exit_,
         "pass": not reasons, "fail_reasons": reasons, "out": out}
    line = json.dumps(s, separators=(",", ":"))
    print(line)
    with open(os.path.join(out, "summary.json"), "w") as f:
        f.write(line + "\n")
    mib = lambda k: f"{k / 1024:.0f}" if k else "?"
    title = (f"feedrank serve soak, {s['seconds']} s planned, {s['ran_s'] or 0:.0f} s run: {'PASS' if not reasons else 'FAIL'}; "
             f"RSS start {mib(start)} / after warm-up {mib(warm)} / end {mib(end) if end else 'none (died)'} / max {mib(mx)} MiB; "
             f"alive {alive}, exit {exit_}, health misses {hm}")
    with open(os.path.join(out, "plot_title.txt"), "w") as f:
        f.write(title + "\n")
    return 0 if not reasons else 1


if __name__ == "__main__":
    sys.exit({"drive": drive, "summary": summary}[sys.argv[1]]())
