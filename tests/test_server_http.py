#!/usr/bin/python3
"""test_server_http.py FEEDRANK MODEL_DIR SOURCE_DIR - the HTTP/JSON listener (`serve --http-listen`)
driven by clients nobody here wrote: curl, the `openai` Python package (PyPI) and protobuf's own
json_format. Every answer is compared with what the same server says over gRPC (Rerank, Embed)
or with `feedrank embed`: ids, order, scores and vectors, not just status codes. Also covers the
bearer token, malformed and oversized bodies, TLS, /health and /ready. Loopback only."""
import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import grpc
import numpy as np
from google.protobuf import json_format

import server_harness as h
from server_harness import code_of

BIN, MODEL, SRC, TMP = h.args("fr_http_")
check = h.Checks()
pb, pbg, hpb, hpbg = h.stubs(SRC, TMP)
STORE = os.path.join(TMP, "ex.store")
h.index_example(BIN, MODEL, SRC, STORE)
TOKEN = "s3cret-http-token"
open(os.path.join(TMP, "token"), "w").write(TOKEN + "\n")
MODEL_NAME = os.path.basename(os.path.normpath(MODEL))
MAX_BYTES = 400000


class Server(h.Server):
    """A server with the HTTP listener; its port is read from the second line it prints."""

    def __init__(self, *extra):
        self.hport = h.free_port()
        super().__init__(BIN, MODEL, STORE, TMP, "--http-listen", f"127.0.0.1:{self.hport}", *extra)
        line = self.p.stdout.readline()
        assert f"HTTP on 127.0.0.1:{self.hport}" in line, (line, self.log())


def http(port, path, body=None, token=None, method=None, headers=None, scheme="http", ctx=None):
    """(status, headers, body bytes) of one request (errors included)."""
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(f"{scheme}://127.0.0.1:{port}{path}" if scheme == "http" else f"{scheme}://localhost:{port}{path}",
                                 data=data, method=method or ("POST" if data is not None else "GET"))
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=60, context=ctx) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def err_of(body):
    """The OpenAI-shaped error object of an error response (or {} when it is not one)."""
    try:
        e = json.loads(body)["error"]
        return e if set(e) == {"message", "type", "param", "code"} else {}
    except (ValueError, KeyError, TypeError):
        return {}


srv = Server("--token-file", os.path.join(TMP, "token"), "--max-message-bytes", str(MAX_BYTES))
HP = srv.hport
auth = (("authorization", f"Bearer {TOKEN}"),)
stub = pbg.RerankerStub(grpc.insecure_channel(f"127.0.0.1:{srv.port}"))

# ---------------- health ----------------
st, _, body = http(HP, "/health")
check("GET /health -> 200 without a token", st == 200 and json.loads(body)["status"] == "ok")
st, _, body = http(HP, "/ready")
check("GET /ready -> 200 SERVING (as grpc.health)", st == 200 and json.loads(body)["status"] == "SERVING")
st, _, body = http(HP, "/v1/models", token=TOKEN)
check("GET /v1/models names the served model", st == 200 and json.loads(body)["data"][0]["id"] == MODEL_NAME)

# ---------------- /v1/rerank == gRPC Rerank ----------------
lines = [l for l in open(os.path.join(SRC, "examples", "requests.jsonl")) if l.strip()]
compared = 0
for line in lines:
    msg = pb.RerankRequest()
    json_format.Parse(line, msg)  # protobuf's JSON reader: the line is a RerankRequest in JSON
    want = stub.Rerank(msg, metadata=auth, timeout=60)
    st, hdr, body = http(HP, "/v1/rerank", line, TOKEN)
    got = pb.RerankResponse()
    try:
        json_format.Parse(body, got)  # canonical JSON: protobuf parses the answer back
    except json_format.ParseError as e:
        print("unparsable:", body[:200], e, file=sys.stderr)
    same = st == 200 and got == want
    if not same:
        print("HTTP:", body[:300], "\ngRPC:", json_format.MessageToJson(want)[:300], file=sys.stderr)
    check(f"/v1/rerank {msg.request_id}: the gRPC response, field for field (ids, order, scores)", same and len(want.items) > 0)
    compared += 1
check("every example request compared", compared == len(lines) and compared >= 3)
first = json.loads(lines[0])
st, hdr, body = http(HP, "/v1/rerank", lines[0], TOKEN)
check("response is camelCase canonical JSON (requestId, itemId, semanticScore, storeVersion)",
      st == 200 and hdr["Content-Type"] == "application/json" and {"requestId", "items", "storeVersion", "model"} <= set(json.loads(body))
      and {"itemId", "score", "semanticScore"} <= set(json.loads(body)["items"][0]))

