"""Multi-step returns and advantages of one trajectory (batch with `jax.vmap`), as in rlax.

Time indexing follows rlax: for a trajectory of `T` transitions, `r_t[i]` and `discount_t[i]`
belong to the transition into the state whose value is `v_t[i]` (so `v_t` holds the values of
states 1…T); `discount_t = γ (1 − done_t)` carries episode ends. The recursions run backwards with
a reverse `lax.scan` (no `cumsum`). Returns are not wrapped in `stop_gradient` unless asked
(`stop_target_gradients=False` by default, as in rlax).

See 'Reinforcement Learning: An Introduction' (2nd ed.) by R. S. Sutton and A. G. Barto, ch. 7
and 12 (http://incompleteideas.net/book/the-book-2nd.html).
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from research import checks
from research.rl._common import maybe_stop_gradient


def _reverse_scan(f, init, xs):
  _, ys = jax.lax.scan(lambda acc, x: (f(acc, x),) * 2, init, xs, reverse=True)
  return ys


def discounted_returns(r_t, discount_t, v_t, *, stop_target_gradients=False) -> jax.Array:
  """Discounted returns of a trajectory, bootstrapped at its end.

      G_{T−1} = r_{T−1} + discount_{T−1} · v,   G_i = r_i + discount_i · G_{i+1}

  where `v = v_t` if `v_t` is a scalar, and `v = v_t[−1]` if it is a `[T]` vector (as rlax, only
  the last value is used).

  See 'Reinforcement Learning: An Introduction' (2nd ed.) by R. S. Sutton and A. G. Barto,
  ch. 3.3 (http://incompleteideas.net/book/the-book-2nd.html).

  Args:
    r_t: rewards `[T]`.
    discount_t: discounts `[T]`.
    v_t: bootstrap value, scalar or `[T]`.
    stop_target_gradients: whether to stop gradients through the returns.

  Returns:
    Returns `[T]`.
  """
  chex.assert_rank([r_t, discount_t, v_t], [1, 1, {0, 1}])
  chex.assert_type([r_t, discount_t, v_t], float)
  chex.assert_equal_shape([r_t, discount_t])
  r_t, discount_t, v_t = jnp.asarray(r_t), jnp.asarray(discount_t), jnp.asarray(v_t)
  if v_t.ndim == 1:
    chex.assert_equal_shape([r_t, v_t])
    v_t = v_t[-1]
  dtype = jnp.result_type(r_t, discount_t, v_t)
  r_t, discount_t, v_t = r_t.astype(dtype), discount_t.astype(dtype), v_t.astype(dtype)
  returns = _reverse_scan(lambda g, x: x[0] + x[1] * g, v_t, (r_t, discount_t))
  return maybe_stop_gradient(returns, stop_target_gradients)


def lambda_returns(r_t, discount_t, v_t, lambda_=1.0, *, stop_target_gradients=False) -> jax.Array:
  """λ-returns of a trajectory, bootstrapped at its end with the last value.

      G_{T−1} = r_{T−1} + discount_{T−1} · v_{T−1},
      G_i = r_i + discount_i · [(1 − λ_i) v_i + λ_i G_{i+1}]

  `λ = 1` gives the discounted returns bootstrapped from `v_t[−1]`; `λ = 0` the one-step targets
  `r_i + discount_i · v_i`.

  See 'Reinforcement Learning: An Introduction' (2nd ed.) by R. S. Sutton and A. G. Barto,
  ch. 12.1 (http://incompleteideas.net/book/the-book-2nd.html).

  Args:
    r_t: rewards `[T]`.
    discount_t: discounts `[T]`.
    v_t: values of the states reached, `[T]`.
    lambda_: mixing parameter, scalar or `[T]`.
    stop_target_gradients: whether to stop gradients through the returns.

  Returns:
    λ-returns `[T]`.
  """
  chex.assert_rank([r_t, discount_t, v_t, lambda_], [1, 1, 1, {0, 1}])
  chex.assert_type([r_t, discount_t, v_t, lambda_], float)
  chex.assert_equal_shape([r_t, discount_t, v_t])
  r_t, discount_t, v_t = jnp.asarray(r_t), jnp.asarray(discount_t), jnp.asarray(v_t)
  dtype = jnp.result_type(r_t, discount_t, v_t, lambda_)
  lambda_ = jnp.ones_like(discount_t, dtype=dtype) * lambda_
  r_t, discount_t, v_t, lambda_ = (x.astype(dtype) for x in (r_t, discount_t, v_t, lambda_))

  def step(g, x):
    r, d, v, lam = x
    return r + d * ((1.0 - lam) * v + lam * g)

  returns = _reverse_scan(step, v_t[-1], (r_t, discount_t, v_t, lambda_))
  return maybe_stop_gradient(returns, stop_target_gradients)


def n_step_bootstrapped_returns(
  r_t, discount_t, v_t, n, *, lambda_t=1.0, stop_target_gradients=False
) -> jax.Array:
  """n-step (optionally λ-mixed) returns, truncated at the trajectory end.

      G_i = Σ_{k<n} (Π_{j<k} discount_{i+j}) r_{i+k} + (Π_{j<n} discount_{i+j}) v_{i+n−1}

  Past the end of the trajectory, rewards are 0, discounts 1 and values `v_t[−1]`, so the last
  `n − 1` targets bootstrap with the last value. With `lambda_t < 1` each step mixes
  `(1 − λ) v + λ G` as in `lambda_returns`; `n ≥ T` then equals `lambda_returns`.

  See 'Reinforcement Learning: An Introduction' (2nd ed.) by R. S. Sutton and A. G. Barto, ch. 7.1
  (http://incompleteideas.net/book/the-book-2nd.html).

  Args:
    r_t: rewards `[T]`.
    discount_t: discounts `[T]`.
    v_t: values of the states reached, `[T]`.
    n: number of steps, a positive Python int.
    lambda_t: mixing parameter, scalar or `[T]`.
    stop_target_gradients: whether to stop gradients through the returns.

  Returns:
    n-step returns `[T]`.
  """
  chex.assert_rank([r_t, discount_t, v_t, lambda_t], [1, 1, 1, {0, 1}])
  chex.assert_type([r_t, discount_t, v_t, lambda_t], float)
  chex.assert_equal_shape([r_t, discount_t, v_t])
  n = checks.static_int(n, "n")
  r_t, discount_t, v_t = jnp.asarray(r_t), jnp.asarray(discount_t), jnp.asarray(v_t)
  dtype = jnp.result_type(r_t, discount_t, v_t, lambda_t)
  lambda_t = jnp.ones_like(discount_t, dtype=dtype) * lambda_t
  r_t, discount_t, v_t, lambda_t = (x.astype(dtype) for x in (r_t, discount_t, v_t, lambda_t))
  seq_len = r_t.shape[0]
  # Pad to T + n − 1: zero rewards, unit discounts and lambdas, the last value repeated.
  pad = n - 1
  r_p = jnp.concatenate([r_t, jnp.zeros((pad,), dtype)])
  d_p = jnp.concatenate([discount_t, jnp.ones((pad,), dtype)])
  l_p = jnp.concatenate([lambda_t, jnp.ones((pad,), dtype)])
  v_p = jnp.concatenate([v_t, jnp.full((pad,), v_t[-1], dtype)])
  targets = v_p[n - 1 : n - 1 + seq_len]

  # Work backwards over the n steps, each a shifted window of the padded sequences.
  def body(j, targets):
    i = n - 1 - j
    r, d, lam, v = (jax.lax.dynamic_slice_in_dim(x, i, seq_len) for x in (r_p, d_p, l_p, v_p))
    return r + d * ((1.0 - lam) * v + lam * targets)

  targets = jax.lax.fori_loop(0, n, body, targets)
  return maybe_stop_gradient(targets, stop_target_gradients)


def gae(r_t, discount_t, lambda_, values, *, stop_target_gradients=False) -> jax.Array:
  """Truncated generalized advantage estimation, `rlax.truncated_generalized_advantage_estimation`.

      δ_i = r_i + discount_i · values[i+1] − values[i],   A_i = δ_i + discount_i · λ_i · A_{i+1},
      A_T = 0

  `λ = 1` gives `discounted_returns(r, discount, values[T]) − values[:T]`; `λ = 0` the TD errors.

  See 'High-Dimensional Continuous Control Using Generalized Advantage Estimation' by
  J. Schulman, P. Moritz, S. Levine, M. Jordan and P. Abbeel (https://arxiv.org/abs/1506.02438).

  Args:
    r_t: rewards `[T]`.
    discount_t: discounts `[T]`.
    lambda_: mixing parameter, scalar or `[T]`.
    values: state values `[T + 1]` (the last one bootstraps).
    stop_target_gradients: whether to stop gradients through the advantages.

  Returns:
    Advantages `[T]`.
  """
  chex.assert_rank([r_t, discount_t, values, lambda_], [1, 1, 1, {0, 1}])
  chex.assert_type([r_t, discount_t, values, lambda_], float)
  chex.assert_equal_shape([r_t, discount_t])
  r_t, discount_t, values = jnp.asarray(r_t), jnp.asarray(discount_t), jnp.asarray(values)
  if values.shape[0] != r_t.shape[0] + 1:
    raise ValueError(
      f"values must have shape [T + 1] = [{r_t.shape[0] + 1}], got {list(values.shape)}"
    )
  dtype = jnp.result_type(r_t, discount_t, values, lambda_)
  lambda_ = jnp.ones_like(discount_t, dtype=dtype) * lambda_
  r_t, discount_t, lambda_, values = (x.astype(dtype) for x in (r_t, discount_t, lambda_, values))
  delta_t = r_t + discount_t * values[1:] - values[:-1]
  zero = jnp.zeros((), delta_t.dtype)
  advantages = _reverse_scan(
    lambda a, x: x[0] + x[1] * x[2] * a, zero, (delta_t, discount_t, lambda_)
  )
  return maybe_stop_gradient(advantages, stop_target_gradients)
