"""server_harness.py - what the Python server tests share: pass/fail counting, stubs generated
from the repository's own protos (grpc_tools), free loopback ports, `feedrank serve` processes
that are always cleaned up, and a gRPC status catcher. Loopback only."""
import atexit
import os
import signal
import socket
import subprocess
import sys
import tempfile

import grpc
from grpc_tools import protoc


class Checks:
    """Counts checks; `summary(name)` prints the closing line ctest readers know and returns the exit code."""

    def __init__(self, verbose=False):
        self.passed = self.failed = 0
        self.verbose = verbose

    def __call__(self, name, cond):
        if cond:
            self.passed += 1
            if self.verbose:
                print("ok:", name)
        else:
            self.failed += 1
            print("FAIL:", name, file=sys.stderr)
        sys.stdout.flush()

    def summary(self, name):
        print(f"{name}: {self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0


def args(prefix):
    """(BIN, MODEL, SRC, TMP) from argv, absolute (some tests change directory)."""
    b, m, s = (os.path.abspath(a) for a in sys.argv[1:4])
    return b, m, s, tempfile.mkdtemp(prefix=prefix)


def stubs(src, tmp):
    """(pb, pbg, hpb, hpbg): feedrank.v1 and grpc.health.v1 messages and stubs. health.proto's module
    path would be grpc/health/v1, which the grpc package shadows: it is generated from a copy under
    another folder (the wire names come from the proto package, not the path)."""
    assert protoc.main(["protoc", f"-I{src}/proto", f"--python_out={tmp}", f"--grpc_python_out={tmp}",
                        f"{src}/proto/feedrank/v1/reranker.proto"]) == 0
    os.makedirs(os.path.join(tmp, "frhealth"), exist_ok=True)
    with open(os.path.join(tmp, "frhealth", "health.proto"), "w") as f:
        f.write(open(f"{src}/proto/grpc/health/v1/health.proto").read())
    assert protoc.main(["protoc", f"-I{tmp}", f"--python_out={tmp}", f"--grpc_python_out={tmp}", f"{tmp}/frhealth/health.proto"]) == 0
    sys.path.insert(0, tmp)
    from feedrank.v1 import reranker_pb2 as pb, reranker_pb2_grpc as pbg
    from frhealth import health_pb2 as hpb, health_pb2_grpc as hpbg
    return pb, pbg, hpb, hpbg


def sanitized(binary):
    """A sanitizer build runs several times slower and keeps freed memory in quarantine. gcc links
    the ASan runtime as a shared library (the binary names libasan); a static runtime shows its name."""
    linked = subprocess.run(["ldd", binary], capture_output=True).stdout
    return b"libasan" in linked or b"AddressSanitizer" in open(binary, "rb").read()


def index_example(binary, model, src, out, catalog=None):
    subprocess.run([binary, "index", "--model", model, "--catalog", catalog or f"{src}/examples/catalog.csv",
                    "--text", "{title}. {brand}. {category}", "--out", out], check=True, capture_output=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def code_of(fn):
    """(status code, details) of a call: OK and "" when it returned."""
    try:
        fn()
        return grpc.StatusCode.OK, ""
    except grpc.RpcError as e:
        return e.code(), e.details()


_started = []


@atexit.register
def _kill_servers():
    """A failing test must not leave servers behind."""
    for p in _started:
        if p.poll() is None:
            p.kill()


def track(p):
    _started.append(p)
    return p


class Server:
    """`feedrank serve` on free loopback ports, started and waited for; stderr goes to a file (a full
    pipe would stall the server)."""

    def __init__(self, binary, model, store, tmp, *extra, env=None, metrics=True, log_level="1"):
        self.port, self.mport = free_port(), free_port()
        argv = [binary, "serve", "--model", model, "--store", store, "--listen", f"127.0.0.1:{self.port}", "--log-level", log_level]
        if metrics:
            argv += ["--metrics-port", str(self.mport)]
        argv += list(extra)
        self.errpath = os.path.join(tmp, f"srv{self.port}.log")
        self.p = track(subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=open(self.errpath, "w"), text=True, env=env))
        self.line = self.p.stdout.readline()
        assert "listening" in self.line, (self.line, open(self.errpath).read())

    def log(self):
        return open(self.errpath).read()

    def alive(self):
        return self.p.poll() is None

    def rss_kb(self):
        for line in open(f"/proc/{self.p.pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def stop(self, sig=signal.SIGTERM):
        self.p.send_signal(sig)
        try:
            return self.p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.p.kill()
            return -9
