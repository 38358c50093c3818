"""The experiment protocol every `experiments/<name>.py` follows (see docs/DESIGN.md).

`make(config) -> Experiment` does the static work and returns pure functions:
- `init(key, hparams) -> state` for ONE member (one seed at one sweep point),
- `step(state) -> (state, metrics)`: one chunk of work for one member (usually a `lax.scan`),
- `report(final, history, info) -> Report` on the host, after the last chunk.
The runtime vmaps `init`/`step` over the flat member axis, shards it over devices and hosts,
checkpoints, logs and renders the report. Experiments never do I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from research.runtime.members import Members
from research.runtime.report import Report


class RunInfo(NamedTuple):
  """What `report` may need to know about the run besides the results."""

  config: Any
  members: Members
  num_devices: int
  num_processes: int
  compile_seconds: float
  run_seconds: float          # wall time of the chunks run by this launch (compilation excluded)
  chunks_run: int             # chunks run by this launch (fewer than num_chunks after a resume)


class Experiment(NamedTuple):
  """A run, as pure functions.

  Attributes:
    init: `(key, hparams) -> state` for one member; `hparams` maps every name of `hparams`
      below to a scalar array (the member's sweep value or the config's default).
    step: `state -> (state, metrics)`: one chunk for one member. `metrics` is a dict of arrays
      (scalars, or small vectors such as per-episode values within the chunk).
    num_chunks: how many times `step` runs.
    report: `(final, history, info) -> Report`, host-side NumPy. `final` is `finalize(state)`
      for every real member, stacked; `history[name]` is `[num_chunks, members, ...]`.
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
