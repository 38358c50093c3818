"""Everything the runtime writes into the work directory (process 0 only).

`config.json`, `metrics.jsonl` (one line per chunk), TensorBoard events (tensorboardX, no
TensorFlow needed), `results.md`, `results.csv` (the first untimed table; further untimed tables
as `results_<name>.csv`), `timings.csv` and `timings_<name>.csv` (the run's timings and the
experiment's timed tables: seconds differ between runs, results do not), one PNG per plot, and
`final.npz` (the experiment's `finalize` output per member, for statistics the report does not
compute). `timings.json` and `measurements.json` are written by `research.runtime.measurement`.
"""

from __future__ import annotations

import csv
import json
import math
import pathlib
import re

import jax
import numpy as np

from research.runtime.report import Plot, Report, Table, markdown_table


def write_config(workdir: pathlib.Path, config) -> None:
  (workdir / "config.json").write_text(config.to_json_best_effort(indent=2, sort_keys=True) + "\n")


class MetricsWriter:
  """Appends one JSON line per chunk to `metrics.jsonl` and scalars to TensorBoard.

  On resume from chunk `start`, lines for chunks ≥ `start` (written after the checkpoint that is
  being resumed) are dropped first, so the file always matches the restored history; on a fresh
  start (an earlier attempt of the same run that saved no checkpoint) its TensorBoard events go
  with its lines.
  """

  def __init__(self, workdir: pathlib.Path, *, start_chunk: int, tensorboard: bool = True):
    self.path = workdir / "metrics.jsonl"
    if self.path.exists():
      kept = [line for line in self.path.read_text().splitlines()
              if line.strip() and json.loads(line)["chunk"] < start_chunk]
      self.path.write_text("".join(line + "\n" for line in kept))
    self.file = self.path.open("a")
    if start_chunk == 0:  # a fresh start: an earlier attempt's events would show as a second run
      for events in (workdir / "tensorboard").glob("events.out.tfevents.*"):
        events.unlink()
    self.tb = None
    if tensorboard:
      from tensorboardX import SummaryWriter  # imported lazily: it is slow to import
      self.tb = SummaryWriter(str(workdir / "tensorboard"), purge_step=start_chunk or None)

  def write(self, chunk: int, step: int, values: dict, scalars: dict[str, float]) -> None:
    """`values` go to the JSON line as they are (lists); `scalars` to TensorBoard at `step`."""
    record = {"chunk": chunk, "step": step, **{k: _jsonable(v) for k, v in values.items()}}
    self.file.write(json.dumps(record) + "\n")
    self.file.flush()
    if self.tb is not None:
      for tag, value in scalars.items():
        if math.isfinite(value):
          self.tb.add_scalar(tag, value, step)

  def close(self) -> None:
    self.file.close()
    if self.tb is not None:
      self.tb.close()


def _jsonable(value):
  if isinstance(value, np.ndarray):
    return _jsonable(value.tolist())
  if isinstance(value, list):
    return [_jsonable(v) for v in value]
  if isinstance(value, float) and not math.isfinite(value):
    return str(value)
  if isinstance(value, np.generic):
    return value.item()
  return value


def _slug(name: str) -> str:
  return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_").lower() or "table"


def write_report(workdir: pathlib.Path, report: Report) -> list[pathlib.Path]:
  """Writes results.md, results*.csv and the plots; returns the paths written."""
  written = []
  md = ["# Results", ""]
  for table in report.tables:
    md += [markdown_table(table), ""]
  if report.notes:
    md += [report.notes.strip(), ""]
  for plot in report.plots:
    md += [f"![{plot.title}]({plot.name}.png)", ""]
  (workdir / "results.md").write_text("\n".join(md))
  written.append(workdir / "results.md")
  for path, table in zip(csv_names(report.tables), report.tables, strict=True):
    _write_csv(workdir / path, table)
    written.append(workdir / path)
  for plot in report.plots:
    path = workdir / f"{plot.name}.png"
    render_plot(plot, path)
    written.append(path)
  return written


def csv_names(tables) -> list[str]:
  """The CSV file of each table: `results.csv` for the first untimed one, `results_<name>.csv`
  for the other untimed ones, `timings_<name>.csv` for timed ones (`timings.csv` for the run's
  own timings table, named "timings")."""
  names, first = [], True
  for table in tables:
    slug = _slug(table.name)
    if table.timed:
      names.append("timings.csv" if slug == "timings" else f"timings_{slug}.csv")
    else:
      names.append("results.csv" if first else f"results_{slug}.csv")
      first = False
  return names


def write_final(workdir: pathlib.Path, final, members) -> pathlib.Path:
  """Writes `final.npz`: every leaf of `final` (leading axis: members) as `final/<path>`, and who
  each member is: `member/seed_index`, `member/point_index`, `member/hparam/<field>`.

  Read it with `np.load(workdir / "final.npz")`; e.g. the rows of seed 0 are
  `data["member/seed_index"] == 0`.
  """
  arrays = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(final)[0]:
    name = "/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path)
    arrays["final/" + (name or "value")] = np.asarray(leaf)
  arrays["member/seed_index"] = np.asarray(members.seed_index)
  arrays["member/point_index"] = np.asarray(members.point_index)
  for field, values in members.hparams.items():
    arrays[f"member/hparam/{field}"] = np.asarray(values)
  path = workdir / "final.npz"
  np.savez(path, **arrays)
  return path


def _write_csv(path: pathlib.Path, table: Table) -> None:
  with path.open("w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(table.columns)
    writer.writerows(table.rows)


_LINESTYLES = ("-", "--", ":", "-.")


def line_style(index: int) -> tuple[str, str]:
  """(colour, line style) of the `index`-th series: the 10 default colours, then the same colours
  dashed, dotted, dash-dotted, so up to 40 series stay distinguishable."""
  return f"C{index % 10}", _LINESTYLES[(index // 10) % len(_LINESTYLES)]


def render_plot(plot: Plot, path: pathlib.Path) -> None:
  """Renders a `Plot` to PNG with matplotlib's Agg backend (no display needed)."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
  for i, s in enumerate(plot.series):
    x, y = np.asarray(s.x, dtype=float), np.asarray(s.y, dtype=float)
    color, linestyle = line_style(i)
    (line,) = ax.plot(x, y, label=s.label, lw=1.6, color=color, linestyle=linestyle)
    if s.lo is not None and s.hi is not None:
      ax.fill_between(x, np.asarray(s.lo, float), np.asarray(s.hi, float),
                      color=line.get_color(), alpha=0.2, lw=0)
  ax.set(title=plot.title, xlabel=plot.xlabel, ylabel=plot.ylabel)
  if plot.logx:
    ax.set_xscale("log")
  if plot.logy:
    ax.set_yscale("log")
  ax.grid(alpha=0.3)
  if len(plot.series) > 1:
    ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)