# options that change the answer: top_k, return_scores, an unknown candidate
req = {"request_id": "opt", "context": {"query": "cordless drill"}, "candidates": [{"item_id": i} for i in ("p001", "p003", "p004", "p999", "p005")],
       "options": {"top_k": 2, "return_scores": False}}
want = stub.Rerank(json_format.Parse(json.dumps(req), pb.RerankRequest()), metadata=auth, timeout=60)
st, _, body = http(HP, "/v1/rerank", json.dumps(req), TOKEN)
got = json_format.Parse(body, pb.RerankResponse())
check("top_k 2 + return_scores false + an unknown id: equal to gRPC",
      st == 200 and got == want and len(got.items) == 2 and not got.items[0].HasField("score") and got.item_errors[0].code == pb.UNKNOWN_ITEM)

# curl, as a user would
r = subprocess.run(["curl", "-sS", "-H", f"Authorization: Bearer {TOKEN}", "-H", "Content-Type: application/json", "--data-binary", lines[0],
                    f"http://127.0.0.1:{HP}/v1/rerank"], capture_output=True, text=True, timeout=60)
want = stub.Rerank(json_format.Parse(lines[0], pb.RerankRequest()), metadata=auth, timeout=60)
check("curl POST /v1/rerank equals gRPC", r.returncode == 0 and json_format.Parse(r.stdout, pb.RerankResponse()) == want)

# errors name the field, in OpenAI's error shape, with the gRPC status name as code
cases = [
    ("malformed JSON", "{\"candidates\": [", 400, "not valid JSON"),
    ("unknown field", json.dumps({"candidates": [{"item_id": "p001"}], "optoins": {}}), 400, "optoins"),
    ("wrong type names the field", json.dumps({"candidates": [{"item_id": 5}]}), 400, "candidates[0].item_id"),
    ("validation (the ranker's own check)", '{"context": {"query": "drill"}, "candidates": [{"item_id": "p001", "upstream_score": 1e999}]}', 400, "candidates[0]"),
    ("too many candidates (the server's limit)", json.dumps({"context": {"query": "x"}, "candidates": [{"item_id": f"c{i}"} for i in range(10001)]}, separators=(",", ":")), 400, "10001 candidates"),
    ("empty body", "", 400, "empty"),
]
for name, body_in, want_st, needle in cases:
    st, _, body = http(HP, "/v1/rerank", body_in, TOKEN)
    e = err_of(body)
    ok = st == want_st and needle in e.get("message", "") and e.get("code") == "INVALID_ARGUMENT" and e.get("type") == "invalid_request_error"
    if not ok:
        print(name, st, body[:300], file=sys.stderr)
    check(f"/v1/rerank {name} -> {want_st}", ok)
grpc_code, grpc_msg = code_of(lambda: stub.Rerank(pb.RerankRequest(context=pb.Context(query="drill"), candidates=[pb.Candidate(item_id="p001", upstream_score=float("inf"))]), metadata=auth, timeout=30))
st, _, body = http(HP, "/v1/rerank", '{"context": {"query": "drill"}, "candidates": [{"item_id": "p001", "upstream_score": 1e999}]}', TOKEN)
check("the same validation message as gRPC's INVALID_ARGUMENT", grpc_code == grpc.StatusCode.INVALID_ARGUMENT and err_of(body).get("message") == grpc_msg)

# body limits: a Content-Length over the limit, and a chunked body that grows past it
big = json.dumps({"context": {"query": "x" * (MAX_BYTES + 10)}, "candidates": []})
st, _, body = http(HP, "/v1/rerank", big, TOKEN)
check("body over --max-message-bytes -> 413, refused before it is read", st == 413 and "limit" in err_of(body).get("message", ""))
r = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", f"Authorization: Bearer {TOKEN}", "-H", "Transfer-Encoding: chunked",
                    "--data-binary", "@-", f"http://127.0.0.1:{HP}/v1/rerank"], input=big, capture_output=True, text=True, timeout=60)
check("chunked body growing past the limit -> 413", r.stdout == "413")

# ---------------- auth ----------------
for name, tok in (("no token", None), ("wrong token", "nope")):
    st, hdr, body = http(HP, "/v1/rerank", lines[0], tok)
    check(f"{name} -> 401 + WWW-Authenticate: Bearer", st == 401 and hdr.get("WWW-Authenticate") == "Bearer" and err_of(body).get("code") == "UNAUTHENTICATED")
    st, _, _ = http(HP, "/v1/embeddings", json.dumps({"input": "x", "model": MODEL_NAME}), tok)
    check(f"{name} on /v1/embeddings -> 401", st == 401)
