"""Orbax checkpoints of the whole run: sharded member state, metric history and chunk counter.

Saves are asynchronous (orbax copies device arrays to host, then writes in the background), every
`every` chunks, keeping the last `keep`. Restores go against an abstract target that carries the
shardings (`jax.eval_shape` of `init`: nothing is initialised to resume). A checkpoint whose state
has other shapes or dtypes than the target is a config mismatch (`ConfigError`), not corruption.
A checkpoint that fails to restore (corrupt, truncated) is skipped with a warning in favour of the
previous one and deleted, so the run's next saves are not refused by orbax (it declines to save
a step at or before its latest one); an interrupted save leaves a `*.orbax-checkpoint-tmp` folder
that orbax never lists. A save that orbax declines raises: it never silently does nothing.
"""

from __future__ import annotations

import logging
import pathlib
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from research.runtime.errors import ConfigError

log = logging.getLogger(__name__)


class Checkpointer:
  """A thin wrapper of `ocp.CheckpointManager` for `{"state", "history", "chunk"}` trees."""

  def __init__(self, directory: pathlib.Path, *, every: int, keep: int):
    self.every = every
    self.manager = ocp.CheckpointManager(
        pathlib.Path(directory).absolute(),
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, enable_async_checkpointing=True,
                                             create=True),
        item_handlers=ocp.StandardCheckpointHandler(),  # so a step's metadata reads before restore
    )

  def should_save(self, chunk_done: int, num_chunks: int) -> bool:
    """Save after every `every`-th chunk, and always after the last one."""
    return chunk_done == num_chunks or (self.every > 0 and chunk_done % self.every == 0)

  def save(self, chunk_done: int, tree) -> None:
    if not self.manager.save(chunk_done, args=ocp.args.StandardSave(tree)):
      raise RuntimeError(f"checkpoint {chunk_done} was not saved: orbax declined it (its latest "
                         f"step is {self.manager.latest_step()})")

  def restore_latest(self, abstract_tree):
    """Returns `(chunk, tree)` from the newest checkpoint that restores, or `(0, None)`.

    Raises:
      ConfigError: the newest checkpoint holds a state of other shapes than `abstract_tree`.
    """
    unreadable = []
    for step in sorted(self.manager.all_steps(), reverse=True):
      try:
        stored = self.manager.item_metadata(step).tree["state"]
      except Exception:  # noqa: BLE001 - no metadata: the restore below reports the failure
        stored = None
      if stored is not None:
        _check_shapes(stored, abstract_tree["state"], step, self.manager.directory)
      try:
        tree = self.manager.restore(step, args=ocp.args.StandardRestore(abstract_tree))
      except Exception as e:  # noqa: BLE001 - any failure means this checkpoint is unusable
        log.warning("checkpoint %d could not be restored (%s: %s); trying an older one",
                    step, type(e).__name__, str(e).splitlines()[0][:200] if str(e) else "")
        print(f"warning: checkpoint {step} is unreadable ({type(e).__name__}); "
              "trying an older one", flush=True)
        unreadable.append(step)
        continue
      self._delete(unreadable)
      return step, tree
    self._delete(unreadable)
    return 0, None

  def _delete(self, steps) -> None:
    for step in steps:
      self.manager.delete(step)
      print(f"warning: deleted unreadable checkpoint {step}", flush=True)

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()


def _leaves(tree) -> dict[tuple[str, ...], Any]:
  """{path as names: leaf}: dict keys, attribute names and indices alike (orbax's metadata stores
  every container as a dict)."""
  def name(k):
    for attr in ("key", "name", "idx"):
      if hasattr(k, attr):
        return str(getattr(k, attr))
    return str(k)
  return {tuple(name(k) for k in path): leaf
          for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}


def _stored_form(leaf):
  """Shape and dtype of a target leaf as orbax stores it (typed PRNG keys as their raw data)."""
  if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
    leaf = jax.eval_shape(jax.random.key_data, leaf)
  return tuple(leaf.shape), np.dtype(leaf.dtype)


def _check_shapes(stored, target, step: int, directory) -> None:
  """Raises ConfigError naming the first leaf whose stored shape or dtype differs from target."""
  have, want = _leaves(stored), _leaves(target)
  problem = None
  if set(have) != set(want):
    diff = sorted(set(have) ^ set(want))
    problem = "its state has other fields (" + ", ".join(".".join(p) for p in diff[:3]) + ")"
  else:
    for path, leaf in want.items():
      shape, dtype = _stored_form(leaf)
      got = have[path]
      if tuple(got.shape) != shape or np.dtype(got.dtype) != dtype:
        problem = (f"state.{'.'.join(path)} is {tuple(got.shape)} {np.dtype(got.dtype)} there "
                   f"and {shape} {dtype} in this run")
        break
  if problem:
    raise ConfigError(f"checkpoint {step} in {directory} does not match this run's state: "
                      f"{problem}. The config or the experiment's code changed since it was "
                      "written; choose another --workdir, or add --restart to delete that run")
