"""After the loop: the measurement phase, and the run's timings (docs/DESIGN.md, "How a run flows").

The measurement phase is an experiment's host-side work on the finished run (big_vision's
evaluators are the model): compile and time programs, evaluate the final parameters on held-out
data, sample from a trained model. The runtime runs `Experiment.measure(final, info)` once after
the last chunk, times it, shows it, and stores what it returned in `measurements.json`, so that
`report` only formats stored results: relaunching a finished run re-renders its report from
`final`, the history and the stored measurements without measuring again.

`timings.json` holds the run's timings, kept apart from the results (`results*.csv` of two runs
of one config are equal; their timings are not): the seconds of every chunk (a resumed chunk's
time replaces the lost one's), each launch's compile time, devices and machine load, and the
measurement phase's seconds.
"""

from __future__ import annotations

import json
import pathlib
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from research.runtime.report import Table
from research.runtime.timing import machine_load

TIMINGS = "timings.json"
MEASUREMENTS = "measurements.json"


def jsonable(value) -> Any:
  """`value` as JSON data: arrays and tuples become lists, NumPy scalars Python numbers
  (non-finite floats stay floats: Python's json writes and reads them as NaN and Infinity)."""
  if isinstance(value, Mapping):
    bad = [k for k in value if not isinstance(k, str)]
    if bad:
      raise TypeError(f"measurement keys must be strings, got {bad[0]!r}")
    return {k: jsonable(v) for k, v in value.items()}
  if isinstance(value, (np.ndarray, np.generic)) or hasattr(value, "__jax_array__"):
    return jsonable(np.asarray(value).tolist())
  if isinstance(value, (list, tuple)):
    return [jsonable(v) for v in value]
  if value is None or isinstance(value, (bool, int, float, str)):
    return value
  raise TypeError(f"cannot store a {type(value).__name__} as a measurement (use numbers, "
                  "strings, lists, dicts or arrays)")


def _atomic_write(path: pathlib.Path, data) -> None:
  tmp = path.with_suffix(".tmp")
  tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
  tmp.replace(path)


class RunTimings:
  """The run's timings, kept in `timings.json` (written by process 0 only, after every chunk).

  On a fresh run the file starts empty; on a resume from chunk `start` the seconds of chunks
  ≥ `start` (lost with the launch that ran them) are forgotten, then rewritten as they rerun.
  """

  def __init__(self, workdir: pathlib.Path, *, num_chunks: int, start: int, fresh: bool,
               write: bool):
    self.path = pathlib.Path(workdir) / TIMINGS
    self.write_enabled = write
    data = {}
    if not fresh and self.path.exists():
      try:
        data = json.loads(self.path.read_text())
      except (OSError, ValueError):
        data = {}
    seconds = list(data.get("chunk_seconds", []))[:start]
    self.chunk_seconds = seconds + [None] * (num_chunks - len(seconds))
    self.launches = list(data.get("launches", []))
    self.measure_seconds = data.get("measure_seconds")
    self.launch: dict[str, Any] | None = None

  def start_launch(self, *, start_chunk: int, compile_seconds: float, devices: int,
                   processes: int) -> None:
    self.launch = {"start_chunk": start_chunk, "chunks_run": 0,
                   "compile_seconds": round(compile_seconds, 4), "devices": devices,
                   "processes": processes}

  def chunk_done(self, chunk: int, seconds: float) -> None:
    self.chunk_seconds[chunk] = round(seconds, 6)
    if self.launch is not None:
      if self.launch["chunks_run"] == 0:
        self.launches.append(self.launch)
      self.launch["chunks_run"] += 1
      self.launch["load"] = machine_load()
    self.measure_seconds = None   # a changed final state is measured again
    self._write()

  def measured(self, seconds: float) -> None:
    self.measure_seconds = round(seconds, 4)
    self._write()

  def _write(self) -> None:
    if self.write_enabled:
      _atomic_write(self.path, {"chunk_seconds": self.chunk_seconds, "launches": self.launches,
                                "measure_seconds": self.measure_seconds})

  @property
  def run_seconds(self) -> float:
    """Seconds of the chunks of the run (all launches; compilation excluded)."""
    return float(sum(s for s in self.chunk_seconds if s is not None))

  @property
  def chunks_run(self) -> int:
    """Chunks whose seconds are known (all of them, for a run finished by this code)."""
    return sum(s is not None for s in self.chunk_seconds)

  @property
  def compile_seconds(self) -> float:
    """Compile seconds of the launches that ran chunks (this launch's when none did)."""
    ran = [x["compile_seconds"] for x in self.launches]
    if ran:
      return float(sum(ran))
    return float(self.launch["compile_seconds"]) if self.launch else 0.0