st, _, _ = http(HP, "/v1/rerank", lines[0], headers={"Authorization": f"bearer {TOKEN}"})
check("scheme case-insensitive (bearer)", st == 200)
st, _, _ = http(HP, "/v1/rerank", method="GET", token=TOKEN)
check("GET /v1/rerank -> 405", st == 405)
st, _, body = http(HP, "/nope", token=TOKEN)
check("unknown route -> 404 JSON error", st == 404 and err_of(body).get("code") == "NOT_FOUND")

# ---------------- /v1/embeddings: the openai client, gRPC Embed and `feedrank embed` ----------------
import openai  # noqa: E402  (PyPI; scripts/install-deps.sh)

texts = ["cordless drill with two batteries", "Hello, world!", "ünïcödé tëxt ✓", "a " * 400]
cli = subprocess.run([BIN, "embed", "--model", MODEL], input="\n".join(texts) + "\n", capture_output=True, text=True, check=True)
ref = np.array([json.loads(l) for l in cli.stdout.splitlines()], dtype=np.float32)
emb = stub.Embed(pb.EmbedRequest(texts=texts), metadata=auth, timeout=60)
grpc_vecs = np.array([e.values for e in emb.embeddings], dtype=np.float32)
check("reference vectors (feedrank embed == gRPC Embed)", ref.shape == (4, emb.dimension) and np.array_equal(ref, grpc_vecs))

client = openai.OpenAI(base_url=f"http://127.0.0.1:{HP}/v1", api_key=TOKEN, max_retries=0)
for fmt in ("float", "base64", None):
    kw = {} if fmt is None else {"encoding_format": fmt}
    res = client.embeddings.create(model=MODEL_NAME, input=texts, **kw)
    if fmt == "base64":  # the client hands base64 through as the string: decode little-endian float32
        got = np.array([np.frombuffer(base64.b64decode(d.embedding), dtype="<f4") for d in res.data])
    else:  # "float", or the client's default (it asks for base64 and decodes it itself)
        got = np.array([d.embedding for d in res.data], dtype=np.float32)
    check(f"openai embeddings.create encoding_format={fmt}: vectors equal feedrank embed's exactly",
          got.shape == ref.shape and np.array_equal(got, ref) and [d.index for d in res.data] == [0, 1, 2, 3])
    check(f"  ... model, object and usage (tokens as the Embed RPC counts them)",
          res.model == MODEL_NAME and res.object == "list" and res.data[0].object == "embedding"
          and res.usage.prompt_tokens == sum(e.tokens for e in emb.embeddings) == res.usage.total_tokens)
res = client.embeddings.create(model=MODEL_NAME, input="Hello, world!", encoding_format="float")
check("openai: one string input", len(res.data) == 1 and np.array_equal(np.array(res.data[0].embedding, dtype=np.float32), ref[1]))
res = client.embeddings.create(model=f"sentence-transformers/{MODEL_NAME}", input="Hello, world!", dimensions=int(emb.dimension), encoding_format="float")
check("openai: a hub id ending in the model's name, dimensions equal to the model's", np.array_equal(np.array(res.data[0].embedding, dtype=np.float32), ref[1]))


def openai_error(fn):
    try:
        fn()
        return None
    except openai.APIStatusError as e:
        return e


