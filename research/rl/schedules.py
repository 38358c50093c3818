"""Schedules of a step counter (ε, learning rate).

Schedules are functions of a step counter kept in the training state, so splitting a run into
chunks (or resuming it) does not change the values. (The samplers fed with uniforms that lived
here are in `research.rng`, re-exported by `research.rl`.)

See 'Human-level control through deep reinforcement learning' by V. Mnih et al.
(https://www.nature.com/articles/nature14236) for the linearly annealed ε.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def linear_schedule(step, *, start, end, duration, begin=0) -> jax.Array:
  """Linear interpolation from `start` to `end` over `duration` steps, constant outside.

      value(step) = start + (end − start) · clip((step − begin) / duration, 0, 1)

  Args:
    step: the step counter (int or float scalar, may be traced).
    start: the value at and before `begin`.
    end: the value from `begin + duration` on.
    duration: the number of steps of the ramp (> 0).
    begin: the step where the ramp starts.

  Returns:
    The value, a float scalar.
  """
  frac = jnp.clip((jnp.asarray(step, jnp.float32) - begin) / duration, 0.0, 1.0)
  return start + (end - start) * frac
