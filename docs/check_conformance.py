#!/usr/bin/env python3
"""Checks docs/conformance.md against client-obligations.csv: one row per
statement, in the CSV's order, same ids and aspects; every cited
`file::test` names a test function that exists in that file."""
import csv, os, re, sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
csv_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "..", "shared", "spec", "client-obligations.csv")
files = {
    "client_conformance.rs": "crates/mqtt-core/tests/client_conformance.rs",
    "client_state.rs": "crates/mqtt-core/tests/client_state.rs",
    "client_qos2.rs": "crates/mqtt-core/tests/client_qos2.rs",
    "codec_packets.rs": "crates/mqtt-core/tests/codec_packets.rs",
    "codec_properties.rs": "crates/mqtt-core/tests/codec_properties.rs",
    "topic.rs": "crates/mqtt-core/src/topic.rs",
    "id_pool.rs": "crates/mqtt-core/src/id_pool.rs",
    "inflight.rs": "crates/mqtt-core/src/inflight.rs",
    "broker.rs": "crates/mqtt-driver/tests/broker.rs",
    "fuzz_regressions.rs": "crates/mqtt-core/tests/fuzz_regressions.rs",
}
with open(csv_path, newline="") as f:
    expected = [(r["id"], r["aspect"]) for r in csv.DictReader(f)]
doc = open(os.path.join(root, "docs", "conformance.md")).read()
rows = [l for l in doc.splitlines() if re.match(r"^\| MQTT-", l)]
got = [tuple(c.strip() for c in l.strip("|").split("|")[:2]) for l in rows]
errors = []
if len(rows) != len(expected):
    errors.append(f"{len(rows)} rows, {len(expected)} statements")
for i, (g, e) in enumerate(zip(got, expected)):
    if g != e:
        errors.append(f"row {i + 1}: {g} != {e}")
for l in rows:
    if len(l.strip("|").split("|")) != 4:
        errors.append(f"not 4 columns: {l[:60]}")
cites = re.findall(r"`([a-z0-9_]+\.rs)::([a-z0-9_]+)`", doc)
sources = {k: open(os.path.join(root, v)).read() for k, v in files.items()}
missing = sorted({f"{f}::{t}" for f, t in cites if f not in sources or not re.search(rf"\bfn {t}\s*\(", sources[f])})
errors += [f"no such test: {m}" for m in missing]
print(f"{len(rows)} rows for {len(expected)} statements; {len(cites)} citations of {len(set(cites))} distinct tests")
for e in errors:
    print("ERROR", e)
sys.exit(1 if errors else 0)
