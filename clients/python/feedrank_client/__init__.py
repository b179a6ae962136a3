"""feedrank_client - a small typed client for the feedrank re-ranking service (gRPC).

    from feedrank_client import Client
    with Client("127.0.0.1:50051", token="...") as fr:
        res = fr.rerank(query="cordless drill", candidates=["p001", "p003", "p004"], options={"top_k": 2})
        for item in res.items:
            print(item.item_id, item.score)

Errors come as FeedrankError, whose `code` is the gRPC status name ("INVALID_ARGUMENT",
"UNAUTHENTICATED", ...). The raw stubs are in feedrank_client.pb (messages) and
feedrank_client.pb_grpc (RerankerStub), generated from the service's proto when the package was built.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import grpc

from ._gen import reranker_pb2 as pb
from ._gen import reranker_pb2_grpc as pb_grpc

__all__ = ["Client", "FeedrankError", "RankedItem", "ItemError", "RerankResult", "EmbedResult", "pb", "pb_grpc"]
__version__ = "0.1.0"


class FeedrankError(Exception):
    """A failed call: `code` is the gRPC status name (e.g. "INVALID_ARGUMENT"), `details` the server's message."""

    def __init__(self, code: str, details: str):
        super().__init__(f"{code}: {details}")
        self.code = code
        self.details = details


@dataclass(frozen=True)
class RankedItem:
    item_id: str
    score: Optional[float]           # None when the request asked for return_scores=False
    semantic_score: Optional[float]
    upstream_score: Optional[float]  # as given in the request, when it was
    from_text: bool                  # ranked by the candidate's text (the store does not know the id)


@dataclass(frozen=True)
class ItemError:
    item_id: str
    index: int   # position in candidates (or in history for UNKNOWN_HISTORY_ITEM)
    code: str    # UNKNOWN_ITEM, DUPLICATE_CANDIDATE, UNKNOWN_HISTORY_ITEM


@dataclass(frozen=True)
class RerankResult:
    request_id: str
    items: List[RankedItem]          # best first
    item_errors: List[ItemError]
    model: str
    store_version: str
    arm: str
    excluded_seen: int
    query_truncated: bool
    error: Optional[str] = None      # streams only: this request failed (the stream goes on)
    message: Any = field(default=None, repr=False, compare=False)  # the RerankResponse itself


@dataclass(frozen=True)
class EmbedResult:
    vectors: List[List[float]]       # one per text, in order
    tokens: List[int]                # token ids fed to the model per text ([CLS], [SEP] included)
    truncated: List[bool]
    model: str
    dimension: int


History = Union[str, Tuple[str, float], Tuple[str, float, int], Mapping[str, Any]]
Candidate = Union[str, Tuple[str, float], Mapping[str, Any]]

_KINDS = {"plain": pb.PLAIN, "query": pb.QUERY, "document": pb.DOCUMENT}


def _history(h: History) -> Any:
    if isinstance(h, str):
        return pb.HistoryItem(item_id=h)
    if isinstance(h, Mapping):
        return pb.HistoryItem(**h)
    if len(h) == 2:
        return pb.HistoryItem(item_id=h[0], weight=h[1])
    return pb.HistoryItem(item_id=h[0], weight=h[1], timestamp=h[2])


def _candidate(c: Candidate) -> Any:
    if isinstance(c, str):
        return pb.Candidate(item_id=c)
    if isinstance(c, Mapping):
        return pb.Candidate(**c)
    return pb.Candidate(item_id=c[0], upstream_score=c[1])


def _options(o: Optional[Mapping[str, Any]]) -> Any:
    if not o:
        return None
    o = dict(o)
    signal = o.pop("signal_normalization", None) or []
    msg = pb.RerankOptions(**o)  # a ValueError names an unknown option; enums by name ("RANK") or number
    for s in signal:
        msg.signal_normalization.add(**s)
    return msg


def _result(r: Any) -> RerankResult:
    def opt(m, name):
        return getattr(m, name) if m.HasField(name) else None

    return RerankResult(
        request_id=r.request_id,
        items=[RankedItem(i.item_id, opt(i, "score"), opt(i, "semantic_score"), opt(i, "upstream_score"), i.from_text) for i in r.items],
        item_errors=[ItemError(e.item_id, e.index, pb.ItemErrorCode.Name(e.code)) for e in r.item_errors],
        model=r.model, store_version=r.store_version, arm=r.arm, excluded_seen=r.excluded_seen,
        query_truncated=r.query_truncated, error=r.error if r.HasField("error") else None, message=r)


def _health_request(service: str) -> bytes:
    """grpc.health.v1.HealthCheckRequest{service} by hand: one length-delimited field (no stub, so
    no clash with grpcio-health-checking's copy of the same messages)."""
    b = service.encode()
    if not b:
        return b""
    n, varint = len(b), bytearray()
    while True:
        varint.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            break
    return b"\x0a" + bytes(varint) + b


_HEALTH_NAMES = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}


def _health_status(b: bytes) -> str:
    """HealthCheckResponse.status (field 1, a varint) by name."""
    status = 0
    if b[:1] == b"\x08":
        shift, status = 0, 0
        for byte in b[1:]:
            status |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
    return _HEALTH_NAMES.get(status, str(status))


