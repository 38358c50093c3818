"""Devices and hosts: the one-axis `"seeds"` mesh, placing member arrays, gathering results.

Seeds (the flat member axis) are sharded over every device of every host with `jax.jit` on
arrays placed with `NamedSharding(mesh, P("seeds"))`; each process owns the members on its devices.
"""

from __future__ import annotations

import os

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

AXIS = "seeds"


def maybe_initialize_distributed(multihost: bool, *, coordinator_address=None, num_processes=None,
                                 process_id=None) -> None:
  """Calls `jax.distributed.initialize` when asked: `multihost` or an explicit coordinator.

  With no explicit arguments JAX detects SLURM (under `srun`), Open MPI and TPU pods itself. A
  cluster's environment alone never triggers it: a plain `python launch.py` inside a multi-task
  SLURM allocation, not started by `srun` on every task, would wait for processes that never
  come. It runs as one process and says so.
  """
  if not (multihost or coordinator_address):
    tasks = os.environ.get("SLURM_NTASKS", "1")
    if tasks.isdigit() and int(tasks) > 1:
      print(f"note: SLURM allocation of {tasks} tasks, but this is one process (no --multihost): "
            "to use them all, run `srun python launch.py --multihost ...`", flush=True)
    return
  kwargs = {}
  if coordinator_address:
    kwargs = dict(coordinator_address=coordinator_address, num_processes=num_processes,
                  process_id=process_id)
  jax.distributed.initialize(**kwargs)


def seed_sharding() -> NamedSharding:
  """Sharding of every member-leading array: the leading axis split over all devices."""
  mesh = jax.make_mesh((jax.device_count(),), (AXIS,),
                       axis_types=(jax.sharding.AxisType.Auto,))
  return NamedSharding(mesh, P(AXIS))


def put_members(array: np.ndarray, sharding: NamedSharding) -> jax.Array:
  """Places a host array (identical on every process) as a global array sharded on members."""
  array = np.asarray(array)
  return jax.make_array_from_callback(array.shape, sharding, lambda index: array[index])


def is_primary() -> bool:
  return jax.process_index() == 0


def to_host(tree):
  """Fetches a (possibly multi-host sharded) pytree of arrays to NumPy on every process."""
  if jax.process_count() == 1:
    return jax.device_get(tree)
  return multihost_utils.process_allgather(tree, tiled=True)


def sync(name: str) -> None:
  """Waits until every process gets here (nothing to do with one process)."""
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(name)


def any_process(flag: bool) -> bool:
  """True when `flag` is true on any process (a collective: every process must call it)."""
  if jax.process_count() == 1:
    return flag
  flags = multihost_utils.process_allgather(np.asarray([flag], dtype=np.int32))
  return bool(np.any(flags))
