#!/usr/bin/env python3
"""device_load_inputs.py DIR [--repeat N] - the inputs of bench/run_load.sh and bench/run_device.sh:
DIR/catalog.csv (2,000 synthetic product titles) and DIR/requests.jsonl (200 requests: a 16-token
query + 500 candidates, top_k 50). With --repeat N, also DIR/rerank.jsonl: those requests repeated to
N lines with distinct request ids, for `feedrank rerank`. Plain Python."""
import json
import random
import sys


def main(argv):
    d = argv[1]
    repeat = int(argv[argv.index("--repeat") + 1]) if "--repeat" in argv else 0
    r = random.Random(3)
    words = "cordless drill light bulb garden hose kitchen sink paint roller ceramic tile ceiling fan smart thermostat water heater vinyl floor door knob deck screw".split()
    adj = "black white brushed nickel heavy duty outdoor indoor led soft stainless steel compact wireless".split()
    with open(f"{d}/catalog.csv", "w") as f:
        f.write("id,title\n")
        for i in range(2000):
            f.write(f"i{i},{' '.join(r.choice(adj) for _ in range(3))} {' '.join(r.choice(words) for _ in range(4))}\n")
    reqs = []
    for k in range(200):
        q = " ".join(r.choice(words + adj) for _ in range(14))
        c = r.sample(range(2000), 500)
        reqs.append({"request_id": f"L{k}", "context": {"query": q},
                     "candidates": [{"item_id": f"i{x}", "upstream_score": round(r.random(), 3)} for x in c],
                     "options": {"top_k": 50}})
    with open(f"{d}/requests.jsonl", "w") as f:
        for q in reqs:
            f.write(json.dumps(q) + "\n")
    if repeat:
        lines = [json.dumps(q) for q in reqs]
        with open(f"{d}/rerank.jsonl", "w") as f:
            for n in range(repeat):
                f.write(lines[n % len(lines)].replace(f'"request_id": "L{n % len(lines)}"', f'"request_id": "R{n}"', 1) + "\n")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