def measure_or_load(measure: Callable[[], Any] | None, workdir: pathlib.Path, *, identity: dict,
                    timings: RunTimings, write: bool, echo=print) -> tuple[dict, float]:
  """Runs the measurement phase, or loads its stored result when it belongs to this run.

  `identity` names the finished run (its program fingerprint and length); stored measurements
  with another identity (or none) are measured again. Returns (the measurements as stored, as
  JSON data, and the phase's seconds).
  """
  if measure is None:
    return {}, 0.0
  path = pathlib.Path(workdir) / MEASUREMENTS
  if path.exists() and timings.measure_seconds is not None:
    try:
      stored = json.loads(path.read_text())
    except (OSError, ValueError):
      stored = {}
    if stored.get("run") == identity:
      echo(f"measurements of this run loaded from {path.name} (measured in "
           f"{timings.measure_seconds:.1f} s); --restart measures again")
      return stored["values"], float(timings.measure_seconds)
  echo("measurement phase (host) ...")
  start = time.perf_counter()
  values = jsonable(measure())
  seconds = time.perf_counter() - start
  echo(f"measurement phase done in {seconds:.1f} s")
  if write:
    _atomic_write(path, {"run": identity, "values": values})
    timings.measured(seconds)
  return json.loads(json.dumps(values)), seconds


def timing_table(timings: RunTimings, *, updates_per_chunk: int, env_steps_per_chunk: int,
                 num_members: int) -> Table:
  """The run's timings as one row (all launches): chunks, compile, training and measurement
  seconds, updates and environment steps per second of all members."""
  run = timings.run_seconds
  compile_s = timings.compile_seconds
  chunks = timings.chunks_run
  columns = ["chunks timed", "compile s", "training s"]
  row: list[Any] = [chunks, f"{compile_s:.1f}", f"{run:.1f}"]
  if updates_per_chunk and run > 0:
    columns.append("updates/s")
    row.append(f"{updates_per_chunk * chunks * num_members / run:,.0f}")
  if env_steps_per_chunk and run > 0:
    steps = env_steps_per_chunk * chunks * num_members
    columns += ["env steps/s (excl. compile)", "env steps/s (incl. compile)"]
    row += [f"{steps / run:,.0f}", f"{steps / (run + compile_s):,.0f}"]
  columns.append("measurement s")
  row.append("—" if timings.measure_seconds is None else f"{timings.measure_seconds:.1f}")
  launches = timings.launches
  devices = sorted({(x["devices"], x["processes"]) for x in launches})
  where = ", ".join(f"{d} device(s) × {p} process(es)" for d, p in devices) or "—"
  loads = "; ".join(x.get("load", "") for x in launches)
  caption = (f"Seconds of all {num_members} members over the run's {len(launches)} launch(es) "
             f"that ran chunks, on {where}; rates are of all members. The machine's {loads} "
             "at the end of each launch. Compile s counts init + the step's compilation; a warm "
             "persistent compilation cache makes it small (pass --cache_dir= to measure a cold "
             "compile).") if launches else "No chunk was timed by this code."
  return Table("Timings", columns, [row], caption, timed=True)
