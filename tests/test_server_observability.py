#!/usr/bin/python3
"""test_server_observability.py FEEDRANK MODEL_DIR SOURCE_DIR - what operators read: /metrics checked
by the real `promtool check metrics` (Debian's prometheus package) with and without A/B arms, the
process_* series against /proc of the server's own process, the build-info series against the
checkout, and the log lines: the request id and arm on every request line, gRPC status names,
`--log-format json` lines parsed as JSON, client text that cannot break a line. Loopback only."""
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
import urllib.request

import grpc

import server_harness as h
from server_harness import code_of

BIN, MODEL, SRC, TMP = h.args("fr_obs_")
check = h.Checks(verbose=bool(os.environ.get("VERBOSE")))
pb, pbg, hpb, hpbg = h.stubs(SRC, TMP)
STORE = os.path.join(TMP, "ex.store")
h.index_example(BIN, MODEL, SRC, STORE)
PROMTOOL = shutil.which("promtool")
if not PROMTOOL:
    sys.exit("test_server_observability: promtool is missing (Debian's prometheus package; scripts/install-deps.sh installs it)")


def scrape(srv):
    return urllib.request.urlopen(f"http://127.0.0.1:{srv.mport}/metrics", timeout=5).read().decode()


def promtool(text):
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True)
    return p.returncode, (p.stdout + p.stderr).strip()