e = openai_error(lambda: client.embeddings.create(model="text-embedding-3-small", input="x"))
check("openai: another model -> NotFoundError 404 naming the served model", isinstance(e, openai.NotFoundError) and MODEL_NAME in str(e))
e = openai_error(lambda: client.embeddings.create(model=MODEL_NAME, input="x", dimensions=8))
check("openai: dimensions != the model's -> 400 param dimensions", isinstance(e, openai.BadRequestError) and e.body.get("param") == "dimensions")
e = openai_error(lambda: client.embeddings.create(model=MODEL_NAME, input=[[101, 2023]]))
check("openai: token-id input -> 400 param input, says so", isinstance(e, openai.BadRequestError) and e.body.get("param") == "input" and "token-id" in e.body.get("message", ""))
e = openai_error(lambda: openai.OpenAI(base_url=f"http://127.0.0.1:{HP}/v1", api_key="wrong", max_retries=0).embeddings.create(model=MODEL_NAME, input="x"))
check("openai: wrong key -> AuthenticationError 401", isinstance(e, openai.AuthenticationError))
e = openai_error(lambda: client.embeddings.create(model=MODEL_NAME, input=["x"] * 257))
gcode, gmsg = code_of(lambda: stub.Embed(pb.EmbedRequest(texts=["x"] * 257), metadata=auth, timeout=30))
check("openai: more texts than --max-embed-texts -> 400 with the Embed RPC's message", isinstance(e, openai.BadRequestError) and e.body.get("message") == gmsg and gcode == grpc.StatusCode.INVALID_ARGUMENT)
st, _, body = http(HP, "/v1/embeddings", json.dumps({"input": [], "model": MODEL_NAME}), TOKEN)
check("empty input list -> 400 param input", st == 400 and err_of(body).get("param") == "input")
st, _, body = http(HP, "/v1/embeddings", json.dumps({"input": "x"}), TOKEN)
check("model missing -> 400 param model", st == 400 and err_of(body).get("param") == "model")
st, _, body = http(HP, "/v1/embeddings", json.dumps({"input": "x", "model": MODEL_NAME, "encoding_format": "int8"}), TOKEN)
check("encoding_format int8 -> 400 param encoding_format", st == 400 and err_of(body).get("param") == "encoding_format")
st, _, body = http(HP, "/v1/embeddings", json.dumps({"input": "cordless drill", "model": MODEL_NAME, "input_type": "query"}), TOKEN)
qv = np.array(json.loads(body)["data"][0]["embedding"], dtype=np.float32) if st == 200 else None
cliq = subprocess.run([BIN, "embed", "--model", MODEL, "--query"], input="cordless drill\n", capture_output=True, text=True, check=True)
check("input_type query equals feedrank embed --query", qv is not None and np.array_equal(qv, np.array(json.loads(cliq.stdout), dtype=np.float32)))
r = subprocess.run(["curl", "-sS", "-H", f"Authorization: Bearer {TOKEN}", "-H", "Content-Type: application/json",
                    "-d", json.dumps({"input": texts[:2], "model": MODEL_NAME}), f"http://127.0.0.1:{HP}/v1/embeddings"], capture_output=True, text=True, timeout=60)
check("curl POST /v1/embeddings equals feedrank embed", r.returncode == 0 and np.array_equal(np.array([d["embedding"] for d in json.loads(r.stdout)["data"]], dtype=np.float32), ref[:2]))

# metrics: HTTP requests are counted with the RPCs they stand for
m = urllib.request.urlopen(f"http://127.0.0.1:{srv.mport}/metrics", timeout=10).read().decode()
check("metrics count HTTP requests (Embed OK, Rerank UNAUTHENTICATED)",
      'feedrank_requests_total{method="Embed",code="OK"}' in m and 'feedrank_requests_total{method="Rerank",code="UNAUTHENTICATED"}' in m)
check("server exit 0", srv.stop() == 0)

# ---------------- A/B arms: the arm's options are the defaults under the request's ----------------
cfg = os.path.join(TMP, "arms.json")
json.dump({"arms": [{"name": "short", "weight": 1, "options": {"top_k": 2, "mmr_lambda": 0.5}}, {"name": "control", "weight": 1}]}, open(cfg, "w"))
srv = Server("--config", cfg)
astub = pbg.RerankerStub(grpc.insecure_channel(f"127.0.0.1:{srv.port}"))
for name, n, req in (("arm 0's options apply", 2, {"context": {"query": "drill"}, "candidates": [{"item_id": i} for i in ("p001", "p003", "p004", "p005")]}),
                  ("the request's options win over the arm's", 3, {"context": {"query": "drill"}, "candidates": [{"item_id": i} for i in ("p001", "p003", "p004", "p005")],
                                                              "options": {"top_k": 3}})):
    want = astub.Rerank(json_format.Parse(json.dumps(req), pb.RerankRequest()), timeout=60)
    st, _, body = http(srv.hport, "/v1/rerank", json.dumps(req))
    got = json_format.Parse(body, pb.RerankResponse()) if st == 200 else None
    check(f"arms: {name}, equal to gRPC ({len(want.items)} items, arm {want.arm})", got == want and want.arm == "short" and len(got.items) == n)
check("arms server exit 0", srv.stop() == 0)

# ---------------- drain: /ready goes 503 while requests in flight finish ----------------
srv = Server("--compute-threads", "1")
HP = srv.hport
import threading  # noqa: E402

slow = json.dumps({"input": ["word " * 100] * 16, "model": MODEL_NAME})
results = []
th = [threading.Thread(target=lambda: results.append(http(HP, "/v1/embeddings", slow)[0])) for _ in range(2)]
for t in th:
    t.start()