class Client:
    """A connection to `feedrank serve`.

    addr: "host:port". token: the bearer token (sent as `authorization: Bearer TOKEN`). tls: False
    (plain), True (the system's CAs) or a CA certificate (PEM bytes, or a path to a PEM file).
    timeout: seconds per call (None: no deadline). channel_options: extra grpc channel arguments."""

    def __init__(self, addr: str, token: Optional[str] = None, tls: Union[bool, bytes, str] = False,
                 timeout: Optional[float] = 30.0, channel_options: Sequence[Tuple[str, Any]] = ()):
        opts = [("grpc.max_receive_message_length", 64 << 20), *channel_options]
        if tls is False or tls is None:
            self._channel = grpc.insecure_channel(addr, options=opts)
        else:
            roots = None
            if isinstance(tls, str):
                with open(tls, "rb") as f:
                    roots = f.read()
            elif isinstance(tls, (bytes, bytearray)):
                roots = bytes(tls)
            self._channel = grpc.secure_channel(addr, grpc.ssl_channel_credentials(roots), options=opts)
        self._stub = pb_grpc.RerankerStub(self._channel)
        self._health = self._channel.unary_unary("/grpc.health.v1.Health/Check", request_serializer=None, response_deserializer=None)
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self.timeout = timeout

    # -- calls --

    def _call(self, fn, *args, timeout=None, **kw):
        try:
            return fn(*args, metadata=self._metadata, timeout=self.timeout if timeout is None else timeout, **kw)
        except grpc.RpcError as e:
            raise FeedrankError(e.code().name, e.details() or "") from None

    @staticmethod
    def request(query: Optional[str] = None, history: Iterable[History] = (), candidates: Iterable[Candidate] = (),
                options: Optional[Mapping[str, Any]] = None, request_id: str = "", user_id: Optional[str] = None,
                arm: Optional[str] = None) -> Any:
        """The RerankRequest message rerank() sends (for rerank_stream, or to inspect)."""
        msg = pb.RerankRequest(request_id=request_id, candidates=[_candidate(c) for c in candidates])
        hist = [_history(h) for h in history]
        if query is not None or hist:
            msg.context.CopyFrom(pb.Context(query=query, history=hist) if query is not None else pb.Context(history=hist))
        o = _options(options)
        if o is not None:
            msg.options.CopyFrom(o)
        if user_id is not None:
            msg.user_id = user_id
        if arm is not None:
            msg.arm = arm
        return msg

    def rerank(self, query: Optional[str] = None, history: Iterable[History] = (), candidates: Iterable[Candidate] = (),
               options: Optional[Mapping[str, Any]] = None, request_id: str = "", user_id: Optional[str] = None,
               arm: Optional[str] = None, timeout: Optional[float] = None) -> RerankResult:
        """Re-ranks candidates (item ids, (id, upstream_score) pairs or Candidate fields as a dict)
        for a query and/or a history (item ids, (id, weight[, timestamp]) or HistoryItem fields).
        options: RerankOptions fields by name, e.g. {"top_k": 10, "mmr_lambda": 0.7, "normalization": "RANK"}."""
        req = self.request(query, history, candidates, options, request_id, user_id, arm)
        return _result(self._call(self._stub.Rerank, req, timeout=timeout))

    def rerank_stream(self, requests: Iterable[Union[Mapping[str, Any], Any]], timeout: Optional[float] = None) -> Iterator[RerankResult]:
        """RerankStream: one result per request, in order. Each request is a dict of rerank()'s
        arguments or a RerankRequest. A request that fails has `error` set; the stream goes on."""
        msgs = (r if isinstance(r, pb.RerankRequest) else self.request(**r) for r in requests)
        try:
            for r in self._stub.RerankStream(msgs, metadata=self._metadata, timeout=self.timeout if timeout is None else timeout):
                yield _result(r)
        except grpc.RpcError as e:
            raise FeedrankError(e.code().name, e.details() or "") from None

    def embed(self, texts: Union[str, Sequence[str]], kind: str = "plain", timeout: Optional[float] = None) -> EmbedResult:
        """Embeds texts ("plain", or "query"/"document" for the model's prefixes)."""
        if isinstance(texts, str):
            texts = [texts]
        if kind not in _KINDS:
            raise ValueError(f"kind must be one of {sorted(_KINDS)}, not {kind!r}")
        r = self._call(self._stub.Embed, pb.EmbedRequest(texts=list(texts), kind=_KINDS[kind]), timeout=timeout)
        return EmbedResult([list(e.values) for e in r.embeddings], [e.tokens for e in r.embeddings],
                           [e.truncated for e in r.embeddings], r.model, r.dimension)

    def health(self, service: str = "", timeout: Optional[float] = None) -> str:
        """grpc.health.v1 Check: "SERVING" or "NOT_SERVING" (no token needed)."""
        try:
            return _health_status(self._health(_health_request(service), timeout=self.timeout if timeout is None else timeout))
        except grpc.RpcError as e:
            raise FeedrankError(e.code().name, e.details() or "") from None

    # -- lifetime --

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
