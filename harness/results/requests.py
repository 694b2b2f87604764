"""A run's requests as columns: the one reader and writer of requests.parquet (and of the
requests.csv.gz older runs have), and the vectorised arithmetic the report, compare, the
matrix and profiles pages and the judgement share.

A million requests as Python objects cost seconds and hundreds of MB before anything is
computed; as numpy columns they cost tens of MB, and binning per second, percentiles and
per-node counts become a few sorts and bincounts. Parquet keeps the columns typed and
compressed (zstd, session/node/outcome dictionary-encoded) in row groups, so a reader can
take only the columns it needs, or one row group at a time.

The CSV of older runs is read with pyarrow's vectorised CSV reader into the same columns,
so every reader sees one shape whatever the file.
"""

from __future__ import annotations

import csv
import gzip
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from harness.results import outcomes as o

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from harness.results.run_folder import Record

PARQUET_FILE = "requests.parquet"
CSV_FILE = "requests.csv.gz"
FIELDS = ("t_s", "user", "session", "node", "counter", "outcome", "latency_ms", "status")
# Written only by open-model runs (a fixed arrival rate) and the parallel scenario.
OPEN_MODEL_FIELDS = ("intended_s", "corrected_ms")
PARALLEL_FIELDS = ("lost_updates",)
OPTIONAL_FIELDS = (*OPEN_MODEL_FIELDS, *PARALLEL_FIELDS)
# A row group is what a streaming reader holds at once (two: one read ahead), and compare
# reads its two runs side by side: small enough for that, large enough that per-group
# overhead stays negligible. 1M-row compare: 1M-row groups 2.19 s and 181 MB read one run
# after the other; 128k-row groups side by side 1.72-1.80 s and 155-160 MB (256k: 200 MB).
ROW_GROUP_ROWS = 1 << 17
_TEXT = pa.dictionary(pa.int32(), pa.string())
TYPES: dict[str, pa.DataType] = {
    "t_s": pa.float64(),
    "user": pa.int64(),
    "session": _TEXT,
    "node": _TEXT,
    "counter": pa.int64(),
    "outcome": _TEXT,
    "latency_ms": pa.float64(),
    "status": pa.int32(),
    "intended_s": pa.float64(),
    "corrected_ms": pa.float64(),
    "lost_updates": pa.int64(),
}
# Empty cells in the CSV are missing values only here; elsewhere they are errors.
NULLABLE = frozenset({"counter", *OPTIONAL_FIELDS})
GZIP_MAGIC = b"\x1f\x8b"


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Codes:
    """A dictionary-encoded column: codes index names."""

    codes: NDArray[np.int32]
    names: tuple[str, ...]

    def mask(self, wanted: Iterable[str]) -> NDArray[np.bool_]:
        """Which rows hold one of the wanted names."""
        hits = [i for i, name in enumerate(self.names) if name in set(wanted)]
        return np.isin(self.codes, np.asarray(hits, dtype=np.int32))

    def values(self) -> list[str]:
        names = self.names
        return [names[c] for c in self.codes.tolist()]


