"""test_rerank_json.py BIN MODEL SRC - `feedrank rerank` against Python protobuf's own JSON (issue #19
item 2) and its arms and exit status (item 2/3):

- requests written by `json_format.MessageToJson` (lowerCamelCase and preserved snake_case names,
  enums as names and as numbers, int64 as strings) rank exactly as the snake_case request lines do;
- every response line, with both --json-names, is read by `json_format.Parse` into a
  RerankResponse, and the canonical form uses MessageToJson's own names;
- user_id / arm with --config arms: the arm's options apply, the response names the arm, an arm
  that is not configured fails that line only; the exit status is 1 when no line was ranked or
  when bad lines exceed --max-bad-lines.
Messages come from stubs generated from the repository's proto (grpc_tools), as in the server tests."""
import json
import os
import subprocess
import sys

from google.protobuf import json_format

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server_harness as H  # noqa: E402

BIN, MODEL, SRC, TMP = H.args("fr-rerank-json-")
pb = H.stubs(SRC, TMP)[0]
check = H.Checks()
STORE = os.path.join(TMP, "ex.store")
H.index_example(BIN, MODEL, SRC, STORE)


def rerank(lines, *extra):
    """(exit status, response dicts, error dicts, stderr) of `feedrank rerank` over request lines."""
    req, out, err = (os.path.join(TMP, n) for n in ("req.jsonl", "out.jsonl", "err.jsonl"))
    with open(req, "w") as f:
        f.write("".join(l + "\n" for l in lines))
    p = subprocess.run([BIN, "rerank", "--model", MODEL, "--store", STORE, "--input", req, "--output", out, "--errors", err, *extra],
                       capture_output=True, text=True)
    read = lambda path: [l for l in open(path).read().splitlines()] if os.path.exists(path) else []
    return p.returncode, read(out), [json.loads(l) for l in read(err)], p.stderr


# ---------------- requests: the examples plus every kind of field ----------------
msgs = [json_format.Parse(l, pb.RerankRequest()) for l in open(f"{SRC}/examples/requests.jsonl") if l.strip()]
check("the example request lines are protobuf JSON (json_format.Parse reads them)", len(msgs) == 3)
m = pb.RerankRequest(request_id="every-field", context=pb.Context(query="cordless drill", history=[
    pb.HistoryItem(item_id="p019", weight=2.5, timestamp=1700000000), pb.HistoryItem(item_id="p020", timestamp=1700086400),
    pb.HistoryItem(item_id="nope", weight=1)]))
m.candidates.extend([pb.Candidate(item_id=i, upstream_score=s) for i, s in (("p001", 0.25), ("p003", -1.5), ("p004", 3.0), ("p006", 0.0))])
m.candidates.extend([pb.Candidate(item_id="p005"), pb.Candidate(item_id="fresh", text="Cordless drill driver kit, 2 batteries"), pb.Candidate(item_id="p001")])
m.options.CopyFrom(pb.RerankOptions(semantic_weight=0.75, upstream_weight=0.5, normalization=pb.RANK, query_weight=0.25,
                                    history_half_life=2, history_half_life_seconds=86400.5, mmr_lambda=0.8, mmr_depth=5, top_k=6,
                                    exclude_seen=True, lexical_weight=0.5, log_gate=2, covisitation_norm=0.25, bm25_k1=0.9, bm25_b=0.5,
                                    signal_normalization=[pb.SignalNormalization(signal="upstream", normalization=pb.MINMAX)]))
msgs.append(m)
msgs.append(pb.RerankRequest(request_id="no-scores", context=pb.Context(query="light bulb"),
                             candidates=[pb.Candidate(item_id=i) for i in ("p006", "p007", "p008")],
                             options=pb.RerankOptions(return_scores=False, normalization=pb.NONE)))

forms = {
    "snake": dict(preserving_proto_field_name=True),
    "camel": dict(),
    "camel, enums as numbers": dict(use_integers_for_enums=True),
    "snake, enums as numbers": dict(preserving_proto_field_name=True, use_integers_for_enums=True),
}
runs = {}
for name, kw in forms.items():
    lines = [json.dumps(json.loads(json_format.MessageToJson(x, **kw))) for x in msgs]
    if name == "camel":
        check("MessageToJson wrote lowerCamelCase, int64 as strings, enums by name",
              '"requestId"' in lines[3] and '"timestamp": "1700000000"' in lines[3] and '"normalization": "RANK"' in lines[3])
    rc, out, errs, stderr = rerank(lines)
    check(f"{name}: exit 0, every request ranked ({stderr.strip()[-300:]} {errs})", rc == 0 and len(out) == len(msgs) and not errs)
    runs[name] = out