time.sleep(0.3)
srv.p.send_signal(signal.SIGTERM)
time.sleep(0.2)
st_ready = None
try:
    st_ready = http(HP, "/ready")[0]
except OSError:
    st_ready = "refused"
for t in th:
    t.join(120)
check(f"SIGTERM: the requests in flight are answered 200 ({results})", results == [200, 200])
check(f"SIGTERM: no new connections or /ready 503 while draining ({st_ready})", st_ready in (503, "refused"))
check("drained server exit 0", srv.p.wait(timeout=60) == 0)

# ---------------- TLS (the gRPC certificate and key serve HTTPS too) ----------------
def sh(*a):
    subprocess.run(a, check=True, capture_output=True, cwd=TMP)


sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=feedrank-test-ca", "-keyout", "ca.key", "-out", "ca.pem")
sh("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr")
open(os.path.join(TMP, "server.ext"), "w").write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
sh("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "1", "-out", "server.pem", "-extfile", "server.ext")
srv = Server("--tls-cert", f"{TMP}/server.pem", "--tls-key", f"{TMP}/server.key", "--token-file", os.path.join(TMP, "token"))
HP = srv.hport
r = subprocess.run(["curl", "-sS", "--cacert", f"{TMP}/ca.pem", "-H", f"Authorization: Bearer {TOKEN}", "--data-binary", lines[0],
                    f"https://localhost:{HP}/v1/rerank"], capture_output=True, text=True, timeout=60)
tls_stub = pbg.RerankerStub(grpc.secure_channel(f"localhost:{srv.port}", grpc.ssl_channel_credentials(open(f"{TMP}/ca.pem", "rb").read())))
want = tls_stub.Rerank(json_format.Parse(lines[0], pb.RerankRequest()), metadata=auth, timeout=60)
check("HTTPS: curl --cacert /v1/rerank equals gRPC over TLS", r.returncode == 0 and json_format.Parse(r.stdout, pb.RerankResponse()) == want)
r = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{HP}/health"], capture_output=True, text=True, timeout=30)
check("HTTPS: plain HTTP is not answered", r.stdout in ("000", "400"))
r = subprocess.run(["curl", "-sS", "-o", "/dev/null", f"https://localhost:{HP}/health"], capture_output=True, text=True, timeout=30)
check("HTTPS: an unknown CA is refused by the client", r.returncode != 0)
import httpx  # noqa: E402  (an openai dependency)

tls_client = openai.OpenAI(base_url=f"https://localhost:{HP}/v1", api_key=TOKEN, max_retries=0, http_client=httpx.Client(verify=f"{TMP}/ca.pem"))
res = tls_client.embeddings.create(model=MODEL_NAME, input=texts)
check("HTTPS: the openai client's vectors equal feedrank embed's", np.array_equal(np.array([d.embedding for d in res.data], dtype=np.float32), ref))
check("TLS server exit 0", srv.stop() == 0)

# ---------------- start-up errors ----------------
r = subprocess.run([BIN, "serve", "--model", MODEL, "--store", STORE, "--listen", f"127.0.0.1:{h.free_port()}", "--http-listen", "127.0.0.1:99999"],
                   capture_output=True, text=True, timeout=60)
check("--http-listen with a bad port: exit 2 naming the flag", r.returncode == 2 and "--http-listen" in r.stderr)
busy = Server("--http-max-connections", "2", "--http-timeout-s", "2")
import socket  # noqa: E402

idle = [socket.create_connection(("127.0.0.1", busy.hport)) for _ in range(2)]
time.sleep(0.3)
third = socket.create_connection(("127.0.0.1", busy.hport))
third.settimeout(5)
third.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
try:
    over = third.recv(100)
except OSError:
    over = b""
check(f"--http-max-connections 2: a third connection is closed unanswered ({over[:20]})", over == b"")
t0 = time.time()
idle[0].settimeout(10)
try:
    closed = idle[0].recv(10) == b""
except OSError:
    closed = True
check(f"--http-timeout-s 2: an idle connection is closed ({time.time() - t0:.1f} s)", closed and time.time() - t0 < 8)
for c in idle + [third]:
    c.close()
time.sleep(0.5)
check("... and then a new connection is served", http(busy.hport, "/health")[0] == 200)
r = subprocess.run([BIN, "serve", "--model", MODEL, "--store", STORE, "--listen", f"127.0.0.1:{h.free_port()}", "--http-listen", f"127.0.0.1:{busy.hport}"],
                   capture_output=True, text=True, timeout=60)
check("--http-listen on a port in use: refuses to start", r.returncode != 0 and "HTTP" in r.stderr)
busy.stop()
sys.exit(check.summary("test_server_http"))
