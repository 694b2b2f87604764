"""A requests.parquet read batch by batch, and the exact sums report and compare keep
across batches: so a run of 100M requests is reported and compared in the memory of one
batch and what its pages show, never all rows at once.

Exact, not estimated: every number equals what the whole-table code computes (the tests
hold them equal, batch sizes down to one row). That rests on the file's time order, which
every writer keeps (convert_raw sorts; a converter writes row groups in order): a second's
rows are then contiguous, so each second's percentiles are taken from its own rows once it
is complete, and the judgement's windows are cut where the times cross them. A file out of
time order raises NotInTimeOrder, and the caller reads it whole as before.

Latency percentiles over the whole run are nearest ranks in a count of each value:
latencies are written with microsecond precision (%.3f), so up to DENSE_LIMIT microseconds
they are counted in an array indexed by microsecond; any other value (longer, negative,
finer, or not a number) is counted by its exact float. The ranks are those of the sorted
latencies, so the values are the same floats.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from harness.results.requests import Bins, Requests, _wanted

if TYPE_CHECKING:
    from numpy.typing import NDArray

# Rows a streaming reader holds at once: a row group is read whole (Parquet decodes it
# as one), then handed on in slices this long, so the arrays derived from a slice (bins,
# masks, codes) stay a few MB whatever the row group size.
BATCH_ROWS = 1 << 18
# Parquet files of more rows than this are read in batches: all of them, since batches are
# no slower even at 1M rows (report 1.39 s, compare 1.78 s; read whole 1.43 s, 1.87 s). The
# whole table stays for CSV files, files out of time order and records held in memory,
# and is what the tests hold the batches to (above_rows set beyond any file).
STREAM_ABOVE_ROWS = 0


class NotInTimeOrder(ValueError):
    """The file's rows go back in time: it cannot be read in batches exactly."""


@dataclass(frozen=True)
class Streaming:
    """When report and compare read a Parquet requests file batch by batch, and how many
    rows at a time (tests force tiny batches; None: BATCH_ROWS)."""

    above_rows: int = STREAM_ABOVE_ROWS
    batch_rows: int | None = None

    def applies(self, path: Path) -> bool:
        """A Parquet file of more than above_rows rows (a CSV of older runs is read whole)."""
        if path.suffix != ".parquet" or not path.is_file():
            return False
        try:
            with pq.ParquetFile(path) as reader:
                rows = reader.metadata.num_rows
        except (pa.ArrowException, OSError):
            return False  # the whole-table reader names the problem
        return int(rows) > self.above_rows


# What report and compare do unless told otherwise.
DEFAULT_STREAMING = Streaming()


@dataclass(frozen=True)
class Batch:
    """Consecutive rows of a requests file, and the index of the first among all rows."""

    requests: Requests
    offset: int


def batches(path: Path, columns: Sequence[str], batch_rows: int | None = None) -> Iterator[Batch]:
    """The rows of a Parquet requests file in time order, batch_rows at a time (only these
    columns, and the optional ones present among them). ValueError naming the file if it
    cannot be read; NotInTimeOrder if a row's time is before the one above it."""
    size = batch_rows or BATCH_ROWS
    offset = 0
    last_t = -math.inf
    try:
        with pq.ParquetFile(path) as reader, ThreadPoolExecutor(1) as ahead:
            names = _wanted(reader.schema_arrow.names, columns)
            for table in _row_groups(reader, names, ahead):
                for start in range(0, table.num_rows, size):
                    requests = Requests(table.slice(start, size))
                    last_t = _in_order(requests, last_t)
                    yield Batch(requests, offset)
                    offset += len(requests)
    except (FileNotFoundError, NotInTimeOrder):
        raise
    except (pa.ArrowException, OSError) as error:
        raise ValueError(f"{path}: unreadable: {error}") from None
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def _row_groups(
    reader: pq.ParquetFile, names: list[str], ahead: ThreadPoolExecutor
) -> Iterator[pa.Table]:
    """Each row group, the next one read (decompressed, decoded) on another thread while
    this one is summed: Arrow reads without the GIL, so reading costs little wall time."""

    def read(group: int) -> pa.Table:
        return reader.read_row_group(group, columns=names, use_threads=True)

    groups = reader.num_row_groups
    pending = ahead.submit(read, 0) if groups else None
    for group in range(groups):
        assert pending is not None
        table = pending.result()
        pending = ahead.submit(read, group + 1) if group + 1 < groups else None
        yield table


