"""`run`: one code path for every experiment (docs/DESIGN.md, "How a run flows")."""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import sys
import time
from typing import Any, NamedTuple

import jax
import numpy as np

from research.runtime import devices, outputs
from research.runtime import measurement as measurement_lib
from research.runtime import workdir as workdir_lib
from research.runtime.checkpoint import Checkpointer
from research.runtime.errors import ConfigError, NonFiniteError
from research.runtime.experiment import Experiment, RunInfo
from research.runtime.members import build_members, pad, padded_size
from research.runtime.report import Report, markdown_table


class RunResult(NamedTuple):
  """What `run` returns: the report (None when preempted), the status and timings."""

  report: Report | None
  status: str                 # "completed" | "preempted"
  info: RunInfo


def setup_compilation_cache(cache_dir: str | os.PathLike | None) -> None:
  """Turns on JAX's persistent compilation cache so a second launch of a config starts fast."""
  if not cache_dir:
    return
  pathlib.Path(cache_dir).expanduser().mkdir(parents=True, exist_ok=True)
  jax.config.update("jax_compilation_cache_dir", str(pathlib.Path(cache_dir).expanduser()))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


class _Preemption:
  """Turns SIGTERM into a flag checked between chunks (the handler does nothing else)."""

  def __init__(self):
    self.requested = False
    self._previous = None

  def __enter__(self):
    with contextlib.suppress(ValueError):  # not the main thread: no handler
      self._previous = signal.signal(signal.SIGTERM, self._handle)
    return self

  def _handle(self, signum, frame):
    del signum, frame
    self.requested = True

  def __exit__(self, *exc):
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)


def _member_keys(seed: int, seed_index):
  return jax.vmap(lambda i: jax.random.fold_in(jax.random.key(seed), i))(seed_index)


