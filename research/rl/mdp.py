"""Tabular Markov decision processes: the container, argument validation and two generators.

An MDP is `P[s, a, s']` (transition probabilities), `R[s, a]` (expected immediate reward) and a
discount `γ ∈ [0, 1)`. The grid world is the one of Zhao's book (chapters 2 to 7); `random_mdp`
draws dense random MDPs for tests and benchmarks.

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
# The grid world of Zhao's book.
# ---------------------------------------------------------------------------------------------

GRID_SHAPE = (5, 5)
"""(rows, columns) of the grid world."""
FORBIDDEN_CELLS = ((2, 2), (2, 3), (3, 3), (4, 2), (4, 4), (5, 2))
"""Forbidden cells, 1-indexed (row, col)."""
TARGET_CELL = (4, 3)
"""The target cell, 1-indexed (row, col)."""
START_CELL = (1, 1)
"""The start cell of the episodic (chapter 7) tasks, 1-indexed (row, col)."""
ACTION_NAMES = ("up", "right", "down", "left", "stay")
"""Action names in index order."""
ACTION_ARROWS = ("↑", "→", "↓", "←", "o")
"""One character per action (for `policy_to_arrows`)."""
_MOVES = ((-1, 0), (0, 1), (1, 0), (0, -1), (0, 0))

NUM_GRID_STATES = GRID_SHAPE[0] * GRID_SHAPE[1]
NUM_GRID_ACTIONS = len(ACTION_NAMES)

# Reward kinds of a grid transition (index into [r_other, r_boundary, r_forbidden, r_target]).
KIND_OTHER, KIND_BOUNDARY, KIND_FORBIDDEN, KIND_TARGET = 0, 1, 2, 3


def cell_to_state(row: int, col: int) -> int:
  """State index of a 1-indexed grid cell: `(row − 1) · 5 + (col − 1)`."""
  return (row - 1) * GRID_SHAPE[1] + (col - 1)


def state_to_cell(state: int) -> tuple[int, int]:
  """The 1-indexed (row, col) of a state index."""
  row, col = divmod(int(state), GRID_SHAPE[1])
  return row + 1, col + 1


TARGET_STATE = cell_to_state(*TARGET_CELL)
START_STATE = cell_to_state(*START_CELL)


def _grid_layout() -> tuple[np.ndarray, np.ndarray]:
  """Host-side structure of the grid: `next_state[S, A]` and reward `kind[S, A]`.

  Moving off the grid leaves the agent in place (kind boundary, whatever the cell); otherwise the
  kind is that of the cell arrived in (target, forbidden, or other), so staying in a forbidden
  cell or in the target gives `r_forbidden` / `r_target`.
  """
  rows, cols = GRID_SHAPE
  forbidden = set(FORBIDDEN_CELLS)
  next_state = np.zeros((NUM_GRID_STATES, NUM_GRID_ACTIONS), dtype=np.int32)
  kind = np.zeros((NUM_GRID_STATES, NUM_GRID_ACTIONS), dtype=np.int32)
  for s in range(NUM_GRID_STATES):
    row, col = state_to_cell(s)
    for a, (dr, dc) in enumerate(_MOVES):
      r2, c2 = row + dr, col + dc
      if not (1 <= r2 <= rows and 1 <= c2 <= cols):
        next_state[s, a], kind[s, a] = s, KIND_BOUNDARY
        continue
      next_state[s, a] = cell_to_state(r2, c2)
      if (r2, c2) == TARGET_CELL:
        kind[s, a] = KIND_TARGET
      elif (r2, c2) in forbidden:
        kind[s, a] = KIND_FORBIDDEN
      else:
        kind[s, a] = KIND_OTHER
  return next_state, kind


GRID_NEXT_STATE, GRID_REWARD_KIND = _grid_layout()
GRID_NEXT_STATE.setflags(write=False)
GRID_REWARD_KIND.setflags(write=False)


def gridworld(
  *,
  r_boundary=-1.0,
  r_forbidden=-1.0,
  r_target=1.0,
  r_other=0.0,
  discount=0.9,
) -> TabularMDP:
  """The 5×5 grid world of Zhao's book (chapters 2 to 7) as a deterministic `TabularMDP`.

  Cells are 1-indexed (row, col), state `s = (row − 1) · 5 + (col − 1)`; forbidden cells (2,2)
  (2,3) (3,3) (4,2) (4,4) (5,2); target (4,3). Actions: up, right, down, left, stay. Rewards:

      R[s, a] = r_boundary   if the move would leave the grid (the agent stays in place),
                r_target     else if the agent arrives in (or stays in) the target,
                r_forbidden  else if it arrives in (or stays in) a forbidden cell,
                r_other      otherwise.

  The target is not absorbing (a continuing task); for the episodic chapter-7 tasks pair the MDP
  with `gridworld_terminal_mask()`. Reward arguments may be traced scalars.

  See 'Mathematical Foundations of Reinforcement Learning' by S. Zhao, ch. 2-3
  (https://github.com/MathFoundationRL/Book-Mathematical-Foundation-of-Reinforcement-Learning).

  Args:
    r_boundary: reward for bumping into the boundary.
    r_forbidden: reward for entering or staying in a forbidden cell.
    r_target: reward for entering or staying in the target.
    r_other: reward of every other transition.
    discount: `γ ∈ [0, 1)`.

  Returns:
    A `TabularMDP` with `P` `[25, 5, 25]` one-hot, `R` `[25, 5]` and the discount as an array.
  """
  validate_discount(discount, name="discount")
  dtype = _float_dtype()
  transitions = jax.nn.one_hot(jnp.asarray(GRID_NEXT_STATE), NUM_GRID_STATES, dtype=dtype)
  table = jnp.stack([jnp.asarray(r, dtype) for r in (r_other, r_boundary, r_forbidden, r_target)])
  rewards = table[jnp.asarray(GRID_REWARD_KIND)]
  return TabularMDP(transitions, rewards, jnp.asarray(discount, dtype))


def gridworld_terminal_mask() -> jax.Array:
  """`bool[25]`, true at the target: the episode end of the book's chapter-7 tasks."""
  return jnp.arange(NUM_GRID_STATES) == TARGET_STATE


def values_to_grid(v) -> jax.Array:
  """Reshapes a grid value vector `v[25]` into the `[5, 5]` table, rows top to bottom."""
  if _shape(v) != (NUM_GRID_STATES,):
    raise ValueError(f"v must have shape [{NUM_GRID_STATES}], got {list(_shape(v))}")
  return jnp.reshape(v, GRID_SHAPE)


def policy_to_arrows(policy) -> np.ndarray:
  """A grid policy `π[25, 5]` as a `[5, 5]` array of arrows (`↑ → ↓ ← o`, o = stay).

  Each cell shows the most probable action (the lowest index on ties). Host-side (NumPy).
  """
  policy = np.asarray(policy)
  if policy.shape != (NUM_GRID_STATES, NUM_GRID_ACTIONS):
    raise ValueError(
      f"policy must have shape [{NUM_GRID_STATES}, {NUM_GRID_ACTIONS}], got {list(policy.shape)}"
    )
  arrows = np.asarray(ACTION_ARROWS)[np.argmax(policy, axis=-1)]
  return arrows.reshape(GRID_SHAPE)


def render_values(v, *, decimals: int = 1) -> str:
  """A grid value vector `v[25]` as a 5-line string, like the book's tables. Host-side."""
  table = np.asarray(values_to_grid(v), dtype=np.float64)
  width = max(len(f"{x:.{decimals}f}") for x in table.ravel())
  return "\n".join(" ".join(f"{x:{width}.{decimals}f}" for x in row) for row in table)


def render_policy(policy) -> str:
  """A grid policy `π[25, 5]` as a 5-line string of arrows. Host-side."""
  return "\n".join(" ".join(row) for row in policy_to_arrows(policy))


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