def ranking(line):
    r = json_format.Parse(line, pb.RerankResponse())  # refuses unknown fields and wrong types
    return r.request_id, [(i.item_id, i.score, i.from_text) for i in r.items], [(e.item_id, e.code) for e in r.item_errors]


ref = [ranking(l) for l in runs["snake"]]
check("the reference ran every request with its options", [len(r[1]) for r in ref] == [4, 5, 5, 6, 3] and ("fresh", True) in [(i, t) for i, _, t in ref[3][1]]
      and sorted(c for _, c in ref[3][2]) == [pb.DUPLICATE_CANDIDATE, pb.UNKNOWN_HISTORY_ITEM])
for name, out in runs.items():
    check(f"{name}: json_format.Parse reads every response and the ranking equals the snake_case request's", [ranking(l) for l in out] == ref)
check("return_scores false: no scores", all(s == 0 for _, s, _ in ref[4][1]) and '"score"' not in runs["snake"][4])

# canonical: the names MessageToJson itself writes for what we wrote
def keys(x):
    return {k: keys(v) for k, v in x.items()} if isinstance(x, dict) else [keys(v) for v in x][:1] if isinstance(x, list) else None


for line in runs["camel"]:
    ours = json.loads(line)
    theirs = json.loads(json_format.MessageToJson(json_format.Parse(line, pb.RerankResponse())))
    check(f"response keys are MessageToJson's ({sorted(ours)})", keys(ours) == keys(theirs))
rc, out, errs, _ = rerank([json.dumps(json.loads(json_format.MessageToJson(x))) for x in msgs], "--json-names", "proto")
check("--json-names proto: snake_case names, also read by json_format.Parse",
      rc == 0 and '"request_id"' in out[0] and '"requestId"' not in out[0] and [ranking(l) for l in out] == ref)

# ---------------- what the mapping allows beyond MessageToJson's own output ----------------
base = {"context": {"query": "cordless drill"}, "candidates": [{"itemId": "p001"}, {"itemId": "p003"}, {"itemId": "p006"}]}
variants = [
    ({"options": {"topK": "2", "semanticWeight": "1.0", "normalization": 3}}, "ok"),
    ({"options": {"top_k": 2, "normalization": "rank", "mmrLambda": None}}, "ok"),
    ({"requestId": None, "options": {"topK": 2, "normalization": "RANK"}}, "ok"),
    ({"options": {"topK": 2, "top_k": 2}}, "options.top_k is given twice"),
    ({"requestId": "a", "request_id": "b"}, "request_id is given twice"),
    ({"options": {"semanticWeight": "NaN"}}, "options.semantic_weight must be a number in"),
    ({"options": {"upstreamWeight": "-Infinity"}}, "options.upstream_weight must be a number in"),
    ({"options": {"normalization": 7}}, "options.normalization must be one of"),
    ({"options": {"topK": 2.5}}, "options.top_k must be a whole number"),
    ({"options": {"excludeSeen": "true"}}, "options.exclude_seen must be true or false"),
    ({"options": {"bm25K1": 0}}, "options.bm25_k1 must be a number in"),
    ({"options": {"bm25B": 1.5}}, "options.bm25_b must be a number in"),
]
lines = [json.dumps({**base, **v}) for v, _ in variants]
rc, out, errs, _ = rerank(lines)
ok_ids = [ranking(l)[1] for l in out]
check("numbers as strings, enums by number or any-case name, null = unset: the same ranking", len(ok_ids) == 3 and ok_ids[0] == ok_ids[1] == ok_ids[2] and len(ok_ids[0]) == 2)
by_line = {e["line"]: e["error"] for e in errs}
for k, (v, want) in enumerate(variants):
    if want != "ok":
        check(f"line {k + 1} {json.dumps(v)} refused: '{by_line.get(k + 1)}'", want in by_line.get(k + 1, ""))