def run(experiment: Experiment, config, workdir, *, progress: bool = True, restart: bool = False,
        echo=print) -> RunResult:
  """Runs an experiment over all members, resuming from the work directory's latest checkpoint.

  The work directory belongs to one run (`research.runtime.workdir`): a launch with another
  config raises ConfigError naming the fields that differ, unless `restart`.

  Args:
    experiment: what `experiments.<name>.make(config)` returned.
    config: the (locked) ConfigDict; common fields as in `research.runtime.config.base_config`.
    workdir: where config.json, metrics.jsonl, checkpoints/, results and plots go.
    progress: show a progress bar (process 0 only).
    restart: delete the run already in `workdir` (its files only) and start this one.
    echo: where one-line status messages go.
  """
  primary = devices.is_primary()
  if experiment.num_chunks < 1:
    raise ConfigError(f"the experiment has num_chunks={experiment.num_chunks}; needs ≥ 1")
  if int(config.checkpoint_every) < 0 or int(config.keep_checkpoints) < 1:
    raise ConfigError("config.checkpoint_every must be ≥ 0 (0: only after the last chunk) and "
                      f"config.keep_checkpoints ≥ 1, got {config.checkpoint_every} and "
                      f"{config.keep_checkpoints}")
  members = build_members(num_seeds=config.num_seeds, defaults=dict(experiment.hparams),
                          sweep=config.get("sweep", ""), choices=experiment.hparam_choices)
  _check_sweep_points(experiment, config, members)
  workdir = workdir_lib.prepare(workdir) if primary else pathlib.Path(workdir)
  if restart and primary:
    removed = workdir_lib.clear(workdir)
    if removed:
      echo(f"--restart: deleted the run in {workdir} ({', '.join(removed)})")
  devices.sync("workdir ready")
  echo(f"work directory: {workdir}")
  flat = workdir_lib.flat_config(config)
  record = workdir_lib.read_record(workdir)
  mode = workdir_lib.check_continuation(workdir, record, flat,
                                        checkpoints=workdir_lib.has_checkpoints(workdir))
  saved = workdir_lib.checkpoint_steps(workdir)
  if mode != "fresh" and saved[-1] > experiment.num_chunks:  # before anything is rewritten
    raise ConfigError(f"{workdir} holds a checkpoint at chunk {saved[-1]} but the config asks for "
                      f"{experiment.num_chunks} chunks; choose another --workdir")
  num_members = members.num_members
  sharding = devices.seed_sharding()
  size = padded_size(num_members, jax.device_count())
  seed_index = devices.put_members(pad(members.seed_index.astype(np.uint32), size), sharding)
  hparams = {k: devices.put_members(pad(v, size), sharding) for k, v in members.hparams.items()}

  seed = int(config.seed)
  init_all = jax.jit(lambda i, h: jax.vmap(experiment.init)(_member_keys(seed, i), h),
                     out_shardings=sharding)
  step_all = jax.jit(jax.vmap(experiment.step), donate_argnums=0, out_shardings=sharding)

  t0 = time.perf_counter()
  state_shape = jax.eval_shape(init_all, seed_index, hparams)
  state_abstract = jax.tree.map(
      lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding), state_shape)
  step_lowered = step_all.lower(state_abstract)
  program = workdir_lib.fingerprint(step_lowered.as_text())
  if mode == "extend":
    workdir_lib.check_extension(workdir, record, program, config)
  if primary:  # the record first: the checkpoints written below are this config's
    workdir_lib.write_record(workdir, workdir_lib.Record(flat, program))
    outputs.write_config(workdir, config)
  step_compiled = step_lowered.compile()
  compile_seconds = time.perf_counter() - t0

  _, metrics_shape = jax.eval_shape(jax.vmap(experiment.step), state_abstract)
  num_chunks = experiment.num_chunks
  # float64 for every metric (NaN marks chunks not run yet; ints and bools convert exactly).
  history = {name: np.full((num_chunks, num_members, *s.shape[1:]), np.nan)
             for name, s in metrics_shape.items()}

  checkpointer = Checkpointer(workdir / workdir_lib.CHECKPOINTS,
                              every=int(config.checkpoint_every),
                              keep=int(config.keep_checkpoints))
  start, restored = 0, None
  if mode != "fresh":  # restored against the abstract state: `init` does not run on a resume
    start, restored = checkpointer.restore_latest(
        {"state": state_abstract, "history": history, "chunk": np.asarray(0)})
  if restored is not None:   # start ≤ num_chunks: checked above, before anything was written
    state = restored["state"]
    for name, rows in restored["history"].items():  # a longer run of the same config: extend
      history[name][: min(len(rows), num_chunks)] = rows[:num_chunks]
    echo(f"resumed from checkpoint at chunk {start}/{num_chunks} in {workdir}")
  else:
    t = time.perf_counter()
    init_compiled = init_all.lower(seed_index, hparams).compile()
    compile_seconds += time.perf_counter() - t
    state = init_compiled(seed_index, hparams)
  points = len(members.points)
  echo(f"{num_members} members ({points} sweep point{'s' if points != 1 else ''} × "
       f"{members.num_seeds} seeds) "
       f"on {jax.device_count()} device(s), {jax.process_count()} process(es); "
       f"compiled in {compile_seconds:.2f} s")

  timings = measurement_lib.RunTimings(workdir, num_chunks=num_chunks, start=start,
                                       fresh=restored is None, write=primary)
  timings.start_launch(start_chunk=start, compile_seconds=compile_seconds,
                       devices=jax.device_count(), processes=jax.process_count())
  writer = None
  if primary:
    writer = outputs.MetricsWriter(workdir, start_chunk=start,
                                   tensorboard=bool(config.get("tensorboard", True)))
  bar = _progress_bar(progress and primary, num_chunks, start)
  status = "completed"
  try:
    with _Preemption() as preemption:
      for chunk in range(start, num_chunks):
        t = time.perf_counter()
        state, metrics = step_compiled(state)
        metrics = {k: np.asarray(v)[:num_members] for k, v in devices.to_host(metrics).items()}
        elapsed = time.perf_counter() - t
        timings.chunk_done(chunk, elapsed)
        for name, value in metrics.items():
          history[name][chunk] = value
        if writer is not None:
          _log(writer, experiment, members, chunk, metrics)
        if config.get("nan_guard", True):
          _check_finite(metrics, members, chunk, checkpointer)
        preempted = devices.any_process(preemption.requested)
        if checkpointer.should_save(chunk + 1, num_chunks) or preempted:
          checkpointer.save(chunk + 1, {"state": state, "history": history,
                                        "chunk": np.asarray(chunk + 1)})
        if bar is not None:
          bar.update(1)
          bar.set_postfix_str(_throughput(experiment, num_members, elapsed))
        if preempted:
          status = "preempted"
          checkpointer.wait()
          echo(f"preempted (SIGTERM): saved chunk {chunk + 1}/{num_chunks}; "
               "rerun the same command to resume")
          break
  finally:
    if bar is not None:
      bar.close()
    if writer is not None:
      writer.close()
    checkpointer.close()

  info = RunInfo(config, members, jax.device_count(), jax.process_count(),
                 timings.compile_seconds, timings.run_seconds, timings.chunks_run)
  if status != "completed":
    return RunResult(None, status, info)
  finalize = jax.jit(lambda s: _key_data(jax.vmap(experiment.finalize or (lambda x: x))(s)))
  final = jax.tree.map(lambda x: np.asarray(x)[:num_members], devices.to_host(finalize(state)))
  measure = (None if experiment.measure is None else lambda: experiment.measure(final, info))
  measurements, measure_seconds = measurement_lib.measure_or_load(
      measure, workdir, identity={"program": program, "num_chunks": num_chunks},
      timings=timings, write=primary, echo=echo)
  info = info._replace(measure_seconds=measure_seconds, measurements=measurements)
  report = experiment.report(final, history, info)
  report = report._replace(tables=[*report.tables, measurement_lib.timing_table(
      timings, updates_per_chunk=experiment.updates_per_chunk,
      env_steps_per_chunk=experiment.env_steps_per_chunk, num_members=num_members)])
  if primary:
    outputs.write_report(workdir, report)
    if experiment.finalize is not None:  # without it `final` is the whole state: not saved
      outputs.write_final(workdir, final, members)
    for table in report.tables:
      echo(markdown_table(table) + "\n")
    echo(f"results in {workdir}/results.md")
  return RunResult(report, status, info)


