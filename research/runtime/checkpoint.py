"""Orbax checkpoints of the whole run: sharded member state, metric history and chunk counter.

Saves are asynchronous (orbax copies device arrays to host, then writes in the background), every
`every` chunks, keeping the last `keep`. Restores go against an abstract target that carries the
shardings. A checkpoint that fails to restore (corrupt, truncated) is skipped with a warning in
favour of the previous one; an interrupted save leaves a `*.orbax-checkpoint-tmp` folder that orbax
never lists.
"""

from __future__ import annotations

import logging
import pathlib

import jax
import orbax.checkpoint as ocp

log = logging.getLogger(__name__)


class Checkpointer:
  """A thin wrapper of `ocp.CheckpointManager` for `{"state", "history", "chunk"}` trees."""

  def __init__(self, directory: pathlib.Path, *, every: int, keep: int):
    self.every = every
    self.manager = ocp.CheckpointManager(
        pathlib.Path(directory).absolute(),
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, enable_async_checkpointing=True,
                                             create=True),
    )

  def should_save(self, chunk_done: int, num_chunks: int) -> bool:
    """Save after every `every`-th chunk, and always after the last one."""
    return chunk_done == num_chunks or (self.every > 0 and chunk_done % self.every == 0)

  def save(self, chunk_done: int, tree) -> None:
    if chunk_done in self.manager.all_steps():
      return
    self.manager.save(chunk_done, args=ocp.args.StandardSave(tree))

  def restore_latest(self, abstract_tree):
    """Returns `(chunk, tree)` from the newest checkpoint that restores, or `(0, None)`."""
    for step in sorted(self.manager.all_steps(), reverse=True):
      try:
        tree = self.manager.restore(step, args=ocp.args.StandardRestore(abstract_tree))
      except Exception as e:  # noqa: BLE001 - any failure means this checkpoint is unusable
        log.warning("checkpoint %d could not be restored (%s: %s); trying an older one",
                    step, type(e).__name__, str(e).splitlines()[0][:200] if str(e) else "")
        print(f"warning: checkpoint {step} is unreadable ({type(e).__name__}); "
              "trying an older one", flush=True)
        continue
      return step, tree
    return 0, None

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()


def abstract_like(tree):
  """ShapeDtypeStructs (with shardings for jax arrays) describing `tree`, for restoring."""
  def leaf(x):
    if isinstance(x, jax.Array):
      return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding)
    return x
  return jax.tree.map(leaf, tree)
