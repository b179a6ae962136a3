#!/usr/bin/python3
"""test_server_reflection.py FEEDRANK MODEL_DIR SOURCE_DIR - gRPC server reflection (grpc.reflection.v1
and v1alpha) against a real reflection client: PyPI's grpcio-reflection (its
ProtoReflectionDescriptorDatabase, the client grpc ships) lists the services and fetches the file
descriptors; the Rerank request and response classes are then built from the fetched descriptors
alone (no generated reranker_pb2 on that path) and Rerank is called with them, its answer compared
with the same call made through stubs generated from proto/. Also: every kind of symbol, the
NOT_FOUND and UNIMPLEMENTED answers, several requests on one stream, malformed and oversized
requests, the bearer token, and a stream that does not read its answers while Rerank keeps working.
Loopback only."""
import collections
import os
import sys
import threading
import time

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

import server_harness as h
from server_harness import code_of

try:
    from grpc_reflection.v1alpha import reflection_pb2 as rpb
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
except ImportError:
    sys.exit("test_server_reflection: grpcio-reflection is missing (scripts/install-deps.sh installs it)")

BIN, MODEL, SRC, TMP = h.args("fr_refl_")
check = h.Checks(verbose=bool(os.environ.get("VERBOSE")))
pb, pbg, hpb, hpbg = h.stubs(SRC, TMP)
STORE = os.path.join(TMP, "ex.store")
h.index_example(BIN, MODEL, SRC, STORE)

SERVICES = {"feedrank.v1.Reranker", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection"}
PATHS = {"v1": "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
         "v1alpha": "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"}


def v1_stubs():
    """Stubs generated from the repository's own grpc/reflection/v1/reflection.proto (copied under
    another folder: the module path grpc/... is shadowed by the grpc package)."""
    from grpc_tools import protoc
    d = os.path.join(TMP, "frrefl")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "reflection_v1.proto"), "w") as f:
        f.write(open(f"{SRC}/proto/grpc/reflection/v1/reflection.proto").read())
    assert protoc.main(["protoc", f"-I{TMP}", f"--python_out={TMP}", f"--grpc_python_out={TMP}", f"{d}/reflection_v1.proto"]) == 0
    from frrefl import reflection_v1_pb2 as v1, reflection_v1_pb2_grpc as v1g
    return v1, v1g


v1pb, v1pbg = v1_stubs()


class PathStub:
    """grpcio-reflection's client speaks v1alpha; v1 has the same messages and field numbers, so the
    same client is pointed at the v1 method path."""

    def __init__(self, channel, path):
        self.ServerReflectionInfo = channel.stream_stream(path, request_serializer=lambda m: m.SerializeToString(),
                                                          response_deserializer=rpb.ServerReflectionResponse.FromString)


def database(channel, version):
    db = ProtoReflectionDescriptorDatabase(channel)
    if version == "v1":
        db._stub = PathStub(channel, PATHS["v1"])
    return db


def message_class(pool, name):
    d = pool.FindMessageTypeByName(name)
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(d)
    return message_factory.MessageFactory(pool).GetPrototype(d)


def ask(channel, version, *requests, metadata=None):
    """Raw stream: the responses to these v1alpha-typed requests, in order."""
    stub = PathStub(channel, PATHS[version])
    return list(stub.ServerReflectionInfo(iter(requests), metadata=metadata, timeout=30))


def reference_request():
    r = pb.RerankRequest(request_id="refl-1", context=pb.Context(query="cordless drill"),
                         options=pb.RerankOptions(top_k=3, normalization=pb.MINMAX))
    for c in ("p001", "p003", "p004", "p006", "nope"):
        r.candidates.add(item_id=c)
    return r


srv = h.Server(BIN, MODEL, STORE, TMP)
ch = grpc.insecure_channel(f"127.0.0.1:{srv.port}")
ref_resp = pbg.RerankerStub(ch).Rerank(reference_request())
repo_file = descriptor_pb2.FileDescriptorProto()
pb.DESCRIPTOR.CopyToProto(repo_file)

