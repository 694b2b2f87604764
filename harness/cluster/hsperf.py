"""`jstat -gc PID` without starting a JVM: HotSpot's performance counters, read from the
file the JVM maps them into (/tmp/hsperfdata_USER/PID), which is what jstat itself reads.

Why: jstat is a JVM of its own, about 0.3 s of CPU each time; reading a node's settings
ran one per node beside jcmd and the JMX probe, on a machine of two cores. This reads
the same counters in microseconds and gives jstat's columns, in jstat's units and
rounding (sizes in KB to 0.1, times in seconds to 0.001), so a reading looks the same
whichever way it was taken. A JVM run with -XX:-UsePerfData or -XX:+PerfDisableSharedMem
has no such file: counters() raises FileNotFoundError and the caller runs jstat.

The layout is HotSpot's perfMemory.hpp: a prologue (magic 0xcafec0c0, byte order,
versions, entry offset and count), then entries, each a header, a NUL-ended name and
its data: a long ('J') or a byte vector ('B', a string).
"""

from __future__ import annotations

import getpass
import os
import struct
from pathlib import Path

MAGIC = 0xCAFEC0C0
_PROLOGUE = "iiqii"  # used, overflow, mod_time_stamp, entry_offset, num_entries
# length, name_offset, vector_length, type, flags, units, variability, data_offset
_ENTRY = "iiibbbbi"

# jstat -gc's columns (the JDK's jstat_options): generation 0 holds eden (space 0) and
# the two survivors (spaces 1, 2); generation 1 is the old generation.
_SIZES_KB = {
    "S0C": "sun.gc.generation.0.space.1.capacity",
    "S1C": "sun.gc.generation.0.space.2.capacity",
    "S0U": "sun.gc.generation.0.space.1.used",
    "S1U": "sun.gc.generation.0.space.2.used",
    "EC": "sun.gc.generation.0.space.0.capacity",
    "EU": "sun.gc.generation.0.space.0.used",
    "OC": "sun.gc.generation.1.space.0.capacity",
    "OU": "sun.gc.generation.1.space.0.used",
    "MC": "sun.gc.metaspace.capacity",
    "MU": "sun.gc.metaspace.used",
    "CCSC": "sun.gc.compressedclassspace.capacity",
    "CCSU": "sun.gc.compressedclassspace.used",
}
_COLLECTORS = {"YGC": 0, "FGC": 1, "CGC": 2}


# HotSpot on Linux keeps the file under /tmp whatever java.io.tmpdir says.
PERF_TMP = Path("/tmp")  # noqa: S108 - read only, and only a file of our own (counters)


def perf_file(pid: int, user: str | None = None, tmp: Path = PERF_TMP) -> Path:
    return tmp / f"hsperfdata_{user or getpass.getuser()}" / str(pid)


def counters(path: Path) -> dict[str, int | str]:
    """Every counter in one hsperfdata file, by name. A file another user owns is refused
    (as the JVM refuses such a folder): /tmp is anyone's to write."""
    with path.open("rb") as file:
        if os.fstat(file.fileno()).st_uid != os.getuid():
            raise ValueError(f"{path}: not owned by this user")
        data = file.read()
    if len(data) < 32 or struct.unpack_from(">I", data)[0] != MAGIC:
        raise ValueError(f"{path}: not a HotSpot perf data file")
    order = "<" if data[4] == 1 else ">"
    _, _, _, offset, count = struct.unpack_from(order + _PROLOGUE, data, 8)
    out: dict[str, int | str] = {}
    for _ in range(count):
        length, name_at, vector, kind, _, _, _, data_at = struct.unpack_from(
            order + _ENTRY, data, offset
        )
        name_end = data.index(b"\0", offset + name_at)
        name = data[offset + name_at : name_end].decode("ascii", "replace")
        start = offset + data_at
        if kind == ord("J") and vector == 0:
            out[name] = struct.unpack_from(order + "q", data, start)[0]
        elif kind == ord("B") and vector > 0:
            raw = data[start : start + vector]
            out[name] = raw.split(b"\0", 1)[0].decode("utf-8", "replace")
        offset += length
    return out


def jstat_gc(values: dict[str, int | str]) -> dict[str, float]:
    """jstat -gc's columns from the counters, as parse_jstat_gc gives them (a collector
    the JVM does not have is left out, as jstat's "-" is)."""
    row: dict[str, float] = {}
    for column, name in _SIZES_KB.items():
        if isinstance(value := values.get(name), int):
            row[column] = round(value / 1024, 1)
    ticks = values.get("sun.os.hrt.frequency")
    total = 0.0
    for column, collector in _COLLECTORS.items():
        count = values.get(f"sun.gc.collector.{collector}.invocations")
        spent = values.get(f"sun.gc.collector.{collector}.time")
        if isinstance(count, int) and isinstance(spent, int) and isinstance(ticks, int):
            row[column] = float(count)
            row[f"{column}T"] = round(spent / ticks, 3)
            total += spent / ticks
    if ticks:
        row["GCT"] = round(total, 3)
    row["heap_used_kb"] = sum(row.get(k, 0.0) for k in ("S0U", "S1U", "EU", "OU"))
    return row


def read_jstat_gc(pid: int) -> dict[str, float]:
    """jstat -gc PID's columns, from the JVM's own counters file."""
    return jstat_gc(counters(perf_file(pid)))