class Requests:
    """The requests of one run, in time order, as numpy columns read on first use.

    Built from a pyarrow Table holding some or all of TYPES' columns; a column that was not
    read raises KeyError naming it."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self._cache: dict[str, Any] = {}

    def __len__(self) -> int:
        return int(self.table.num_rows)

    def has(self, name: str) -> bool:
        return name in self.table.column_names

    def _numbers(self, name: str, dtype: type[np.generic]) -> Any:
        if name not in self._cache:
            column = self.table.column(name)
            if column.null_count:
                raise ValueError(f"column {name} has missing values")
            self._cache[name] = column.to_numpy().astype(dtype, copy=False)
        return self._cache[name]

    def _codes(self, name: str) -> Codes:
        if name not in self._cache:
            self._cache[name] = _codes_of(self.table.column(name))
        return cast(Codes, self._cache[name])

    def _optional(self, name: str) -> NDArray[np.float64] | None:
        """A nullable column as floats with NaN for missing; None if the run has none."""
        if not self.has(name):
            return None
        if name not in self._cache:
            column = self.table.column(name).cast(pa.float64())
            self._cache[name] = column.fill_null(math.nan).to_numpy()
        return cast("NDArray[np.float64]", self._cache[name])

    @property
    def t_s(self) -> NDArray[np.float64]:
        return cast("NDArray[np.float64]", self._numbers("t_s", np.float64))

    @property
    def user(self) -> NDArray[np.int64]:
        return cast("NDArray[np.int64]", self._numbers("user", np.int64))

    @property
    def latency_ms(self) -> NDArray[np.float64]:
        return cast("NDArray[np.float64]", self._numbers("latency_ms", np.float64))

    @property
    def status(self) -> NDArray[np.int64]:
        return cast("NDArray[np.int64]", self._numbers("status", np.int64))

    @property
    def outcome(self) -> Codes:
        return self._codes("outcome")

    @property
    def node(self) -> Codes:
        return self._codes("node")

    @property
    def session(self) -> Codes:
        return self._codes("session")

    @property
    def corrected_ms(self) -> NDArray[np.float64] | None:
        return self._optional("corrected_ms")

    @property
    def lost_updates(self) -> NDArray[np.float64] | None:
        return self._optional("lost_updates")

    def is_error(self) -> NDArray[np.bool_]:
        if "error" not in self._cache:
            self._cache["error"] = self.outcome.mask([o.ERROR])
        return cast("NDArray[np.bool_]", self._cache["error"])

    def is_failed(self) -> NDArray[np.bool_]:
        return self.outcome.mask(o.FAILED)

    def span_s(self) -> float:
        """From the earliest request to the latest (zero for fewer than two), in whatever
        order the rows were written."""
        t = self.t_s
        return float(t.max() - t.min()) if len(t) > 1 else 0.0

    def release(self, *names: str) -> None:
        """Forget these columns: a reader done with a column gives its memory back
        before the next stage needs more. Reading one afterwards raises KeyError."""
        present = [name for name in names if name in self.table.column_names]
        self.table = self.table.drop_columns(present)
        for name in present:
            self._cache.pop(name, None)

    def with_latency(self, latency_ms: NDArray[np.float64]) -> Requests:
        """The same requests judged by another latency (the corrected one, say)."""
        table = self.table.set_column(
            self.table.column_names.index("latency_ms"), "latency_ms", pa.array(latency_ms)
        )
        return Requests(table)

    def to_records(self) -> list[Record]:
        """The rows as Records, for code that still walks them one by one."""
        from harness.results.run_folder import Record  # noqa: PLC0415 - results imports this module

        columns = [_python_column(self.table, name) for name in (*FIELDS, *OPTIONAL_FIELDS)]
        t, user, session, node, counter, outcome, latency, status, intended, corr, lost = columns
        return [
            Record(*row)
            for row in zip(
                t, user, session, node, counter, outcome, latency, status, corr, intended, lost,
                strict=True,
            )
        ]  # fmt: skip


def _python_column(table: pa.Table, name: str) -> list[Any]:
    if name not in table.column_names:
        return [None] * table.num_rows
    column = table.column(name)
    if pa.types.is_dictionary(column.type):
        codes = _codes_of(column)
        return codes.values()
    return cast(list[Any], column.to_pylist())


def _codes_of(column: pa.ChunkedArray) -> Codes:
    """Codes and names of a dictionary column, one dictionary across its chunks."""
    if not pa.types.is_dictionary(column.type):
        column = column.dictionary_encode()
    column = column.unify_dictionaries()
    chunks = [chunk for chunk in column.chunks if len(chunk)]
    if not chunks:
        return Codes(np.zeros(0, dtype=np.int32), ())
    names = tuple(str(name) for name in chunks[0].dictionary.to_pylist())
    codes = [_filled(chunk.indices).to_numpy().astype(np.int32, copy=False) for chunk in chunks]
    # One chunk (a run of up to a row group): its indices as they are, not a copy.
    return Codes(codes[0] if len(codes) == 1 else np.concatenate(codes), names)


def _filled(indices: pa.Array) -> pa.Array:
    # fill_null copies the column even when nothing is missing, as is usual.
    return indices.fill_null(0) if indices.null_count else indices


def empty_table(columns: Sequence[str] = FIELDS) -> pa.Table:
    return pa.table({name: pa.array([], type=TYPES[name]) for name in columns})


def from_records(records: Sequence[Record]) -> Requests:
    """Records as columns; the optional ones only when some record has them, as written."""
    columns: dict[str, Any] = {
        "t_s": [r.t_s for r in records],
        "user": [r.user for r in records],
        "session": [r.session for r in records],
        "node": [r.node for r in records],
        "counter": [r.counter for r in records],
        "outcome": [r.outcome for r in records],
        "latency_ms": [r.latency_ms for r in records],
        "status": [r.status for r in records],
    }
    if any(r.corrected_ms is not None for r in records):
        columns["intended_s"] = [r.intended_s for r in records]
        columns["corrected_ms"] = [r.corrected_ms for r in records]
    if any(r.lost_updates is not None for r in records):
        columns["lost_updates"] = [r.lost_updates for r in records]
    return Requests(_typed(columns))


def _typed(columns: dict[str, Any]) -> pa.Table:
    arrays = {}
    for name, values in columns.items():
        kind = TYPES[name]
        arrays[name] = (
            pa.array(values, type=pa.string()).dictionary_encode()
            if pa.types.is_dictionary(kind)
            else pa.array(values, type=kind)
        )
    return pa.table(arrays)


def as_requests(records: Requests | Sequence[Record]) -> Requests:
    return records if isinstance(records, Requests) else from_records(records)


def sorted_by_time(requests: Requests) -> Requests:
    """In time order (stable: rows of one time keep their written order)."""
    t = requests.t_s
    if len(t) < 2 or bool(np.all(t[1:] >= t[:-1])):
        return requests
    order = np.argsort(t, kind="stable")
    return Requests(requests.table.take(pa.array(order)))


# --------------------------------------------------------------------------- writing


def write_parquet(path: Path, requests: Requests) -> Path:
    """requests.parquet: zstd, text columns dictionary-encoded, in row groups."""
    table = requests.table
    pq.write_table(
        table,
        path,
        compression="zstd",
        use_dictionary=[n for n in ("session", "node", "outcome") if n in table.column_names],
        row_group_size=ROW_GROUP_ROWS,
    )
    return path


class ParquetRequestsWriter:
    """Writes a requests.parquet one batch at a time (a converter never holds all rows)."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self._writer = pq.ParquetWriter(
            path,
            schema,
            compression="zstd",
            use_dictionary=[n for n in ("session", "node", "outcome") if n in schema.names],
        )

    def write(self, table: pa.Table) -> None:
        self._writer.write_table(table, row_group_size=ROW_GROUP_ROWS)

    def close(self) -> None:
        self._writer.close()


