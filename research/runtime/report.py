"""What an experiment's `report` returns: tables and plots as plain data (no I/O here).

The runtime renders them (`research.runtime.outputs`) as `results.md`, `results.csv` and PNGs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from research.runtime.stats import ci_band


class Table(NamedTuple):
  """A results table. `rows` hold already formatted cells (str) or numbers.

  `timed`: the table shows seconds or rates measured on this machine (they differ between two
  runs of one config); it is written to `timings_<name>.csv`, never to `results*.csv`.
  """

  name: str
  columns: Sequence[str]
  rows: Sequence[Sequence[Any]]
  caption: str = ""
  timed: bool = False


class Series(NamedTuple):
  """One line of a plot, with an optional shaded band `[lo, hi]` (e.g. a 95% CI)."""

  label: str
  x: Any
  y: Any
  lo: Any = None
  hi: Any = None

  @classmethod
  def over_seeds(cls, label: str, x, values, *, band: bool = True) -> Series:
    """The mean over seeds of `[seeds, k]` values at the `k` points `x`, with the 95%
    Student-t band of the mean (`stats.ci_band`; none for one seed or `band=False`)."""
    values = np.asarray(values, dtype=np.float64)
    lo, hi = ci_band(values) if band else (None, None)
    return cls(label, x, values.mean(axis=0), lo, hi)


class Plot(NamedTuple):
  """A line plot; `name` is the PNG's file name without extension."""

  name: str
  title: str
  xlabel: str
  ylabel: str
  series: Sequence[Series]
  logx: bool = False
  logy: bool = False


class Report(NamedTuple):
  """Everything an experiment shows: tables (the first untimed one is `results.csv`), plots and
  notes."""

  tables: Sequence[Table] = ()
  plots: Sequence[Plot] = ()
  notes: str = ""


def markdown_table(table: Table) -> str:
  """Renders a table as GitHub markdown (caption as a heading line above it)."""
  head = "| " + " | ".join(str(c) for c in table.columns) + " |"
  rule = "|" + "|".join(" --- " for _ in table.columns) + "|"
  body = ["| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows]
  title = f"### {table.name}" + (f"\n\n{table.caption}" if table.caption else "")
  return "\n".join([title, "", head, rule, *body])


def _cell(value) -> str:
  if isinstance(value, float):
    return f"{value:.4g}"
  return str(value)
