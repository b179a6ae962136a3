#!/usr/bin/python3
"""test_server_hardening.py FEEDRANK MODEL_DIR SOURCE_DIR - regression tests for the findings of issue
#22 ("Hardening") on the network side of `feedrank serve`: config error messages, --listen
validation and the default model.
Same client as test_server.py (Python grpcio, stubs generated from proto/). Loopback only; every loop
is bounded in count and in time."""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import grpc
from grpc_tools import protoc

BIN, MODEL, SRC = (os.path.abspath(a) for a in sys.argv[1:4])  # absolute: some runs change directory
TMP = tempfile.mkdtemp(prefix="fr_hard_")
passed = failed = 0


def check(name, cond):
    global passed, failed
    if cond:
        passed += 1
        print("ok:", name)
    else:
        failed += 1
        print("FAIL:", name, file=sys.stderr)
    sys.stdout.flush()


# stubs from the repository's own protos (health generated from a copy: see test_server.py)
assert protoc.main(["protoc", f"-I{SRC}/proto", f"--python_out={TMP}", f"--grpc_python_out={TMP}",
                    f"{SRC}/proto/feedrank/v1/reranker.proto"]) == 0
os.makedirs(os.path.join(TMP, "frhealth"))
open(os.path.join(TMP, "frhealth", "health.proto"), "w").write(open(f"{SRC}/proto/grpc/health/v1/health.proto").read())
assert protoc.main(["protoc", f"-I{TMP}", f"--python_out={TMP}", f"--grpc_python_out={TMP}", f"{TMP}/frhealth/health.proto"]) == 0
sys.path.insert(0, TMP)
from feedrank.v1 import reranker_pb2 as pb, reranker_pb2_grpc as pbg  # noqa: E402
from frhealth import health_pb2 as hpb, health_pb2_grpc as hpbg  # noqa: E402

STORE = os.path.join(TMP, "ex.store")
subprocess.run([BIN, "index", "--model", MODEL, "--catalog", f"{SRC}/examples/catalog.csv",
                "--text", "{title}. {brand}. {category}", "--out", STORE], check=True, capture_output=True)
ENV = {k: v for k, v in os.environ.items() if k not in ("FEEDRANK_TOKEN", "FEEDRANK_MODEL")}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


_started = []


def _kill_servers():
    for p in _started:
        if p.poll() is None:
            p.kill()


import atexit  # noqa: E402
atexit.register(_kill_servers)


class Server:
    def __init__(self, *extra, env=None, metrics=True):
        self.port, self.mport = free_port(), free_port()
        args = [BIN, "serve", "--model", MODEL, "--store", STORE, "--listen", f"127.0.0.1:{self.port}", "--log-level", "1"]
        if metrics:
            args += ["--metrics-port", str(self.mport)]
        args += list(extra)
        self.errpath = os.path.join(TMP, f"srv{self.port}.log")  # a file: a full pipe would stall the server
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=open(self.errpath, "w"), text=True, env=env or ENV)
        _started.append(self.p)
        self.line = self.p.stdout.readline()
        assert "listening" in self.line, (self.line, open(self.errpath).read())

    def log(self):
        return open(self.errpath).read()

    def rss_kb(self):
        for line in open(f"/proc/{self.p.pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        try:
            return self.p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.p.kill()
            return -9


def run_serve(args, timeout=60, cwd=None, env=None):
    """A `serve` expected to fail at start-up: (exit code, stderr, stdout). A server that starts
    instead is stopped after `timeout` seconds and reported with exit code None."""
    p = subprocess.Popen([BIN, "serve", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                         cwd=cwd, env=env or ENV)
    _started.append(p)
    try:
        out, err = p.communicate(timeout=timeout)
        return p.returncode, err, out
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        return None, err, out


def req(rid="r", query="cordless drill", cands=("p001", "p003", "p004", "p006")):
    r = pb.RerankRequest(request_id=rid, context=pb.Context(query=query))
    for c in cands:
        r.candidates.add(item_id=c)
    return r


def code_of(fn):
    try:
        fn()
        return grpc.StatusCode.OK, ""
    except grpc.RpcError as e:
        return e.code(), e.details()


def cmdline(pid):
    return open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()


def sh(*args):
    subprocess.run(args, check=True, capture_output=True, cwd=TMP)


SECTIONS = []


def section(fn):
    """Runs one finding's checks; an exception (a server that did not start, say) fails that finding only."""
    SECTIONS.append(fn)
    return fn


# ---------------- 3. a config file's bad key is named (no use after free) ----------------
@section
def config_key_named():
    global srv
    cfg = os.path.join(TMP, "badkey.json")
    json.dump({"max_queue": 4, "max_queue_with_a_typo_in_its_name": 5}, open(cfg, "w"))
    rc, err, _ = run_serve(["--config", cfg, "--model", MODEL, "--store", STORE, "--listen", f"127.0.0.1:{free_port()}"])
    check(f"3: a bad config key is named in the error ({err.strip()[:200]!r})",
          rc == 2 and 'unknown key "max_queue_with_a_typo_in_its_name"' in err and "AddressSanitizer" not in err)


# ---------------- 11. --listen is validated ----------------
@section
def listen_validated():
    global srv
    for bad in ("127.0.0.1:99999", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:", "127.0.0.1", ":50051", "127.0.0.1:5x"):
        rc, err, _ = run_serve(["--model", MODEL, "--store", STORE, "--listen", bad], timeout=30)
        check(f"11: --listen {bad} refused, naming the flag ({err.strip()[:160]!r})", rc == 2 and "--listen" in err)
    srv = Server("--listen", "127.0.0.1:0", metrics=False)  # the later --listen wins: any free port, printed
    port = int(srv.line.rsplit("(port ", 1)[1].split(")")[0])
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch0:
        ok = port > 0 and hpbg.HealthStub(ch0).Check(hpb.HealthCheckRequest(), timeout=5).status == hpb.HealthCheckResponse.SERVING
    check(f"11: --listen 127.0.0.1:0 serves on the free port it prints ({srv.line.strip()})", ok)
    check("11: port-0 server exit 0", srv.stop() == 0)


# ---------------- 16. the default model is never the build's source tree ----------------
@section
def default_model():
    global srv
    elsewhere = tempfile.mkdtemp(prefix="fr_cwd_")
    rc, err, out = run_serve(["--store", STORE, "--listen", f"127.0.0.1:{free_port()}"], cwd=elsewhere, timeout=60)
    check(f"16: no --model, no FEEDRANK_MODEL, run elsewhere -> a clear error, not the source tree's model ({rc}, {err.strip()[-160:]!r})",
          rc == 2 and "no model" in err and "FEEDRANK_MODEL" in err and "listening" not in out)
    rc, err, out = run_serve(["--store", os.path.join(elsewhere, "none.store"), "--listen", f"127.0.0.1:{free_port()}"], cwd=elsewhere,
                             env=dict(ENV, FEEDRANK_MODEL=MODEL), timeout=60)
    check(f"16: FEEDRANK_MODEL is the default model (loaded; then the missing store stops it: {err.strip()[-120:]!r})",
          rc not in (None, 0) and "what=store" in err)


ONLY = os.environ.get("FR_SECTIONS", "").split(",") if os.environ.get("FR_SECTIONS") else None  # e.g. FR_SECTIONS=tls_errors
for fn in SECTIONS:
    if ONLY and fn.__name__ not in ONLY:
        continue
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - reported as that section's failure
        check(f"{fn.__name__}: ran to the end ({type(e).__name__}: {str(e)[:300]})", False)
    _kill_servers()

print(f"test_server_hardening: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
