#!/usr/bin/env python3
"""Where a GPU run's first steps went: compiling or tuning, per kernel and autotune table.

Reads the kernel cache database of a `gpu-cache` build (`~/.cache/mixtune/kernels/default.db`,
or `$MIXTUNE_KERNEL_CACHE/default.db`; copy the `-wal` file beside it too). CubeCL records
there every compilation and every autotune trial with its duration (`records/v1/*`), CBOR-
encoded. Standard library only (sqlite3 plus the small CBOR reader below: the bench machines
have no `cbor2`), so it runs on a bare device machine as well.

    python3 scripts/bench/kernel_records.py ~/.cache/mixtune/kernels/default.db
"""
import collections
import sqlite3
import struct
import sys


def decode(data, i=0):
    """One CBOR item of `data` at `i`: (value, next index). Byte strings come back as hex."""
    head = data[i]
    major, info = head >> 5, head & 31
    i += 1
    if major == 7:
        simple = {20: False, 21: True, 22: None}
        if info in simple:
            return simple[info], i
        size, fmt = {25: (2, ">e"), 26: (4, ">f"), 27: (8, ">d")}[info]
        return struct.unpack(fmt, data[i:i + size])[0], i + size
    if info < 24:
        arg = info
    else:
        size = {24: 1, 25: 2, 26: 4, 27: 8}[info]
        arg, i = int.from_bytes(data[i:i + size], "big"), i + size
    if major == 0:
        return arg, i
    if major == 1:
        return -1 - arg, i
    if major == 2:
        return data[i:i + arg].hex(), i + arg
    if major == 3:
        return data[i:i + arg].decode("utf8", "replace"), i + arg
    if major == 4:
        items = []
        for _ in range(arg):
            item, i = decode(data, i)
            items.append(item)
        return items, i
    if major == 5:
        entries = {}
        for _ in range(arg):
            key, i = decode(data, i)
            entries[str(key)], i = decode(data, i)
        return entries, i
    if major == 6:  # a tag: the tagged item
        return decode(data, i)
    raise ValueError(f"CBOR major type {major}")


def seconds(duration):
    return duration["secs"] + duration["nanos"] / 1e9 if isinstance(duration, dict) else 0.0


def records(db, namespace):
    query = "select value from entries where namespace = ?"
    for (value,) in db.execute(query, (namespace,)):
        yield decode(bytes(value))[0]


def main(path):
    db = sqlite3.connect(path)
    compiled = collections.defaultdict(lambda: [0, 0.0])
    sessions = collections.defaultdict(float)
    for record in records(db, "records/v1/compilation"):
        body = record["record"]
        name = body["kernel"].split("::")[-1].rstrip(">")[:60]
        compiled[name][0] += 1
        compiled[name][1] += seconds(body.get("duration"))
        stamp = record["stamp"]
        sessions[stamp["session"]] = max(sessions[stamp["session"]], seconds(stamp["offset"]))
    tuned = collections.defaultdict(lambda: [0, 0, 0.0])
    for record in records(db, "records/v1/autotune"):
        body = record["record"]
        table = body["table"].split("/")[-1]
        tuned[table][0] += 1
        tuned[table][1] += len(body["trials"])
        tuned[table][2] += sum(seconds(t["wall"]) for t in body["trials"])
    total_compile = sum(s for _, s in compiled.values())
    total_tune = sum(w for _, _, w in tuned.values())
    print(f"{len(sessions)} session(s) that compiled or tuned; the last record of each at "
          + ", ".join(f"{s:.1f} s" for s in sessions.values()))
    print(f"compiling: {sum(n for n, _ in compiled.values())} kernels, {total_compile:.1f} s")
    for name, (count, secs) in sorted(compiled.items(), key=lambda kv: -kv[1][1])[:12]:
        print(f"  {name:<60} {count:4d} {secs:8.1f} s")
    print(f"tuning: {sum(k for k, _, _ in tuned.values())} keys, {total_tune:.1f} s "
          "(trial walls: they may include what the driver compiles at a candidate's first launch)")
    for table, (keys, trials, wall) in sorted(tuned.items(), key=lambda kv: -kv[1][2]):
        print(f"  {table:<60} keys {keys:4d} trials {trials:5d} {wall:8.1f} s")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