def _check_sweep_points(experiment: Experiment, config, members) -> None:
  """Applies the experiment's config checks to every sweep point's config."""
  if experiment.check_config is None or len(members.points) < 2 and not members.points[0]:
    return
  for p, point in enumerate(members.points):
    point_config = config.copy_and_resolve_references()
    with point_config.unlocked():
      for field, value in point.items():
        if field in point_config:
          point_config[field] = type(point_config[field])(value)
    try:
      experiment.check_config(point_config)
    except ConfigError as e:
      raise ConfigError(f"config.sweep point {members.point_label(p)}: {e}") from None


def _key_data(tree):
  """PRNG key arrays as their raw uint32 data (NumPy cannot hold typed keys)."""
  is_key = lambda x: jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)
  return jax.tree.map(lambda x: jax.random.key_data(x) if is_key(x) else x, tree)


def _log(writer, experiment, members, chunk, metrics) -> None:
  step = (chunk + 1) * max(experiment.updates_per_chunk, 1)
  scalars = {}
  for name, value in metrics.items():
    per_member = value.reshape(len(value), -1).mean(axis=1) if value.ndim > 1 else value
    if len(members.points) > 1:
      for p in range(len(members.points)):
        scalars[f"{name}/{members.point_label(p)}"] = float(
            per_member[members.point_index == p].mean())
    else:
      scalars[name] = float(per_member.mean())
  values = metrics if experiment.log_members else {k: float(v.mean()) for k, v in metrics.items()}
  writer.write(chunk, step, values, scalars)


def _check_finite(metrics, members, chunk, checkpointer) -> None:
  for name, value in metrics.items():
    if not np.issubdtype(value.dtype, np.floating):
      continue
    finite = np.isfinite(value.reshape(len(value), -1)).all(axis=1)
    if not finite.all():
      bad = int(np.argmin(finite))
      checkpointer.wait()
      raise NonFiniteError(f"non-finite metric '{name}' for {members.describe(bad)} at chunk "
                           f"{chunk}; metrics up to it are in metrics.jsonl, the last good "
                           "checkpoint is kept")


def _throughput(experiment, num_members, seconds) -> str:
  seconds = max(seconds, 1e-9)
  parts = []
  if experiment.updates_per_chunk:
    parts.append(f"{experiment.updates_per_chunk * num_members / seconds:,.0f} updates/s")
  if experiment.env_steps_per_chunk:
    parts.append(f"{experiment.env_steps_per_chunk * num_members / seconds:,.0f} env steps/s")
  return ", ".join(parts)


def _progress_bar(enabled: bool, total: int, initial: int) -> Any:
  if not enabled:
    return None
  from tqdm import tqdm

  return tqdm(total=total, initial=initial, unit="chunk", file=sys.stderr, dynamic_ncols=True,
              mininterval=0.5)
