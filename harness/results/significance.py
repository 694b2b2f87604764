"""Is a difference between two sets of runs more than noise? Two honest answers.

Seconds of one run are not independent samples: a steady level shift between two runs
(a warmer JIT, a busier neighbour) makes every second differ, and a rank test on seconds
then reports p around 1e-6 for a change no repeat would confirm. So:

  several runs a side  each run is one sample (pyperf's way): an exact permutation test on
                       the per-run values, two-sided, on the difference of their means
  one run a side       a moving-block bootstrap over the run's seconds: blocks of
                       consecutive seconds keep their correlation, and the p-value is how
                       often the resampled head/base ratio falls on the other side of 1

Either way the caller still requires a minimum factor: significance says a change is
real, the factor says it matters.
"""

from __future__ import annotations

import itertools
import math
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray

# A statistic of each row of a (resamples, seconds) array: all resamples in one call.
Statistic: TypeAlias = "Callable[[NDArray[np.float64]], NDArray[np.float64]]"

BLOCK_S = 5  # fewer seconds than 2 blocks of this a side: too few to test at all
RESAMPLES = 2000
_SEED = 20261129  # a verdict must not change from one reading to the next
_EXACT_LIMIT = 50_000  # permutations enumerated; above it, a seeded random sample of them


@dataclass(frozen=True)
class Test:
    """A two-sided test of head against base; head_higher: the head's values are larger."""

    p: float
    head_higher: bool
    n_base: int
    n_head: int
    method: str

    def words(self, alpha: float) -> str:
        relation = "<" if self.p < alpha else ">="
        return (
            f"p={self.p:.2g} {relation} {alpha:g} ({self.method}, {self.n_base} vs {self.n_head})"
        )


def smallest_p(n_base: int, n_head: int) -> float:
    """The smallest two-sided p an exact permutation test of these sizes can give."""
    if n_base < 1 or n_head < 1:
        return 1.0
    return min(1.0, 2 / math.comb(n_base + n_head, n_base))


def permutation_test(base: Sequence[float], head: Sequence[float]) -> Test:
    """Exact two-sided permutation test on the difference of means of per-run values."""
    if not base or not head:
        raise ValueError("permutation test needs values on both sides")
    pooled = [*base, *head]
    observed = statistics.fmean(head) - statistics.fmean(base)
    n, k = len(pooled), len(head)
    total = sum(pooled)
    splits: list[tuple[int, ...]]
    if math.comb(n, k) <= _EXACT_LIMIT:
        splits = list(itertools.combinations(range(n), k))
    else:
        rng = random.Random(_SEED)
        splits = [tuple(rng.sample(range(n), k)) for _ in range(_EXACT_LIMIT)]
    at_least = 0
    for chosen in splits:
        picked = sum(pooled[i] for i in chosen)
        diff = picked / k - (total - picked) / (n - k)
        if abs(diff) >= abs(observed) - 1e-12 * max(1.0, abs(observed)):
            at_least += 1
    return Test(at_least / len(splits), observed > 0, len(base), len(head), "runs, permutation")


def mean(rows: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(np.mean(rows, axis=-1))


def median(rows: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(np.median(rows, axis=-1))


def block_length(seconds: int) -> int:
    """The usual rate for a moving-block bootstrap, n^(1/3): 2 s for 15 s, 4 s for 60 s."""
    return max(2, round(math.pow(seconds, 1 / 3)))


# Positions held at once while resampling (8 bytes each): enough rows of a run of hours
# at a time to stay fast, few enough to stay a few MB whatever the run's length.
_CHUNK_POSITIONS = 1 << 20


def _positions(rng: np.random.Generator, n: int, block: int, rows: int) -> NDArray[np.intp]:
    """rows resamples of positions 0..n-1: blocks of consecutive positions from uniform
    random starts, laid end to end and cut at n."""
    block = max(1, min(block, n))
    starts = rng.integers(0, n - block + 1, size=(rows, -(-n // block)))
    laid = starts[:, :, np.newaxis] + np.arange(block)
    return laid.reshape(rows, -1)[:, :n]


def _resampled(
    values: NDArray[np.float64],
    rng: np.random.Generator,
    block: int,
    rows: int,
    statistic: Statistic,
) -> NDArray[np.float64]:
    return statistic(values[_positions(rng, len(values), block, rows)])


def block_bootstrap(
    base: Sequence[float],
    head: Sequence[float],
    statistic: Statistic = mean,
    *,
    block: int | None = None,
    resamples: int = RESAMPLES,
) -> Test:
    """Two-sided bootstrap p of head's statistic differing from base's, seconds resampled
    in blocks of consecutive seconds within each run."""
    if len(base) < 2 or len(head) < 2:
        raise ValueError("block bootstrap needs at least two seconds on each side")
    block = block or block_length(min(len(base), len(head)))
    b, h = np.asarray(base, dtype=np.float64), np.asarray(head, dtype=np.float64)
    rng = np.random.default_rng(_SEED)
    observed = float(statistic(h) - statistic(b))
    # Centre each side on the pooled statistic's null: the distribution of the difference
    # under "no change" is the resampled difference minus the observed one.
    above = below = 0
    chunk = max(1, _CHUNK_POSITIONS // max(len(b), len(h)))
    for done in range(0, resamples, chunk):
        rows = min(chunk, resamples - done)
        diff = _resampled(h, rng, block, rows, statistic) - _resampled(
            b, rng, block, rows, statistic
        )
        shifted = diff - observed
        above += int(np.count_nonzero(shifted >= abs(observed)))
        below += int(np.count_nonzero(shifted <= -abs(observed)))
    p = min(1.0, (above + below + 1) / (resamples + 1))
    method = f"block bootstrap over seconds, {block} s blocks"
    return Test(p, observed > 0, len(base), len(head), method)
