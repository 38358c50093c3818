"""A uniform replay buffer that lives in the jitted state, and target-network updates.

The buffer is a pure `init / add / sample` trio over an optax-style `NamedTuple` state: a ring of
fixed capacity holding any pytree of transitions, written in batches, sampled uniformly among the
items written so far (so it is correct before it is full). Everything has static shapes, works
under `jit` and `vmap` (one buffer per seed), and can be checkpointed with the rest of the state.

See 'Human-level control through deep reinforcement learning' by V. Mnih et al.
(https://www.nature.com/articles/nature14236) for experience replay and target networks, and
'Continuous control with deep reinforcement learning' by T. P. Lillicrap et al.
(https://arxiv.org/abs/1509.02971) for Polyak (soft) target updates.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp


class ReplayState(NamedTuple):
  """The buffer's contents.

  Attributes:
    storage: the transitions, a pytree whose leaves are `[capacity, ...]`.
    position: where the next item is written, int32 scalar in `[0, capacity)`.
    size: how many items hold data, int32 scalar in `[0, capacity]`.
  """

  storage: Any
  position: jax.Array
  size: jax.Array


class ReplayBuffer(NamedTuple):
  """The pure functions of a buffer of fixed capacity (see `uniform_replay`)."""

  init: Callable[[Any], ReplayState]
  add: Callable[[ReplayState, Any], ReplayState]
  sample: Callable[[ReplayState, Any, int], Any]
  can_sample: Callable[[ReplayState, int], jax.Array]


def _capacity(state: ReplayState) -> int:
  return jax.tree.leaves(state.storage)[0].shape[0]


def replay_init(example, capacity: int) -> ReplayState:
  """An empty buffer for items shaped like `example` (one transition, a pytree of arrays).

  Args:
    example: one item; only shapes and dtypes are used.
    capacity: the number of items kept, a positive Python int.

  Returns:
    The empty `ReplayState`.
  """
  if not isinstance(capacity, int) or capacity < 1:
    raise ValueError(f"capacity must be a positive int, got {capacity!r}")
  storage = jax.tree.map(
    lambda x: jnp.zeros((capacity, *jnp.shape(x)), jnp.asarray(x).dtype), example
  )
  return ReplayState(storage, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))


def replay_add(state: ReplayState, items) -> ReplayState:
  """Writes a batch of items (leaves `[B, ...]`, `B ≤ capacity`) over the oldest ones.

      storage[(position + i) mod capacity] = items[i],   i < B
      position ← (position + B) mod capacity,   size ← min(size + B, capacity)

  Args:
    state: the buffer.
    items: a pytree like the buffer's items with a leading batch axis `B`.

  Returns:
    The new state.
  """
  capacity = _capacity(state)
  leaves = jax.tree.leaves(items)
  batch = leaves[0].shape[0]
  chex.assert_tree_shape_prefix(items, (batch,))
  if batch > capacity:
    raise ValueError(f"cannot add {batch} items to a buffer of capacity {capacity}")
  index = (state.position + jnp.arange(batch, dtype=jnp.int32)) % capacity
  storage = jax.tree.map(lambda s, x: s.at[index].set(x.astype(s.dtype)), state.storage, items)
  return ReplayState(
    storage,
    (state.position + batch) % capacity,
    jnp.minimum(state.size + batch, capacity).astype(jnp.int32),
  )


def replay_indices(state: ReplayState, uniform) -> jax.Array:
  """Uniform indices among the items written so far from uniform numbers `u ∈ [0, 1)`.

      index = min(⌊u · size⌋, size − 1)

  Lets a caller derive the indices from random numbers it drew for other purposes too.

  Args:
    state: the buffer.
    uniform: `[B]` floats in `[0, 1)`.

  Returns:
    `[B]` int32 indices in `[0, max(size, 1))`.
  """
  size = jnp.maximum(state.size, 1)
  index = jnp.floor(uniform * size.astype(uniform.dtype)).astype(jnp.int32)
  return jnp.clip(index, 0, size - 1)


def replay_gather(state: ReplayState, indices):
  """The items at `indices` (`[B]` ints): a pytree with leaves `[B, ...]`."""
  return jax.tree.map(lambda s: s[indices], state.storage)


def replay_sample(state: ReplayState, key, batch_size: int):
  """`batch_size` items drawn uniformly with replacement among the `size` items written so far.

  Before anything was added, `size = 0` and the zeros at index 0 come back; check
  `replay_can_sample` (or mask the update) first.

  Args:
    state: the buffer.
    key: a PRNG key.
    batch_size: a Python int.

  Returns:
    A pytree with leaves `[batch_size, ...]`.
  """
  u = jax.random.uniform(key, (batch_size,))
  return replay_gather(state, replay_indices(state, u))


def replay_can_sample(state: ReplayState, batch_size: int) -> jax.Array:
  """Whether at least `batch_size` items were written (a bool scalar)."""
  return state.size >= batch_size


def uniform_replay(capacity: int) -> ReplayBuffer:
  """The optax-style trio for a uniform ring buffer of `capacity` items.

      buffer = uniform_replay(10_000)
      state = buffer.init(example_transition)
      state = buffer.add(state, batch_of_transitions)
      batch = buffer.sample(state, key, 128)

  Args:
    capacity: the number of items kept.

  Returns:
    A `ReplayBuffer` of pure functions.
  """
  return ReplayBuffer(
    init=lambda example: replay_init(example, capacity),
    add=replay_add,
    sample=replay_sample,
    can_sample=replay_can_sample,
  )


def polyak_update(online, target, *, tau):
  """Soft target-network update `θ⁻ ← τ θ + (1 − τ) θ⁻` (τ = 1 copies).

  Args:
    online: the online parameters (a pytree).
    target: the target parameters (same structure).
    tau: the step size τ ∈ [0, 1], scalar (may be traced).

  Returns:
    The new target parameters.
  """
  return jax.tree.map(lambda o, t: tau * o + (1.0 - tau) * t, online, target)


def periodic_update(online, target, step, *, period):
  """Hard target-network update: copy `online` into `target` when `step % period == 0`.

  Args:
    online: the online parameters.
    target: the target parameters.
    step: an int scalar (e.g. the number of gradient steps taken, after this one).
    period: the copy period (Python int or int scalar).

  Returns:
    The new target parameters.
  """
  copy = (step % period) == 0
  return jax.tree.map(lambda o, t: jnp.where(copy, o, t), online, target)