for version in ("v1alpha", "v1"):
    db = database(ch, version)
    services = set(db.get_services())
    check(f"{version}: list_services names every served service ({sorted(services)})", services == SERVICES)
    pool = descriptor_pool.DescriptorPool(db)
    svc = pool.FindServiceByName("feedrank.v1.Reranker")
    check(f"{version}: Reranker's methods from the fetched descriptor",
          [m.name for m in svc.methods][:3] == ["Rerank", "Embed", "RerankStream"] and svc.file.name == "feedrank/v1/reranker.proto")
    fetched = descriptor_pb2.FileDescriptorProto()
    svc.file.CopyToProto(fetched)
    check(f"{version}: the fetched file is the repository's reranker.proto (messages, enums, service)",
          [m.name for m in fetched.message_type] == [m.name for m in repo_file.message_type]
          and [e.name for e in fetched.enum_type] == [e.name for e in repo_file.enum_type]
          and [[(f.name, f.number, f.type, f.label) for f in m.field] for m in fetched.message_type]
          == [[(f.name, f.number, f.type, f.label) for f in m.field] for m in repo_file.message_type])
    rerank = svc.FindMethodByName("Rerank")
    Req, Resp = message_class(pool, rerank.input_type.full_name), message_class(pool, rerank.output_type.full_name)
    check(f"{version}: the request class is built from the fetched descriptor, not the generated module",
          Req.DESCRIPTOR.file.pool is pool and Req is not pb.RerankRequest)
    q = Req()
    q.request_id = "refl-1"
    q.context.query = "cordless drill"
    q.options.top_k = 3
    q.options.normalization = pool.FindEnumTypeByName("feedrank.v1.Normalization").values_by_name["MINMAX"].number
    for c in ("p001", "p003", "p004", "p006", "nope"):
        q.candidates.add(item_id=c)
    call = ch.unary_unary("/" + rerank.containing_service.full_name + "/" + rerank.name,
                          request_serializer=Req.SerializeToString, response_deserializer=Resp.FromString)
    got = call(q, timeout=60)
    check(f"{version}: Rerank through the fetched descriptor answers like the generated stubs",
          [(i.item_id, round(i.score, 5)) for i in got.items] == [(i.item_id, round(i.score, 5)) for i in ref_resp.items]
          and len(got.items) == 3 and got.request_id == "refl-1"
          and [(e.item_id, e.code) for e in got.item_errors] == [(e.item_id, e.code) for e in ref_resp.item_errors]
          and got.model == ref_resp.model and got.store_version == ref_resp.store_version)

    # every kind of symbol resolves to its file
    symbols = {
        "feedrank.v1.Reranker": "feedrank/v1/reranker.proto",
        "feedrank.v1.Reranker.RerankStream": "feedrank/v1/reranker.proto",
        "feedrank.v1.RerankRequest": "feedrank/v1/reranker.proto",
        "feedrank.v1.RerankRequest.candidates": "feedrank/v1/reranker.proto",
        "feedrank.v1.Normalization": "feedrank/v1/reranker.proto",
        "feedrank.v1.MINMAX": "feedrank/v1/reranker.proto",
        "grpc.health.v1.Health.Watch": "grpc/health/v1/health.proto",
        "grpc.health.v1.HealthCheckResponse.ServingStatus": "grpc/health/v1/health.proto",
        "grpc.health.v1.HealthCheckResponse.SERVING": "grpc/health/v1/health.proto",
        "grpc.reflection.v1.ServerReflection": "grpc/reflection/v1/reflection.proto",
        "grpc.reflection.v1alpha.ServerReflectionRequest.message_request": "grpc/reflection/v1alpha/reflection.proto",
    }
    reqs = [rpb.ServerReflectionRequest(host="h", file_containing_symbol=s) for s in symbols]
    out = ask(ch, version, *reqs)
    names = []
    for o in out:
        fd = descriptor_pb2.FileDescriptorProto()
        fd.ParseFromString(o.file_descriptor_response.file_descriptor_proto[0])
        names.append(fd.name)
    check(f"{version}: services, methods, messages, fields, enums, enum values, oneofs -> their files, in order on one stream",
          names == list(symbols.values()) and all(o.original_request.file_containing_symbol == s for o, s in zip(out, symbols))
          and all(o.valid_host == "h" for o in out))
    o = ask(ch, version, rpb.ServerReflectionRequest(file_by_filename="grpc/health/v1/health.proto"))[0]
    check(f"{version}: file_by_filename", len(o.file_descriptor_response.file_descriptor_proto) == 1)

    # what is not there
    nf = ask(ch, version, rpb.ServerReflectionRequest(file_containing_symbol="feedrank.v1.Nope"),
             rpb.ServerReflectionRequest(file_by_filename="nope.proto"),
             rpb.ServerReflectionRequest(file_containing_extension=rpb.ExtensionRequest(containing_type="feedrank.v1.RerankRequest", extension_number=100)),
             rpb.ServerReflectionRequest(file_containing_extension=rpb.ExtensionRequest(containing_type="feedrank.v1.Nope", extension_number=100)),
             rpb.ServerReflectionRequest(all_extension_numbers_of_type="feedrank.v1.Nope"),
             rpb.ServerReflectionRequest(all_extension_numbers_of_type="feedrank.v1.RerankRequest"),
             rpb.ServerReflectionRequest(host="only a host"))
    kinds = [o.WhichOneof("message_response") for o in nf]
    check(f"{version}: unknown symbol, file, extension and type -> error_response NOT_FOUND naming it",
          kinds[:5] == ["error_response"] * 5 and all(o.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0] for o in nf[:5])
          and "feedrank.v1.Nope" in nf[0].error_response.error_message and "nope.proto" in nf[1].error_response.error_message
          and "no extension 100" in nf[2].error_response.error_message)
    check(f"{version}: all_extension_numbers_of_type of a known message: none",
          kinds[5] == "all_extension_numbers_response" and nf[5].all_extension_numbers_response.base_type_name == "feedrank.v1.RerankRequest"
          and not nf[5].all_extension_numbers_response.extension_number)
    check(f"{version}: a request of no known kind -> error_response UNIMPLEMENTED",
          kinds[6] == "error_response" and nf[6].error_response.error_code == grpc.StatusCode.UNIMPLEMENTED.value[0])
    try:
        db.FindFileContainingSymbol("feedrank.v1.Nope")
        check(f"{version}: the client sees an unknown symbol as KeyError", False)
    except KeyError:
        check(f"{version}: the client sees an unknown symbol as KeyError", True)

    # malformed and oversized messages end the stream; the server keeps serving
    raw = ch.stream_stream(PATHS[version], request_serializer=lambda b: b, response_deserializer=lambda b: b)
    c, d = code_of(lambda: list(raw(iter([b"\xff\xff\xff\xff"]), timeout=30)))
    check(f"{version}: malformed request -> INVALID_ARGUMENT ({d})", c == grpc.StatusCode.INVALID_ARGUMENT and "protobuf" in d)
    c, d = code_of(lambda: list(raw(iter([rpb.ServerReflectionRequest(file_containing_symbol="x" * 70000).SerializeToString()]), timeout=30)))
    check(f"{version}: oversized request -> INVALID_ARGUMENT ({d})", c == grpc.StatusCode.INVALID_ARGUMENT and "65536" in d)
    c, d = code_of(lambda: list(raw(iter([rpb.ServerReflectionRequest(file_containing_symbol="feedrank.v1.Reranker\0x").SerializeToString()]), timeout=30)))
    check(f"{version}: a name with a NUL byte -> INVALID_ARGUMENT", c == grpc.StatusCode.INVALID_ARGUMENT and "NUL" in d)