def _in_order(requests: Requests, last_t: float) -> float:
    """The batch's last time, once its times are seen not to go back (NaN is no order)."""
    if not len(requests) or "t_s" not in requests.table.column_names:
        return last_t
    t = requests.t_s
    if not (t[0] >= last_t and bool(np.all(t[1:] >= t[:-1]))):
        raise NotInTimeOrder("rows not in time order")
    return float(t[-1])


# --------------------------------------------------------------------------- per second


class BinCounts:
    """Rows per 1-second bin, added batch by batch."""

    def __init__(self) -> None:
        self._counts = np.zeros(0, dtype=np.int64)

    def add(self, bins: NDArray[np.int64]) -> None:
        if not len(bins):
            return
        # The bins of a batch in time order span a few seconds: count only those.
        low = int(bins[0]) if bins[0] <= bins[-1] else int(bins.min())
        self.add_counts(low, np.bincount(bins)[low:])

    def add_counts(self, low: int, counts: NDArray[np.int64]) -> None:
        """Counts of the bins from low on."""
        end = low + len(counts)
        if end > len(self._counts):
            self._counts = np.concatenate(
                [self._counts, np.zeros(end - len(self._counts), dtype=np.int64)]
            )
        self._counts[low:end] += counts

    def tolist(self, n_bins: int) -> list[int]:
        """The counts of bins 0 .. n_bins-1, zero where none was added."""
        counts = self._counts[:n_bins]
        padding = [0] * (n_bins - len(counts))
        return cast(list[int], counts.tolist()) + padding


class SecondPercentiles:
    """Nearest-rank percentiles of each 1-second bin, from batches in time order: a bin's
    rows are held until a later bin starts, then its percentiles are taken as Bins does
    on the whole table (the same sorted values, the same ranks)."""

    def __init__(self, ps: Sequence[float]) -> None:
        self.ps = tuple(ps)
        self._values: dict[float, list[float | None]] = {p: [] for p in self.ps}
        self._held_bins = np.zeros(0, dtype=np.int64)
        self._held = np.zeros(0, dtype=np.float64)

    def add(self, bins: NDArray[np.int64], values: NDArray[np.float64]) -> None:
        if not len(bins):
            return
        if len(self._held):
            # The held bin's rows and this batch's first rows of the same bin: one bin.
            same = int(np.searchsorted(bins, self._held_bins[0], side="right"))
            self._held_bins = np.concatenate([self._held_bins, bins[:same]])
            self._held = np.concatenate([self._held, values[:same]])
            if same == len(bins):
                return  # the bin goes on still
            self._emit(self._held_bins, self._held)
            bins, values = bins[same:], values[same:]
        # The last bin may go on in the next batch: held back, the rest is complete.
        cut = int(np.searchsorted(bins, bins[-1], side="left"))
        self._emit(bins[:cut], values[:cut])
        self._held_bins, self._held = bins[cut:].copy(), values[cut:].copy()

    def _emit(self, bins: NDArray[np.int64], values: NDArray[np.float64]) -> None:
        if not len(bins):
            return
        first = int(bins[0])
        grouped = Bins.of(bins - first, values, int(bins[-1]) - first + 1)
        for p in self.ps:
            out = self._values[p]
            out.extend([None] * (first - len(out)))  # the empty seconds before these
            out.extend(grouped.percentile(p))

    def result(self, n_bins: int) -> dict[float, list[float | None]]:
        """Each percentile's value per bin 0 .. n_bins-1 (None for an empty bin)."""
        self._emit(self._held_bins, self._held)
        self._held_bins, self._held = self._held_bins[:0], self._held[:0]
        out = {}
        for p, values in self._values.items():
            out[p] = values[:n_bins] + [None] * (n_bins - len(values))
        return out


# --------------------------------------------------------------------------- whole run

# Latencies counted by microsecond in an array up to this (1.05 s): 8 MB at most each.
DENSE_LIMIT = 1 << 20
_MICROS = 1000.0


def micro_keys(values: NDArray[np.float64]) -> NDArray[np.int64]:
    """Each value's key in CountedValues' array: its number of microseconds when it is
    exactly that (as "%.3f" parses) and below DENSE_LIMIT; -1 for a value counted by
    itself."""
    keys = np.rint(values * _MICROS)
    other = keys < 1
    other |= keys >= DENSE_LIMIT
    other |= keys / _MICROS != values
    keys[other] = -1
    return keys.astype(np.int64)