def write_csv(path: Path, requests: Requests | pa.Table | Iterable[pa.Table]) -> Path:
    """requests.csv.gz as older runs have it: the header, then the columns in FIELDS order
    and the optional ones present; empty cells for missing values. Written a row group at
    a time, vectorised; never over an existing file."""
    tables = _tables(requests)
    with path.open("xb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
        header_written = False
        for table in tables:
            ordered = table.select(
                [n for n in (*FIELDS, *OPTIONAL_FIELDS) if n in table.schema.names]
            )
            if not header_written:
                out.write((",".join(ordered.column_names) + "\n").encode())
                header_written = True
            if ordered.num_rows:
                out.write(_csv_bytes(ordered))
        if not header_written:
            out.write((",".join(FIELDS) + "\n").encode())
    return path


def _tables(source: Requests | pa.Table | Iterable[pa.Table]) -> Iterable[pa.Table]:
    if isinstance(source, Requests):
        source = source.table
    if isinstance(source, pa.Table):
        return [pa.Table.from_batches([b]) for b in source.to_batches(ROW_GROUP_ROWS)]
    return source


def _csv_bytes(table: pa.Table) -> bytes:
    plain = table.cast(
        pa.schema([pa.field(f.name, pa.string() if pa.types.is_dictionary(f.type) else f.type)
                   for f in table.schema])
    )  # fmt: skip
    # A session id or node name never holds a comma, a quote or a line break; if one
    # ever does, it is quoted rather than written as a broken row.
    style = "none" if not _needs_quotes(plain) else "needed"
    sink = pa.BufferOutputStream()
    pa_csv.write_csv(plain, sink, pa_csv.WriteOptions(include_header=False, quoting_style=style))
    return bytes(sink.getvalue())


def _needs_quotes(table: pa.Table) -> bool:
    import pyarrow.compute as pc  # noqa: PLC0415

    for field in table.schema:
        if pa.types.is_string(field.type):
            hits = pc.match_substring_regex(table.column(field.name), r'[,"\r\n]')
            if pc.any(hits).as_py():
                return True
    return False


# --------------------------------------------------------------------------- reading


# glibc's mallopt parameter: blocks at least this large are mapped on their own.
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 128 * 1024  # glibc's default, held fixed


def frugal_memory() -> None:
    """For a command that reads a large requests file once and exits (report, compare):
    memory a stage frees goes back to the system before the next stage takes more.

    Arrow allocates from the system allocator instead of mimalloc, which keeps freed pages
    for reuse; and glibc maps every large block on its own, where by default it raises its
    mmap threshold to the largest block freed and keeps later blocks of that size in its
    heap. A 1M-row report peaked at 225 MB without this, 170 MB with it, and runs no
    slower. Changes no value; harmless where either allocator is not there."""
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        glibc = os.confstr("CS_GNU_LIBC_VERSION")
    except (ValueError, OSError):
        glibc = None
    if not glibc:
        return
    import ctypes  # noqa: PLC0415 - only here

    ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)


