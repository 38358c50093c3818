"""The experiment protocol every `experiments/<name>.py` follows (see docs/DESIGN.md).

`make(config) -> Experiment` does the static work and returns pure functions:
- `init(key, hparams) -> state` for ONE member (one seed at one sweep point),
- `step(state) -> (state, metrics)`: one chunk of work for one member (usually a `lax.scan`),
- `measure(final, info) -> dict` (optional): the measurement phase on the host, after the last
  chunk (timing programs, evaluating the final parameters); the runtime times it and stores its
  result in `measurements.json` (`research.runtime.measurement`),
- `report(final, history, info) -> Report` on the host: formats `final`, the history and
  `info.measurements` only, so a finished run's report can be re-rendered without recomputing.
The runtime vmaps `init`/`step` over the flat member axis, shards it over devices and hosts,
checkpoints, logs, measures and renders the report. Experiments never do I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from research.runtime.members import Members
from research.runtime.report import Report


class RunInfo(NamedTuple):
  """What `measure` and `report` may need to know about the run besides the results.

  The timings are the run's, over all its launches (from `timings.json`), so a resumed or
  re-rendered run reports the seconds its chunks took when they ran.
  """

  config: Any
  members: Members
  num_devices: int
  num_processes: int
  compile_seconds: float      # compilation of the launches that ran chunks
  run_seconds: float          # wall time of the run's chunks (compilation excluded)
  chunks_run: int             # chunks whose time is known (num_chunks for a finished run)
  measure_seconds: float = 0.0          # the measurement phase (0 before it or without one)
  measurements: Mapping[str, Any] = {}  # what `measure` returned, as stored (JSON data)


class Experiment(NamedTuple):
  """A run, as pure functions.

  Attributes:
    init: `(key, hparams) -> state` for one member; `hparams` maps every name of `hparams`
      below to a scalar array (the member's sweep value or the config's default).
    step: `state -> (state, metrics)`: one chunk for one member. `metrics` is a dict of arrays
      (scalars, or small vectors such as per-episode values within the chunk).
    num_chunks: how many times `step` runs.
    report: `(final, history, info) -> Report`, host-side NumPy. `final` is `finalize(state)`
      for every real member, stacked; `history[name]` is `[num_chunks, members, ...]`;
      `info.measurements` is what `measure` returned. Formats only: no timing, no training.
    measure: `(final, info) -> dict` or None: the measurement phase, on the host after the last
      chunk (compiling and timing programs, evaluating or sampling the final parameters). Its
      result (numbers, strings, lists, dicts, arrays; string keys) is stored as JSON in
      `measurements.json` and reaches `report` as `info.measurements` (arrays as lists); a
      relaunch of the finished run loads it instead of measuring again. Tables of timings it
      feeds are marked `Table(..., timed=True)`.
    hparams: the sweepable hyperparameters and their values from the config. Only these may
      appear in `config.sweep`; they reach `init` as arrays so a grid of them is vmapped.
    updates_per_chunk: updates per member per chunk (for the progress bar's updates/s).
    env_steps_per_chunk: environment steps per member per chunk (for env steps/s), 0 if none.
    finalize: `state -> pytree` per member, applied on device before the final state is fetched
      (e.g. drop a replay buffer); `None` fetches the whole state.
    log_members: write every member's metrics to metrics.jsonl (else their mean only).
    hparam_choices: names for integer hyperparameters' values, `{field: [name, ...]}`: a sweep
      may give `arm=grpo,ppo` for the indices of those names.
    check_config: `config -> None`, raising `ConfigError` (one line) for a config the experiment
      cannot run. `make` calls it on the config; the runtime calls it again on the config of
      every sweep point (the config with that point's values), so a swept value is checked as
      the same value given with `--config.field=...` is.
  """

  init: Callable[[Any, Mapping[str, Any]], Any]
  step: Callable[[Any], tuple[Any, dict]]
  num_chunks: int
  report: Callable[[Any, dict, RunInfo], Report]
  hparams: Mapping[str, Any] = {}
  updates_per_chunk: int = 0
  env_steps_per_chunk: int = 0
  finalize: Callable[[Any], Any] | None = None
  log_members: bool = True
  check_config: Callable[[Any], None] | None = None
  hparam_choices: Mapping[str, Sequence[str]] = {}
  measure: Callable[[Any, RunInfo], Mapping[str, Any]] | None = None
