"""Tabular Markov decision processes: the container, argument validation and two generators.

An MDP is `P[s, a, s']` (transition probabilities), `R[s, a]` (expected immediate reward) and a
discount `γ ∈ [0, 1)`. `random_mdp` draws dense random MDPs for tests and benchmarks; the grid
world of Zhao's book is `research.rl.grid_mdp`.

Validation happens at the boundary of every public function that takes an MDP, a policy or a
value vector: ranks and shapes always (they are static, so this also works under `jit`/`vmap`),
values (non-negative probabilities, rows summing to one, `0 ≤ γ < 1`) only when the arrays are
concrete. Under a transformation the value checks are skipped silently.

See 'Mathematical Foundations of Reinforcement Learning' by S. Zhao
(https://github.com/MathFoundationRL/Book-Mathematical-Foundation-of-Reinforcement-Learning).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from research import checks

# Tolerance for rows of `P` (and of a stochastic policy) summing to one. Float32 Dirichlet draws
# sum to one within ~1e-6; 1e-4 leaves room for user-built float32 tables.
PROBABILITY_ATOL = 1e-4


class TabularMDP(NamedTuple):
  """A finite discounted MDP.

  Attributes:
    transitions: `P[s, a, s']`, shape `[S, A, S]`, rows over `s'` sum to one.
    rewards: `R[s, a]`, shape `[S, A]`, the expected immediate reward.
    discount: `γ`, a scalar in `[0, 1)` (a Python float or a rank-0 array, possibly traced, so
      that functions of an MDP can be `vmap`-ed over the discount).
  """

  transitions: jax.Array
  rewards: jax.Array
  discount: Any


def _as_arrays(mdp) -> TabularMDP:
  """The fields of `mdp` as JAX arrays (NumPy tables and a Python discount converted as `jit`
  converts its arguments), so that they can be indexed by traced states inside a loop."""
  return TabularMDP(*(jnp.asarray(x) for x in mdp))


def _shape(x) -> tuple[int, ...]:
  return tuple(np.shape(x))


def _check_probabilities(p, *, name: str, what: str, atol: float) -> None:
  """Value checks of a stochastic array whose last axis sums to one (host side, concrete only)."""
  p = np.asarray(p, dtype=np.float64)
  if not np.all(p >= 0.0):
    bad = np.argwhere(~(p >= 0.0))[0]
    raise ValueError(
      f"{name} must hold probabilities >= 0 (and no NaN); got {p[tuple(bad)]} at index "
      f"{tuple(int(i) for i in bad)}"
    )
  sums = p.sum(axis=-1)
  if not np.all(np.abs(sums - 1.0) <= atol):
    bad = np.argwhere(~(np.abs(sums - 1.0) <= atol))[0]
    raise ValueError(
      f"{name} rows (over {what}) must sum to 1 within {atol:g}; row {tuple(int(i) for i in bad)} "
      f"sums to {sums[tuple(bad)]:.8g}"
    )


def validate_discount(discount, *, name: str = "discount") -> None:
  """Checks that a discount is a scalar and, when concrete, that `0 ≤ γ < 1`.

  Args:
    discount: a Python number or a rank-0 array (possibly traced).
    name: the argument name used in error messages.

  Raises:
    ValueError: naming `name` when the discount is not a scalar or lies outside `[0, 1)`.
  """
  shape = _shape(discount)
  if shape != ():
    raise ValueError(f"{name} must be a scalar, got shape {shape}")
  if checks.is_concrete(discount):
    value = float(np.asarray(discount))
    if not 0.0 <= value < 1.0:
      raise ValueError(f"{name} must lie in [0, 1), got {value}")


def validate_mdp(mdp: TabularMDP, *, name: str = "mdp", atol: float = PROBABILITY_ATOL):
  """Checks an MDP's shapes (always) and values (when concrete); returns `(S, A)`.

  Shapes: `transitions` is `[S, A, S]`, `rewards` is `[S, A]`, `discount` is a scalar. Values
  (only for concrete, i.e. non-traced, arrays): `P ≥ 0`, `Σ_s' P[s, a, s'] = 1` within `atol`,
  `0 ≤ γ < 1`.

  Args:
    mdp: a `TabularMDP` (or any triple `(transitions, rewards, discount)`).
    name: the argument name used in error messages.
    atol: tolerance on the row sums of `P`.

  Returns:
    `(num_states, num_actions)` as Python ints.

  Raises:
    ValueError: naming the offending field and what is allowed.
  """
  try:
    transitions, rewards, discount = mdp
  except (TypeError, ValueError) as e:
    raise ValueError(
      f"{name} must be a TabularMDP(transitions, rewards, discount), got {type(mdp).__name__}"
    ) from e
  p_shape, r_shape = _shape(transitions), _shape(rewards)
  if len(r_shape) != 2:
    raise ValueError(f"{name}.rewards must have rank 2 [S, A], got shape {r_shape}")
  num_states, num_actions = r_shape
  if num_states < 1 or num_actions < 1:
    raise ValueError(f"{name}.rewards must have S >= 1 and A >= 1, got shape {r_shape}")
  if len(p_shape) != 3:
    raise ValueError(f"{name}.transitions must have rank 3 [S, A, S], got shape {p_shape}")
  if p_shape != (num_states, num_actions, num_states):
    raise ValueError(
      f"{name}.transitions must have shape [S, A, S] = {[num_states, num_actions, num_states]} "
      f"to match {name}.rewards [S, A] = {list(r_shape)}; got {list(p_shape)}"
    )
  validate_discount(discount, name=f"{name}.discount")
  if checks.is_concrete(transitions):
    _check_probabilities(transitions, name=f"{name}.transitions", what="s'", atol=atol)
  return num_states, num_actions


def validate_policy(
  policy, num_states: int, num_actions: int, *, name: str = "policy", atol=PROBABILITY_ATOL
) -> None:
  """Checks a policy `π[s, a]`: shape `[S, A]` always; probabilities when concrete.

  Raises:
    ValueError: naming `name` when the shape or (concrete) values are not allowed.
  """
  shape = _shape(policy)
  if shape != (num_states, num_actions):
    raise ValueError(
      f"{name} must have shape [S, A] = {[num_states, num_actions]}, got {list(shape)}"
    )
  if checks.is_concrete(policy):
    _check_probabilities(policy, name=name, what="actions", atol=atol)


def validate_values(v, num_states: int, *, name: str = "v") -> None:
  """Checks a state-value vector has shape `[S]`.

  Raises:
    ValueError: naming `name` when the shape is not `[S]`.
  """
  shape = _shape(v)
  if shape != (num_states,):
    raise ValueError(f"{name} must have shape [S] = [{num_states}], got {list(shape)}")


def _float_dtype():
  """The default float dtype (float32, or float64 under `jax_enable_x64`)."""
  return jnp.result_type(float)


# ---------------------------------------------------------------------------------------------
# Random MDPs.
# ---------------------------------------------------------------------------------------------


def random_mdp(key, num_states: int, num_actions: int, *, discount=0.9) -> TabularMDP:
  """A dense random MDP: `P[s, a, ·] ~ Dirichlet(1, …, 1)`, `R[s, a] ~ U[0, 1)` i.i.d.

  Every row of `P` is uniform on the probability simplex (drawn as normalised Exp(1) variables).
  Works under `jit` (sizes are static) and `vmap` over keys (the discount is then broadcast to the
  batch).

  See 'Reinforcement Learning: An Introduction' (2nd ed.) by R. S. Sutton and A. G. Barto, ch. 3
  (http://incompleteideas.net/book/the-book-2nd.html).

  Args:
    key: a PRNG key.
    num_states: `S ≥ 1` (a Python int).
    num_actions: `A ≥ 1` (a Python int).
    discount: `γ ∈ [0, 1)`.

  Returns:
    A `TabularMDP` with `P` `[S, A, S]`, `R` `[S, A]` in `[0, 1)`, the discount as an array.
  """
  num_states = checks.static_int(num_states, "num_states")
  num_actions = checks.static_int(num_actions, "num_actions")
  validate_discount(discount, name="discount")
  dtype = _float_dtype()
  key_p, key_r = jax.random.split(key)
  # Dirichlet(1, …, 1) is a vector of i.i.d. Exp(1) draws divided by their sum (exact, and much
  # cheaper than the general gamma sampler behind `jax.random.dirichlet`).
  weights = jax.random.exponential(key_p, (num_states, num_actions, num_states), dtype)
  transitions = weights / jnp.sum(weights, axis=-1, keepdims=True)
  rewards = jax.random.uniform(key_r, (num_states, num_actions), dtype)
  return TabularMDP(transitions, rewards, jnp.asarray(discount, dtype))