# the repository's own v1 proto, through stubs generated from it
v1 = v1pbg.ServerReflectionStub(ch)
out = list(v1.ServerReflectionInfo(iter([v1pb.ServerReflectionRequest(list_services=""),
                                         v1pb.ServerReflectionRequest(file_containing_symbol="feedrank.v1.Reranker.Embed")]), timeout=30))
check("v1 through stubs from proto/grpc/reflection/v1: list + symbol",
      {s.name for s in out[0].list_services_response.service} == SERVICES
      and len(out[1].file_descriptor_response.file_descriptor_proto) == 1)

# one stream that never reads its answers does not hold up anybody else
stop = threading.Event()


def flood():
    while not stop.is_set():
        yield rpb.ServerReflectionRequest(file_by_filename="feedrank/v1/reranker.proto")


rss0 = srv.rss_kb()
hog = PathStub(ch, PATHS["v1alpha"]).ServerReflectionInfo(flood(), timeout=120)  # never read
time.sleep(1.0)
t0 = time.time()
ok = all(pbg.RerankerStub(ch).Rerank(reference_request(), timeout=10).items for _ in range(20))
dt = time.time() - t0
time.sleep(0.5)
grew = srv.rss_kb() - rss0
check(f"an unread reflection stream: Rerank unaffected ({dt:.2f} s for 20) and server memory bounded (+{grew} KiB)",
      ok and dt < (30 if h.sanitized(BIN) else 10) and grew < 64 * 1024)