def read_requests(path: Path, columns: Sequence[str] | None = None) -> Requests:
    """The requests of a run's file, Parquet or gzip CSV, optionally only some columns
    (the optional ones are read when present). ValueError naming the file if it is not a
    requests file; FileNotFoundError if there is none."""
    if path.suffix == ".parquet":
        return Requests(_read_parquet(path, columns))
    return Requests(_read_csv(path, columns))


def _wanted(available: Sequence[str], columns: Sequence[str] | None) -> list[str]:
    """The columns to read: those asked for (every optional one present when none are
    named); ValueError if a required column is missing."""
    missing = [c for c in FIELDS if c not in available]
    if missing:
        raise ValueError(f"header lacks columns {missing}")
    chosen = (*FIELDS, *OPTIONAL_FIELDS) if columns is None else tuple(columns)
    return [c for c in (*FIELDS, *OPTIONAL_FIELDS) if c in available and c in chosen]


def _read_parquet(path: Path, columns: Sequence[str] | None) -> pa.Table:
    try:
        # ParquetFile, not pq.read_table: read_table goes through pyarrow.dataset (more
        # libraries loaded, ~10 MB) and splits each row group into batches, so every
        # column would be copied to be one numpy array; this reads a row group as one chunk.
        with pq.ParquetFile(path) as reader:
            names = _wanted(reader.schema_arrow.names, columns)
            return reader.read(columns=names, use_threads=True)
    except FileNotFoundError:
        raise
    except (pa.ArrowException, OSError) as error:
        raise ValueError(f"{path}: unreadable: {error}") from None
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def parquet_batches(path: Path, columns: Sequence[str]) -> Iterator[pa.Table]:
    """A Parquet requests file one row group at a time (only these columns)."""
    reader = pq.ParquetFile(path)
    names = [c for c in columns if c in reader.schema_arrow.names]
    for group in range(reader.num_row_groups):
        yield reader.read_row_group(group, columns=names)


