"""Timing calls of compiled functions on the host, for benchmarks and reports.

One helper for every timing loop: a first call (compilation included, timed on its own), then
`repeats` more, each blocked on its result (`jax.block_until_ready`), summarised by a statistic
(the median by default; `min` for a best-of). Speed claims compare such numbers side by side in
one run; they are never asserted in unit tests.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import NamedTuple

import jax
import numpy as np


class Timing(NamedTuple):
  """Seconds of `fn()`: the first call, the statistic of the later ones, how many later ran."""

  first: float
  seconds: float    # the statistic over the later calls (the first call's time when none ran)
  runs: int


def time_calls(fn: Callable[[], object], *, repeats: int, statistic=np.median,
               stop_after: float | None = None, clock=time.perf_counter) -> Timing:
  """Times `fn()`: once (compiling), then `repeats` more times.

  Args:
    fn: a call without arguments; its result is blocked on.
    repeats: calls after the first (≥ 0).
    statistic: how the later calls' seconds are summarised (`np.median`, `min`, ...).
    stop_after: skip the later calls when the first took longer than this (slow settings).
    clock: the clock (seconds).
  """
  if repeats < 0:
    raise ValueError(f"repeats must be ≥ 0, got {repeats}")
  start = clock()
  jax.block_until_ready(fn())
  first = clock() - start
  if stop_after is not None and first > stop_after:
    repeats = 0
  times = []
  for _ in range(repeats):
    start = clock()
    jax.block_until_ready(fn())
    times.append(clock() - start)
  return Timing(first, float(statistic(times)) if times else first, len(times))


def machine_load() -> str:
  """'load average a / b / c on N CPUs' (1, 5, 15 minutes), for the captions of timed tables:
  the machines are shared, so a time is worth as much as the load it was measured at."""
  try:
    load = os.getloadavg()
  except OSError:
    return "load average unavailable"
  cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
  return f"load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} on {cpus} CPUs"

