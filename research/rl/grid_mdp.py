"""The grid world of Zhao's book (chapters 2 to 7) as a `TabularMDP`: its layout (5 × 5 cells,
forbidden cells, the target), the MDP for any rewards and discount, and text renderers of values
and policies. The same world as a gymnax environment is `research.envs.gridworld`.

See 'Mathematical Foundations of Reinforcement Learning' by S. Zhao
(https://github.com/MathFoundationRL/Book-Mathematical-Foundation-of-Reinforcement-Learning).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from research.rl.mdp import TabularMDP, _float_dtype, _shape, validate_discount

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