def _csv_header(path: Path) -> list[str] | None:
    with path.open("rb") as raw:
        if raw.read(2) not in (GZIP_MAGIC, b""):
            raise ValueError(f"{path}: unreadable: Not a gzipped file")
    try:
        with gzip.open(path, "rt", encoding="utf-8", newline="") as stream:
            return next(csv.reader(stream), None)
    except (OSError, EOFError) as error:
        raise ValueError(f"{path}: unreadable: {error}") from None


def _read_csv(path: Path, columns: Sequence[str] | None) -> pa.Table:
    header = _csv_header(path)
    if header is None:
        return empty_table(columns or FIELDS)
    try:
        names = _wanted(header, columns)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    convert = pa_csv.ConvertOptions(
        column_types={name: TYPES[name] for name in header if name in TYPES},
        include_columns=names,
        null_values=[""],
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    try:
        table = pa_csv.read_csv(
            pa.input_stream(str(path), compression="gzip"), convert_options=convert
        )
    except pa.ArrowInvalid as error:
        raise ValueError(_malformed(path, names) or f"{path}: unreadable: {error}") from None
    except (pa.ArrowException, OSError, EOFError) as error:
        raise ValueError(f"{path}: unreadable: {error}") from None
    _no_missing(path, table)
    return table


def _no_missing(path: Path, table: pa.Table) -> None:
    """An empty cell where a value is required is a malformed row, as it always was."""
    import pyarrow.compute as pc  # noqa: PLC0415

    for name in table.column_names:
        column = table.column(name)
        if name in NULLABLE or not column.null_count:
            continue
        first = pc.index(pc.is_null(column), True).as_py()
        raise ValueError(f"{path}:{first + 2}: malformed row: empty {name}")


def _malformed(path: Path, names: Sequence[str]) -> str | None:
    """The first row Python cannot read either, as `file:line: malformed row: why`:
    pyarrow's own message does not name the line."""
    with gzip.open(path, "rt", encoding="utf-8", newline="") as stream:
        reader = csv.reader(stream)
        header = next(reader)
        index = {name: header.index(name) for name in names}
        for line, row in enumerate(reader, start=2):
            try:
                for name, i in index.items():
                    _check_cell(name, row[i])
            except (ValueError, IndexError) as error:
                return f"{path}:{line}: malformed row: {error}"
    return None


def _check_cell(name: str, text: str) -> None:
    if name in NULLABLE and not text:
        return
    kind = TYPES[name]
    if pa.types.is_floating(kind):
        float(text)
    elif pa.types.is_integer(kind):
        int(text)


# --------------------------------------------------------------------------- arithmetic


def rank_index(counts: NDArray[np.int64], p: float) -> NDArray[np.int64]:
    """The nearest-rank position (0-based) of percentile p in groups of these sizes, in
    exact integer arithmetic: the same rank results.nearest_rank picks."""
    if not 0.0 <= p <= 100.0:
        raise ValueError(f"percentile {p} outside [0, 100]")
    share = Fraction(repr(p))
    a, b = share.numerator, share.denominator * 100
    ranks = -((-a * counts.astype(np.int64)) // b)
    return cast("NDArray[np.int64]", np.maximum(ranks, 1) - 1)


def second_of(t_s: NDArray[np.float64]) -> NDArray[np.int64]:
    """Each time's 1-second bin: [i, i+1); a clock-skewed negative time goes to bin 0."""
    return cast("NDArray[np.int64]", np.maximum(t_s, 0.0).astype(np.int64))


@dataclass(frozen=True)
class Bins:
    """Values grouped by 1-second bin and sorted within each: percentiles per bin."""

    counts: NDArray[np.int64]
    starts: NDArray[np.int64]
    ordered: NDArray[np.float64]

    @classmethod
    def of(cls, seconds: NDArray[np.int64], values: NDArray[np.float64], n_bins: int) -> Bins:
        counts = np.bincount(seconds, minlength=n_bins)[:n_bins].astype(np.int64)
        starts = np.cumsum(counts) - counts
        if len(seconds) and bool(np.all(seconds[1:] >= seconds[:-1])):
            # Rows in time order (as written): sorting each second's slice in place is a
            # fraction of sorting all rows by (second, value).
            ordered = values.copy()
            for start, count in zip(starts.tolist(), counts.tolist(), strict=True):
                if count > 1:
                    ordered[start : start + count].sort()
            return cls(counts, starts, ordered)
        return cls(counts, starts, values[np.lexsort((values, seconds))])

    def percentile(self, p: float) -> list[float | None]:
        """Each bin's nearest-rank percentile; None for an empty bin (a gap, not a zero)."""
        filled = self.counts > 0
        at = self.starts[filled] + rank_index(self.counts[filled], p)
        out: list[float | None] = [None] * len(self.counts)
        for i, value in zip(
            np.flatnonzero(filled).tolist(), self.ordered[at].tolist(), strict=True
        ):
            out[i] = value
        return out


def count_series(
    seconds: NDArray[np.int64], keys: NDArray[np.int32], names: Sequence[str], n_bins: int
) -> dict[str, list[int]]:
    """Per key, its count in every bin; only keys that occur get a series (first seen first)."""
    series: dict[str, list[int]] = {}
    if not len(seconds):
        return series
    # The few keys present, by counting; np.unique would sort every row to find them.
    present = np.flatnonzero(np.bincount(keys, minlength=len(names)))
    first = [int(np.argmax(keys == key)) for key in present.tolist()]
    for key in present[np.argsort(first)].tolist():
        counts = np.bincount(seconds[keys == key], minlength=n_bins)[:n_bins]
        name = names[key]
        if name in series:  # two codes shown under one name ("" and "(no node)", say)
            counts = counts + np.asarray(series[name])
        series[name] = counts.tolist()
    return series


# --------------------------------------------------------------------------- export


class ExportError(ValueError):
    """An export refused or failed; the message is one line naming the file."""


def export_csv(run_dir: Path) -> Path:
    """requests.csv.gz beside a run's requests.parquet, as runs before it had: written a
    row group at a time under a temporary name, then linked into place, so an existing
    file is never overwritten and a failed export leaves nothing half-written."""
    from harness.results.run_folder import read_manifest  # noqa: PLC0415 - results imports this module

    try:
        manifest = read_manifest(run_dir)
    except ValueError as error:
        raise ExportError(str(error)) from None
    files = manifest.get("files")
    name = files.get("requests") if isinstance(files, dict) else None
    source = run_dir / str(name or CSV_FILE)
    target = run_dir / CSV_FILE
    if target.exists():
        raise ExportError(f"{target}: exists already; export never overwrites it")
    if not source.is_file():
        raise ExportError(f"{source}: no such requests file")
    if source.suffix != ".parquet":
        raise ExportError(f"{source}: not a Parquet requests file; nothing to export")
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        names = pq.read_schema(source).names
        if not set(FIELDS) <= set(names):
            raise ExportError(f"{source}: lacks columns {sorted(set(FIELDS) - set(names))}")
        write_csv(partial, parquet_batches(source, [*FIELDS, *OPTIONAL_FIELDS]))
        # A link fails if the target appeared meanwhile: never a silent overwrite.
        target.hardlink_to(partial)
    except FileExistsError:
        raise ExportError(f"{target}: exists already; export never overwrites it") from None
    except (pa.ArrowException, OSError) as error:
        raise ExportError(f"{source}: unreadable: {error}") from None
    finally:
        partial.unlink(missing_ok=True)
    return target
