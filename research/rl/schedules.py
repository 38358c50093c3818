"""Schedules of a step counter (ε, learning rate) and samplers fed with the caller's uniforms.

Schedules are functions of a step counter kept in the training state, so splitting a run into
chunks (or resuming it) does not change the values. The samplers take `u ~ U[0, 1)` instead of a
key: a training step can draw all its random numbers in one call and hand them out, which keeps
the number of random-number-generation sites (each a threefry kernel for XLA to compile) small.

See 'Human-level control through deep reinforcement learning' by V. Mnih et al.
(https://www.nature.com/articles/nature14236) for the linearly annealed ε.
"""

from __future__ import annotations

import chex
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


def uniform_from_bits(bits) -> jax.Array:
  """Uniform float32 numbers in `[0, 1)` from uint32 random bits (as `jax.random.uniform`).

  u = float32 with exponent 0 and the 23 high bits as mantissa, minus 1
  """
  bits = jnp.asarray(bits, jnp.uint32)
  one = jnp.asarray(0x3F800000, jnp.uint32)
  return jax.lax.bitcast_convert_type((bits >> 9) | one, jnp.float32) - 1.0


def categorical_from_uniform(u, logits) -> jax.Array:
  """Samples from `softmax(logits)` by inverse CDF with one uniform `u ∈ [0, 1)`.

      a = #{i < A − 1 : cdf_i ≤ u},   cdf_i = Σ_{j≤i} π_j

  Args:
    u: `[...]` uniforms.
    logits: `[..., A]` logits.

  Returns:
    `[...]` int32 actions.
  """
  chex.assert_equal_shape_prefix([u, logits], jnp.ndim(u))
  probs = jax.nn.softmax(logits, axis=-1)
  cdf = jnp.cumsum(probs, axis=-1)[..., :-1]
  return jnp.sum(cdf <= u[..., None], axis=-1).astype(jnp.int32)


def epsilon_greedy_from_uniform(u, q, epsilon) -> jax.Array:
  """An ε-greedy action from one uniform `u ∈ [0, 1)`: random if `u < ε`, else greedy.

      a = ⌊(u / ε) · A⌋ if u < ε, else argmax_a q[a] (ties to the lowest index)

  Given `u < ε`, `u / ε` is uniform on `[0, 1)`, so the random branch is uniform over actions.

  Args:
    u: `[...]` uniforms.
    q: `[..., A]` action values.
    epsilon: the exploration rate, scalar (may be traced).

  Returns:
    `[...]` int32 actions.
  """
  chex.assert_equal_shape_prefix([u, q], jnp.ndim(u))
  num_actions = q.shape[-1]
  explore = u < epsilon
  random_action = jnp.floor(u / jnp.maximum(epsilon, 1e-12) * num_actions).astype(jnp.int32)
  random_action = jnp.clip(random_action, 0, num_actions - 1)
  return jnp.where(explore, random_action, jnp.argmax(q, axis=-1).astype(jnp.int32))