def value(text, series):
    """The sample of one exact series (name{labels}), or None."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return None


def req(rid=None, cands=("p001", "p003", "p004"), **kw):
    r = pb.RerankRequest(context=pb.Context(query="cordless drill"), **kw)
    if rid is not None:
        r.request_id = rid
    for c in cands:
        r.candidates.add(item_id=c)
    return r


def traffic(ch, **kw):
    stub = pbg.RerankerStub(ch)
    stub.Rerank(req("obs-1"), **kw)
    stub.Rerank(req(), **kw)  # no request id: the server makes one
    code_of(lambda: stub.Rerank(pb.RerankRequest(request_id="bad-1", candidates=[pb.Candidate(item_id="p001")]), **kw))
    stub.Rerank(req('in"ject\nts=fake level=error'), **kw)  # client text with a quote and a newline
    stub.Embed(pb.EmbedRequest(texts=["drill"]), **kw)
    list(stub.RerankStream(iter([req("s-0"), pb.RerankRequest(request_id="s-1"), req("s-2")]), **kw))
    hpbg.HealthStub(ch).Check(hpb.HealthCheckRequest())


version = re.search(r"project\(feedrank VERSION ([0-9.]+)", open(f"{SRC}/CMakeLists.txt").read()).group(1)
git = subprocess.run(["git", "-C", SRC, "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True)
revision = git.stdout.strip() if git.returncode == 0 else "unknown"

# ---------------- no arms, JSON logs ----------------
t_start = time.time()
srv = h.Server(BIN, MODEL, STORE, TMP, "--log-format", "json", log_level="3")
m0 = scrape(srv)
rc, out = promtool(m0)
check(f"promtool: a fresh server's metrics are clean ({out})", rc == 0 and out == "")
ch = grpc.insecure_channel(f"127.0.0.1:{srv.port}")
traffic(ch)
m = scrape(srv)
rc, out = promtool(m)
check(f"promtool: clean after traffic, no arms ({out})", rc == 0 and out == "")

pid = srv.p.pid
rss = int(next(l for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS:")).split()[1]) * 1024
fds = len(os.listdir(f"/proc/{pid}/fd"))
got = {k: value(m, k) for k in ("process_resident_memory_bytes", "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
                                "process_start_time_seconds", "process_cpu_seconds_total")}
check(f"process_resident_memory_bytes near /proc's VmRSS ({got['process_resident_memory_bytes']} vs {rss})",
      got["process_resident_memory_bytes"] and abs(got["process_resident_memory_bytes"] - rss) < 0.25 * rss)
check("process_virtual_memory_bytes above RSS", got["process_virtual_memory_bytes"] and got["process_virtual_memory_bytes"] > got["process_resident_memory_bytes"])
check(f"process_open_fds near /proc's fd count ({got['process_open_fds']} vs {fds})", got["process_open_fds"] is not None and abs(got["process_open_fds"] - fds) <= 8)
check("process_max_fds is the soft RLIMIT_NOFILE the server inherited", got["process_max_fds"] == resource.getrlimit(resource.RLIMIT_NOFILE)[0])
check(f"process_start_time_seconds is when the server started ({got['process_start_time_seconds']} vs {t_start:.2f})",
      got["process_start_time_seconds"] and abs(got["process_start_time_seconds"] - t_start) < 5)
check("process_cpu_seconds_total counts the model load and requests",
      got["process_cpu_seconds_total"] and 0 < got["process_cpu_seconds_total"] < (time.time() - t_start) * os.cpu_count() + 1)
bi = re.search(r'^feedrank_build_info\{version="([^"]*)",revision="([^"]*)",backend="([^"]*)"\} 1$', m, re.M)
check(f"feedrank_build_info: version, git revision, backends ({bi and bi.groups()})",
      bi and bi.group(1) == version and bi.group(2).split("-dirty")[0] == revision and bi.group(3).split(",")[0] == "cpu")
ch.close()
check("server exits cleanly", srv.stop() == 0)

lines = srv.log().splitlines()
objs = []
for line in lines:
    try:
        objs.append(json.loads(line))
    except ValueError:
        objs.append(None)
check(f"--log-format json: every one of {len(lines)} lines is one JSON object with time and level",
      lines and all(isinstance(o, dict) and "time" in o and o.get("level") in ("error", "warn", "info", "debug") for o in objs))
reqs = [o for o in objs if o and o.get("event") == "request"]
by_id = {o["request_id"]: o for o in reqs}
check("every request line has request_id, arm, method, status (a name) and duration",
      reqs and all({"request_id", "arm", "method", "status", "duration"} <= set(o) and isinstance(o["duration"], float)
                   and re.fullmatch(r"[A-Z_]+", o["status"]) for o in reqs))
o = by_id.get("obs-1")
check("Rerank: the client's request id, arm default, OK", o and o["method"] == "Rerank" and o["arm"] == "default" and o["status"] == "OK" and o["duration"] > 0)
gen = [o for o in reqs if o["method"] == "Rerank" and o["request_id"].startswith("fr-")]
check("Rerank without an id: a server-made one", len(gen) == 1 and gen[0]["status"] == "OK")
o = by_id.get("bad-1")
check("invalid Rerank: INVALID_ARGUMENT with its message", o and o["status"] == "INVALID_ARGUMENT" and "context" in o.get("message", ""))
o = by_id.get('in"ject\nts=fake level=error')
check("client text with a quote and a newline comes through as data", o and o["status"] == "OK")
check("Embed has a line (server-made id)", any(o["method"] == "Embed" and o["request_id"].startswith("fr-") and o["status"] == "OK" for o in reqs))
check("RerankStream: a line per message with its id, and one for the stream",
      by_id.get("s-0", {}).get("method") == "RerankStream" and by_id.get("s-2", {}).get("status") == "OK"
      and by_id.get("s-1", {}).get("status") == "INVALID_ARGUMENT"
      and any(o["method"] == "RerankStream" and o["request_id"].startswith("fr-") and o["arm"] == "-" for o in reqs))
check("health Check has a line", any(o["method"] == "HealthCheck" and o["status"] == "OK" for o in reqs))
check("startup lines are fields too", any(o and o.get("event") == "serving" and o.get("model") == "all-MiniLM-L6-v2" for o in objs))

# ---------------- A/B arms, text logs ----------------
cfg = os.path.join(TMP, "arms.json")
json.dump({"arms": [{"name": "control", "weight": 1}, {"name": "diverse", "weight": 1, "options": {"mmr_lambda": 0.7}}]}, open(cfg, "w"))
srv = h.Server(BIN, MODEL, STORE, TMP, "--config", cfg, log_level="3")
rc, out = promtool(scrape(srv))
check(f"promtool: arms, before traffic ({out})", rc == 0 and out == "")
ch = grpc.insecure_channel(f"127.0.0.1:{srv.port}")
traffic(ch)
stub = pbg.RerankerStub(ch)
for u in range(12):
    stub.Rerank(req(f"u-{u}", user_id=f"user{u}"))
stub.Rerank(req("named", arm="diverse"))
m = scrape(srv)
rc, out = promtool(m)
check(f"promtool: clean with arms after traffic ({out})", rc == 0 and out == "")
for arm in ("control", "diverse"):
    n = value(m, f'feedrank_arm_requests_total{{arm="{arm}"}}')
    cnt = value(m, f'feedrank_arm_request_seconds_count{{arm="{arm}"}}')
    inf = value(m, f'feedrank_arm_request_seconds_bucket{{arm="{arm}",le="+Inf"}}')
    buckets = [float(x) for x in re.findall(rf'^feedrank_arm_request_seconds_bucket\{{arm="{arm}",le="[^"]+"\}} (\S+)$', m, re.M)]
    check(f"arm {arm}: a histogram whose count is the arm's requests ({n}, {cnt})",
          n and n == cnt == inf and buckets == sorted(buckets) and value(m, f'feedrank_arm_request_seconds_sum{{arm="{arm}"}}') > 0)
ch.close()
check("server exits cleanly (arms)", srv.stop() == 0)
log = srv.log()
lines = log.splitlines()
check("text logs: every line starts with ts= (client text cannot start a line)", lines and all(l.startswith("ts=") for l in lines))
rl = [l for l in lines if " event=request " in l]
check("text logs: every request line has request_id=, arm=, method=, a status name and duration=",
      rl and all(re.search(r" request_id=\S", l) and re.search(r" arm=\S", l) and re.search(r" status=[A-Z_]+( |$)", l)
                 and re.search(r" duration=[0-9.]+", l) for l in rl))
check("text logs: the arm that ranked each request",
      any("request_id=named arm=diverse method=Rerank status=OK" in l for l in rl)
      and all(re.search(r" arm=(control|diverse) ", l) for l in rl if "request_id=u-" in l))
check("text logs: quoted client text", any('request_id="in\\"ject\\nts=fake level=error"' in l for l in rl))
p = subprocess.run([BIN, "serve", "--model", MODEL, "--store", STORE, "--log-format", "xml"], capture_output=True, text=True, timeout=60)
check("--log-format xml: refused, naming the flag", p.returncode == 2 and "--log-format 'xml'" in p.stderr)
sys.exit(check.summary("test_server_observability"))
