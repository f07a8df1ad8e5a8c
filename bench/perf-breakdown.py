#!/usr/bin/env python3
"""Where a publish's time goes on the JS thread, from a perf profile.

    LOOP_N=4000000 perf record -F 9000 -g -o pub.data \
        node --perf-basic-prof --import=tsx bench/publish-loop.ts
    perf script -i pub.data -F pid,tid,ip,sym | python3 bench/perf-breakdown.py

Counts the main thread's samples whose stack is inside a `publish` call
(through the addon's callback) and files each under the first category
a frame matches, walking from the leaf towards the callback. Prints the share of the publish samples.
"""
import sys

# (category, substrings of a frame's symbol). Per sample, the frame nearest
# the leaf that matches any category decides.
CATEGORIES = [
    ("wake the I/O thread (eventfd write)", ["Shared::kick", "Waker::wake", "eventfd"]),
    ("lock the connection", ["Mutex>::lock", "lock_contended", "futex", "MutexGuard", "ConnGuard"]),
    ("handle table lookup", ["Driver::conn", "Table::get", "hash_one"]),
    ("topic: JS string to UTF-8", ["WriteUtf8", "napi_get_value_string_utf8", "from_utf8", "with_utf8", "String::Utf8Length"]),
    ("payload: Buffer view", ["typedarray", "TypedArray", "ArrayBuffer", "napi_get_buffer_info"]),
    ("other arguments (numbers, bool)", ["napi_get_value_int", "napi_get_value_bool", "napi_get_value_double", "FromNapiValue"]),
    ("core: validate topic", ["validate_name", "topic::"]),
    ("core: encode and queue", ["mqtt_core", "OutboundQueue", "codec", "memmove", "memcpy"]),
    ("driver: publish bookkeeping", ["mqtt_driver::Driver::publish", "mqtt_driver"]),
    ("N-API call and return", ["napi_", "v8impl", "CallbackWrapper", "CallApiCallback", "FunctionCallback", "napi::", "publish_c_callback", "mqtt_node"]),
]


def samples(lines):
    head, frames = None, []
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            if head is not None:
                yield head, frames
            head, frames = None, []
        elif not line.startswith("\t") and not line.startswith(" "):
            head = line.split()[0]
        else:
            parts = line.strip().split(None, 1)
            frames.append(parts[1] if len(parts) > 1 else "")
    if head is not None:
        yield head, frames


def main():
    counts = {}
    leaves = {}
    total = 0
    main_thread = 0
    for head, frames in samples(sys.stdin):
        pid, tid = head.split("/")
        if pid != tid:
            continue
        main_thread += 1
        if not any("publish_c_callback" in f for f in frames):
            continue
        total += 1
        inside = frames[: next(i for i, f in enumerate(frames) if "publish_c_callback" in f) + 1]
        name = next((c for f in inside for c, keys in CATEGORIES if any(k in f for k in keys)), "other")
        counts[name] = counts.get(name, 0) + 1
        leaves.setdefault(name, {}).setdefault(inside[0], 0)
        leaves[name][inside[0]] += 1
    print(f"main-thread samples {main_thread}, inside publish {total} ({100 * total / max(1, main_thread):.0f} %)")
    for name, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"{100 * n / total:5.1f} %  {name}")
        if "-v" in sys.argv:
            for leaf, k in sorted(leaves[name].items(), key=lambda kv: -kv[1])[:4]:
                print(f"           {100 * k / total:5.1f} %  {leaf[:100]}")


main()