hog.cancel()
stop.set()
check("still serving after the reflection tests", pbg.RerankerStub(ch).Rerank(reference_request(), timeout=30).items)
ch.close()
check("server exits cleanly", srv.stop() == 0)

# SIGTERM while a client keeps a reflection stream open (idle, as a browsing client does): the
# stream ends UNAVAILABLE and the server exits at once, not after the 30 s drain limit
srv = h.Server(BIN, MODEL, STORE, TMP)
ch = grpc.insecure_channel(f"127.0.0.1:{srv.port}")
idle = threading.Event()


def one_then_wait():
    yield rpb.ServerReflectionRequest(list_services="")
    idle.wait(60)


it = PathStub(ch, PATHS["v1"]).ServerReflectionInfo(one_then_wait(), timeout=60)
first = next(it)
t0 = time.time()
rc = srv.stop()
dt = time.time() - t0
c, d = code_of(lambda: list(it))
idle.set()
check(f"SIGTERM with an idle reflection stream: exits in {dt:.1f} s, the stream ends {c}",
      first.list_services_response.service and rc == 0 and dt < 15 and c == grpc.StatusCode.UNAVAILABLE)
ch.close()

# with a bearer token, reflection asks for it like Reranker does (health does not)
srv = h.Server(BIN, MODEL, STORE, TMP, "--token", "refl-token")
ch = grpc.insecure_channel(f"127.0.0.1:{srv.port}")
c, _ = code_of(lambda: ask(ch, "v1", rpb.ServerReflectionRequest(list_services="")))
check("token: reflection without it -> UNAUTHENTICATED", c == grpc.StatusCode.UNAUTHENTICATED)
out = ask(ch, "v1alpha", rpb.ServerReflectionRequest(list_services=""), metadata=(("authorization", "Bearer refl-token"),))
check("token: reflection with it", {s.name for s in out[0].list_services_response.service} == SERVICES)


class Details(collections.namedtuple("Details", ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression")),
              grpc.ClientCallDetails):
    pass


class Bearer(grpc.StreamStreamClientInterceptor):
    """How a client whose reflection code takes no metadata (grpcio-reflection's) sends the token."""

    def intercept_stream_stream(self, continuation, d, requests):
        md = list(d.metadata or []) + [("authorization", "Bearer refl-token")]
        return continuation(Details(d.method, d.timeout, md, d.credentials, getattr(d, "wait_for_ready", None),
                                    getattr(d, "compression", None)), requests)


authed = grpc.intercept_channel(ch, Bearer())
db = ProtoReflectionDescriptorDatabase(authed)
pool = descriptor_pool.DescriptorPool(db)
check("token: grpcio-reflection through an interceptor adding it",
      pool.FindMessageTypeByName("feedrank.v1.RerankResponse").fields_by_name["items"].number == 2)
ch.close()
check("server exits cleanly (token)", srv.stop() == 0)
sys.exit(check.summary("test_server_reflection"))