class CountedValues:
    """A multiset of floats as counts of each value, read as the sorted array would be
    (len, the value at a rank, nearest-rank percentiles, the maximum)."""

    def __init__(self) -> None:
        self._dense = np.zeros(0, dtype=np.int64)
        self._pending: list[tuple[NDArray[np.float64], NDArray[np.int64]]] = []
        self._pending_rows = 0
        self._n = 0
        self._sorted: tuple[NDArray[np.float64], NDArray[np.int64]] | None = None

    def add(self, values: NDArray[np.float64], keys: NDArray[np.int64] | None = None) -> None:
        """Count these values (keys: their micro_keys, if already known)."""
        if not len(values):
            return
        self._sorted = None
        self._n += len(values)
        keys = micro_keys(values) if keys is None else keys
        dense = keys >= 0
        counts = np.bincount(keys[dense])
        if len(counts) > len(self._dense):
            grown = np.zeros(len(counts), dtype=np.int64)
            grown[: len(self._dense)] = self._dense
            self._dense = grown
        self._dense[: len(counts)] += counts
        rest = values[~dense]
        if len(rest):
            unique, times = np.unique(rest, return_counts=True)
            self._pending.append((unique, times.astype(np.int64)))
            self._pending_rows += len(unique)
            if self._pending_rows > 4 * DENSE_LIMIT:
                self._pending = [self._merged_pending()]
                self._pending_rows = len(self._pending[0][0])

    def _merged_pending(self) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        if not self._pending:
            return np.zeros(0, dtype=np.float64), np.zeros(0, dtype=np.int64)
        values = np.concatenate([v for v, _ in self._pending])
        counts = np.concatenate([c for _, c in self._pending])
        unique, where = np.unique(values, return_inverse=True)
        return unique, np.bincount(where.ravel(), weights=counts, minlength=len(unique)).astype(
            np.int64
        )

    def _ordered(self) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        """Every value once, in order, and the running count up to and including it."""
        if self._sorted is None:
            keys = np.flatnonzero(self._dense)
            others, other_counts = self._merged_pending()
            values = np.concatenate([keys / _MICROS, others])
            counts = np.concatenate([self._dense[keys], other_counts])
            order = np.argsort(values, kind="stable")
            self._sorted = values[order], np.cumsum(counts[order])
        return self._sorted

    def __len__(self) -> int:
        return self._n

    def at(self, index: int) -> float:
        """The value at this position of the sorted values (negative: from the end)."""
        if index < 0:
            index += self._n
        if not 0 <= index < self._n:
            raise IndexError(index)
        values, running = self._ordered()
        return float(values[int(np.searchsorted(running, index, side="right"))])

    def percentile(self, p: float) -> float:
        """results.nearest_rank of the sorted values, in its exact arithmetic (a spectrum's
        p has many digits: rank_index's int64 products would overflow)."""
        if not self._n:
            raise ValueError("percentile of no values")
        if not 0.0 <= p <= 100.0:
            raise ValueError(f"percentile {p} outside [0, 100]")
        rank = math.ceil(Fraction(repr(p)) * self._n / 100)
        return self.at(max(rank, 1) - 1)

    def max(self) -> float:
        return self.at(-1)


class SeriesCounts:
    """requests.count_series batch by batch: per name, its count in every bin; names in
    order of their first row (two codes of one name add up under it, as there)."""

    def __init__(self) -> None:
        self._counts: dict[str, BinCounts] = {}
        self._first: dict[str, int] = {}

    def add(
        self, bins: NDArray[np.int64], keys: NDArray[np.int32], names: Sequence[str], offset: int
    ) -> None:
        """Rows in time order (bins), each counted under the name of its key."""
        if not len(bins):
            return
        # One count of (key, bin) pairs over the few seconds of the batch.
        low, width = int(bins[0]), int(bins[-1]) - int(bins[0]) + 1
        pairs = keys.astype(np.int64) * width + (bins - low)
        counts = np.bincount(pairs, minlength=len(names) * width).reshape(len(names), width)
        firsts: dict[str, int] = {}
        for key in np.flatnonzero(counts.any(axis=1)).tolist():
            name = names[key]
            if name not in self._first:  # a name seen before was seen in an earlier row
                first = offset + int(np.argmax(keys == key))
                firsts[name] = min(first, firsts.get(name, first))
            self._counts.setdefault(name, BinCounts()).add_counts(low, counts[key])
        self._first |= firsts

    def result(self, n_bins: int) -> dict[str, list[int]]:
        ordered = sorted(self._first, key=lambda name: self._first[name])
        return {name: self._counts[name].tolist(n_bins) for name in ordered}