timestamps = [json.dumps({"context": {"history": [{"itemId": "p019", "timestamp": t}, {"itemId": "p020", "timestamp": u}]},
                          "candidates": [{"itemId": "p010"}, {"itemId": "p021"}, {"itemId": "p022"}]}) for t, u in ((1700000000, 1700086400), ("1700000000", "1700086400"))]
rc, out, errs, _ = rerank(timestamps + [json.dumps({"context": {"history": [{"itemId": "p019", "timestamp": "17e8"}]}, "candidates": [{"itemId": "p010"}]})])
check("int64 timestamps as numbers or strings: the same ranking; a non-integer string refused",
      len(out) == 2 and ranking(out[0])[1] == ranking(out[1])[1] and "timestamp must be whole" in errs[0]["error"])

# ---------------- arms (--config), user_id, exit status ----------------
cfg = os.path.join(TMP, "serve.json")
json.dump({"listen": "127.0.0.1:0", "arms": [{"name": "control", "weight": 1}, {"name": "top2", "weight": 1, "options": {"topK": 2, "normalization": "RANK"}}]}, open(cfg, "w"))
reqs = [json.dumps({**base, "requestId": f"u{u}", "userId": f"user-{u}"}) for u in range(40)]
reqs += [json.dumps({**base, "requestId": "named", "arm": "top2"}), json.dumps({**base, "requestId": "named-over", "arm": "top2", "options": {"topK": 3}}),
         json.dumps({**base, "requestId": "none"}), json.dumps({**base, "requestId": "bad-arm", "arm": "nope"})]
rc, out, errs, stderr = rerank(reqs, "--config", cfg)
resp = {r.request_id: r for r in (json_format.Parse(l, pb.RerankResponse()) for l in out)}
arms = {r.arm for k, r in resp.items() if k.startswith("u")}
check(f"user ids split over both arms, each with its options ({arms})", arms == {"control", "top2"} and
      all(len(r.items) == (2 if r.arm == "top2" else 3) for k, r in resp.items() if k.startswith("u")))
rc2, out2, _, _ = rerank(reqs[:40], "--config", cfg)
check("the same user gets the same arm in another run", [json_format.Parse(l, pb.RerankResponse()).arm for l in out2] == [resp[f"u{u}"].arm for u in range(40)])
check("a named arm applies; the request's own options win; no arm = the first",
      resp["named"].arm == "top2" and len(resp["named"].items) == 2 and len(resp["named-over"].items) == 3 and resp["none"].arm == "control")
check(f"an arm not configured fails that line only, exit 0 ({errs})", rc == 0 and len(errs) == 1 and "arm 'nope' is not configured" in errs[0]["error"])
rc, out, errs, _ = rerank([reqs[-1]])
check("without --config only 'default' exists", rc == 1 and "arm 'nope' is not configured" in errs[0]["error"])
rc, out, errs, stderr = rerank(["not json", json.dumps({"candidates": [{"itemId": "p001"}]})])
check(f"no line ranked: exit 1 ({stderr.strip()[-200:]})", rc == 1 and len(errs) == 2 and "no request line was ranked" in stderr)
rc, out, errs, stderr = rerank([])
check("an empty input is not a failure", rc == 0 and not out and not errs)
mixed = [reqs[0], "not json", reqs[1], "{}", reqs[2]]
rc, out, errs, _ = rerank(mixed)
check("bad lines without a limit: exit 0", rc == 0 and len(out) == 3 and len(errs) == 2)
rc, out, errs, _ = rerank(mixed, "--max-bad-lines", "2")
check("bad lines within --max-bad-lines: exit 0", rc == 0 and len(out) == 3)
rc, out, errs, stderr = rerank(mixed, "--max-bad-lines", "1", "--batch", "1")
check(f"bad lines beyond --max-bad-lines: exit 1, stopped there ({stderr.strip()[-200:]})", rc == 1 and "more than 1 bad lines" in stderr and len(errs) == 2 and len(out) == 2)
rc, _, _, stderr = rerank(mixed, "--max-bad-lines", "-1")
check("--max-bad-lines -1: usage error", rc == 2)
sys.exit(check.summary("test_rerank_json"))
