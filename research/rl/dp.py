"""Dynamic programming on a `TabularMDP`: value, policy and truncated policy iteration.

The three algorithms are one family (Zhao, ch. 4.3). From `v_0` (zeros by default), iteration
`k = 1, 2, …` does

    policy update:  π_k = greedy(q(v_{k−1}))
    value update:   v_k = (T^{π_k})^j v_{k−1}

with `j = 1` (value iteration: `v_k = T* v_{k−1}`), `j` sweeps (truncated policy iteration), or
`j = ∞` (policy iteration: `v_k = v_{π_k}`, an exact linear solve). Value and truncated policy
iteration stop once `‖v_k − v_{k−1}‖∞ < tol`; policy iteration once `π_k = π_{k−1}` (so its count
includes the final, confirming policy update, and matches truncated policy iteration with large
`j`). Every loop is a `lax.while_loop` (or a `lax.scan` for the fixed-length error traces), so
all of them work under `jit` and `vmap` (over MDPs, or over the discount of one MDP).

The returned policy is always the greedy policy of the returned values, ties broken to the lowest
action index. Ties are judged with a small tolerance `tie_tol` (by default `8 · eps · max(1,
‖q‖∞)`, the rounding level of the dtype), so tied actions that differ only by float noise do not
make the three solvers return different policies, and policy iteration cannot cycle between them.

See 'Mathematical Foundations of Reinforcement Learning' by S. Zhao, ch. 4
(https://github.com/MathFoundationRL/Book-Mathematical-Foundation-of-Reinforcement-Learning).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from research import checks
from research.rl.bellman import _greedy_actions, _q_values, _solve_policy
from research.rl.mdp import TabularMDP, _as_arrays, validate_mdp, validate_values


class DPResult(NamedTuple):
  """The result of a dynamic-programming solver.

  Attributes:
    values: the final value estimate `[S]`.
    policy: the greedy (one-hot) policy of `values`, `[S, A]`.
    iterations: the number of iterations run (int32 scalar), see the module docstring.
    converged: whether the stopping rule was met before `max_iterations` (bool scalar).
  """

  values: jax.Array
  policy: jax.Array
  iterations: jax.Array
  converged: jax.Array


# ---------------------------------------------------------------------------------------------
# Shared pieces.
# ---------------------------------------------------------------------------------------------


def _tie_tol(q, tie_tol):
  if tie_tol is not None:
    return jnp.asarray(tie_tol, q.dtype)
  eps = jnp.finfo(q.dtype).eps
  return 8 * eps * jnp.maximum(1.0, jnp.max(jnp.abs(q)))


def _initial_values(initial_values, num_states, dtype):
  if initial_values is None:
    return jnp.zeros((num_states,), dtype)
  validate_values(initial_values, num_states, name="initial_values")
  return jnp.asarray(initial_values, dtype)


def _result(mdp, values, iterations, converged, tie_tol):
  transitions, rewards, discount = mdp
  q = _q_values(transitions, rewards, discount, values)
  actions = _greedy_actions(q, _tie_tol(q, tie_tol))
  policy = jax.nn.one_hot(actions, q.shape[-1], dtype=q.dtype)
  return DPResult(values, policy, jnp.asarray(iterations, jnp.int32), jnp.asarray(converged))


def _evaluate_sweeps(transitions, rewards, discount, q, actions, eval_sweeps):
  """`(T^π)^j v` for the deterministic `π = actions`, given `q = q(v)` (the first sweep).

  Reusing `q` makes the first sweep bit-identical to `max_a q(v)` (value iteration) when `π` is
  greedy, so `j = 1` reproduces value iteration exactly.
  """
  rows = jnp.arange(q.shape[0])
  first = q[rows, actions]
  r_pi = rewards[rows, actions]
  p_pi = transitions[rows, actions]

  def sweep(_, u):
    return r_pi + discount * jnp.matmul(p_pi, u, precision=jax.lax.Precision.HIGHEST)

  return jax.lax.fori_loop(1, eval_sweeps, sweep, first)


def _check_tol(tol):
  if checks.is_concrete(tol) and not float(np.asarray(tol)) > 0.0:
    raise ValueError(f"tol must be > 0, got {tol!r}")


def _vi_step(mdp, v):
  transitions, rewards, discount = mdp
  return jnp.max(_q_values(transitions, rewards, discount, v), axis=-1)


def _tpi_step(mdp, v, eval_sweeps):
  transitions, rewards, discount = mdp
  q = _q_values(transitions, rewards, discount, v)
  actions = _greedy_actions(q)
  return _evaluate_sweeps(transitions, rewards, discount, q, actions, eval_sweeps)


def _pi_step(mdp, v, tie_tol):
  transitions, rewards, discount = mdp
  q = _q_values(transitions, rewards, discount, v)
  actions = _greedy_actions(q, _tie_tol(q, tie_tol))
  policy = jax.nn.one_hot(actions, q.shape[-1], dtype=q.dtype)
  return _solve_policy(transitions, rewards, discount, policy), actions


# ---------------------------------------------------------------------------------------------
# Solvers (lax.while_loop).


def _iterate_until_stable(mdp, step, v0, tol, max_iterations, tie_tol) -> DPResult:
  """`v ← step(v)` from `v0` until `‖v_new − v‖∞ < tol` or `max_iterations` (value iteration and
  truncated policy iteration), then the greedy policy of the last values."""

  def cond(carry):
    k, _, delta = carry
    return (k < max_iterations) & (delta >= tol)

  def body(carry):
    k, v, _ = carry
    v_new = step(v)
    return k + 1, v_new, jnp.max(jnp.abs(v_new - v))

  init = (jnp.zeros((), jnp.int32), v0, jnp.asarray(jnp.inf, v0.dtype))
  k, v, delta = jax.lax.while_loop(cond, body, init)
  return _result(mdp, v, k, delta < tol, tie_tol)
# ---------------------------------------------------------------------------------------------


def value_iteration(
  mdp: TabularMDP, *, tol=1e-6, max_iterations=10_000, initial_values=None, tie_tol=None
) -> DPResult:
  """Value iteration: `v_k = T* v_{k−1}` until `‖v_k − v_{k−1}‖∞ < tol`.

      v_k(s) = max_a [R[s, a] + γ Σ_s' P[s, a, s'] v_{k−1}(s')],   ‖v_k − v*‖∞ ≤ γ^k ‖v_0 − v*‖∞

  On stopping, `‖v_k − v*‖∞ ≤ γ tol / (1 − γ)`. The returned policy is the greedy policy of the
  returned values (ties to the lowest index, within `tie_tol`). In float32 a `tol` below the
  spacing of the values (1e-6 for `|v| ≳ 8`) is met once the iteration lands on a fixed point of
  the rounded operator, which it does in practice; enable x64 for tighter solutions.

  See 'Mathematical Foundations of Reinforcement Learning' by S. Zhao, ch. 4.1.

  Args:
    mdp: a `TabularMDP` with `P` `[S, A, S]`, `R` `[S, A]`, `γ ∈ [0, 1)`.
    tol: stopping tolerance on the sup-norm change of the values (> 0).
    max_iterations: the most iterations to run.
    initial_values: `v_0` `[S]` (zeros if None).
    tie_tol: tie tolerance of the returned greedy policy (None: rounding level, see module).

  Returns:
    `DPResult(values [S], policy [S, A], iterations, converged)`.
  """
  num_states, _ = validate_mdp(mdp)
  _check_tol(tol)
  checks.traced_int(max_iterations, "max_iterations")
  v0 = _initial_values(initial_values, num_states, jnp.result_type(mdp.rewards, float))
  mdp = _as_arrays(mdp)

  return _iterate_until_stable(mdp, lambda v: _vi_step(mdp, v), v0, tol, max_iterations,
                               tie_tol)


def truncated_policy_iteration(
  mdp: TabularMDP,
  *,
  eval_sweeps,
  tol=1e-6,
  max_iterations=10_000,
  initial_values=None,
  tie_tol=None,
) -> DPResult:
  """Truncated policy iteration: greedy improvement, then `j` sweeps of `T^π` from the last values.

      π_k = greedy(q(v_{k−1})),   v_k = (T^{π_k})^j v_{k−1},   stop when ‖v_k − v_{k−1}‖∞ < tol

  `j = 1` is value iteration (bit for bit); `j → ∞` approaches policy iteration. Improvement
  steps inside the loop use the exact argmax (lowest index on exact ties).

  See 'Mathematical Foundations of Reinforcement Learning' by S. Zhao, ch. 4.3.

  Args:
    mdp: a `TabularMDP` with `P` `[S, A, S]`, `R` `[S, A]`, `γ ∈ [0, 1)`.
    eval_sweeps: `j ≥ 1`, sweeps of the Bellman expectation operator per iteration (an int, may be
      traced).
    tol: stopping tolerance on the sup-norm change of the values (> 0).
    max_iterations: the most iterations to run.
    initial_values: `v_0` `[S]` (zeros if None).
    tie_tol: tie tolerance of the returned greedy policy (None: rounding level, see module).

  Returns:
    `DPResult(values [S], policy [S, A], iterations, converged)`.
  """
  num_states, _ = validate_mdp(mdp)
  checks.traced_int(eval_sweeps, "eval_sweeps")
  _check_tol(tol)
  checks.traced_int(max_iterations, "max_iterations")
  v0 = _initial_values(initial_values, num_states, jnp.result_type(mdp.rewards, float))
  mdp = _as_arrays(mdp)

  return _iterate_until_stable(mdp, lambda v: _tpi_step(mdp, v, eval_sweeps), v0, tol,
                               max_iterations, tie_tol)


def policy_iteration(
  mdp: TabularMDP, *, max_iterations=1_000, initial_values=None, tie_tol=None
) -> DPResult:
  """Policy iteration: exact evaluation (a linear solve) and greedy improvement until stable.

      π_k = greedy(q(v_{k−1})),   v_k = v_{π_k} = (I − γ P_{π_k})^{-1} r_{π_k},
      stop when π_k = π_{k−1}

  `π_1` is greedy with respect to `q(v_0)` (with `v_0 = 0`, the greedy policy of `R`). The count
  includes the final policy update that confirms stability, so a policy that is optimal from the
  start takes 2 iterations. Improvement breaks ties to the lowest index within `tie_tol`, so float
  noise between tied actions cannot make the loop cycle.

  See 'Mathematical Foundations of Reinforcement Learning' by S. Zhao, ch. 4.2.

  Args:
    mdp: a `TabularMDP` with `P` `[S, A, S]`, `R` `[S, A]`, `γ ∈ [0, 1)`.
    max_iterations: the most iterations to run.
    initial_values: `v_0` `[S]` (zeros if None); `π_1` is its greedy policy.
    tie_tol: tie tolerance of the greedy improvement (None: rounding level, see module).

  Returns:
    `DPResult(values [S], policy [S, A], iterations, converged)`.
  """
  num_states, _ = validate_mdp(mdp)
  checks.traced_int(max_iterations, "max_iterations")
  v0 = _initial_values(initial_values, num_states, jnp.result_type(mdp.rewards, float))
  mdp = _as_arrays(mdp)

  def cond(carry):
    k, _, _, stable = carry
    return (k < max_iterations) & ~stable

  def body(carry):
    k, v, actions, _ = carry
    v_new, new_actions = _pi_step(mdp, v, tie_tol)
    stable = jnp.all(new_actions == actions)
    return k + 1, jnp.where(stable, v, v_new), new_actions, stable

  no_policy = jnp.full((num_states,), -1, jnp.int32)
  init = (jnp.zeros((), jnp.int32), v0, no_policy, jnp.zeros((), bool))
  k, v, _, stable = jax.lax.while_loop(cond, body, init)
  return _result(mdp, v, k, stable, tie_tol)


# ---------------------------------------------------------------------------------------------
# Fixed-length error traces (lax.scan), for convergence plots.
# ---------------------------------------------------------------------------------------------


def _error_trace(step, mdp, v_star, num_iterations, initial_values):
  """`‖v_k − v*‖∞` for `k = 0, …, num_iterations` of `v_k = step(mdp, v_{k−1})` (a `lax.scan`)."""
  num_states, _ = validate_mdp(mdp)
  validate_values(v_star, num_states, name="v_star")
  num_iterations = checks.static_int(num_iterations, "num_iterations", minimum=0)
  dtype = jnp.result_type(mdp.rewards, float)
  v0 = _initial_values(initial_values, num_states, dtype)
  v_star = jnp.asarray(v_star, dtype)
  mdp = _as_arrays(mdp)

  def body(v, _):
    v_new = step(mdp, v)
    return v_new, jnp.max(jnp.abs(v_new - v_star))

  _, errors = jax.lax.scan(body, v0, None, length=num_iterations)
  return jnp.concatenate([jnp.max(jnp.abs(v0 - v_star))[None], errors])


def value_iteration_trace(mdp: TabularMDP, v_star, *, num_iterations, initial_values=None):
  """The error `‖v_k − v*‖∞` of value iteration for `k = 0, …, num_iterations`.

      e_k = ‖v_k − v*‖∞ ≤ γ^k ‖v_0 − v*‖∞,   v_k = T* v_{k−1}

  See 'Mathematical Foundations of Reinforcement Learning' by S. Zhao, ch. 4.1.

  Args:
    mdp: a `TabularMDP`.
    v_star: the optimal values `[S]` (e.g. from `policy_iteration`).
    num_iterations: the number of iterations (a Python int, static).
    initial_values: `v_0` `[S]` (zeros if None).

  Returns:
    `[num_iterations + 1]` errors, entry 0 being `‖v_0 − v*‖∞`.
  """
  return _error_trace(_vi_step, mdp, v_star, num_iterations, initial_values)


def truncated_policy_iteration_trace(
  mdp: TabularMDP, v_star, *, eval_sweeps, num_iterations, initial_values=None
):
  """The error `‖v_k − v*‖∞` of truncated policy iteration for `k = 0, …, num_iterations`.

      π_k = greedy(q(v_{k−1})),   v_k = (T^{π_k})^j v_{k−1},   e_k = ‖v_k − v*‖∞

  See 'Mathematical Foundations of Reinforcement Learning' by S. Zhao, ch. 4.3.

  Args:
    mdp: a `TabularMDP`.
    v_star: the optimal values `[S]`.
    eval_sweeps: `j ≥ 1` sweeps per iteration.
    num_iterations: the number of iterations (a Python int, static).
    initial_values: `v_0` `[S]` (zeros if None).

  Returns:
    `[num_iterations + 1]` errors, entry 0 being `‖v_0 − v*‖∞`.
  """
  checks.traced_int(eval_sweeps, "eval_sweeps")
  step = functools.partial(_tpi_step, eval_sweeps=eval_sweeps)
  return _error_trace(step, mdp, v_star, num_iterations, initial_values)


def policy_iteration_trace(
  mdp: TabularMDP, v_star, *, num_iterations, initial_values=None, tie_tol=None
):
  """The error `‖v_{π_k} − v*‖∞` of policy iteration for `k = 0, …, num_iterations`.

      π_k = greedy(q(v_{k−1})),   v_k = v_{π_k},   e_k = ‖v_k − v*‖∞   (e_0 = ‖v_0 − v*‖∞)

  Once the policy is stable the error stays at its final (rounding-level) value.

  See 'Mathematical Foundations of Reinforcement Learning' by S. Zhao, ch. 4.2.

  Args:
    mdp: a `TabularMDP`.
    v_star: the optimal values `[S]`.
    num_iterations: the number of iterations (a Python int, static).
    initial_values: `v_0` `[S]` (zeros if None).
    tie_tol: tie tolerance of the greedy improvement (None: rounding level).

  Returns:
    `[num_iterations + 1]` errors, entry 0 being `‖v_0 − v*‖∞`.
  """

  def step(mdp, v):
    return _pi_step(mdp, v, tie_tol)[0]

  return _error_trace(step, mdp, v_star, num_iterations, initial_values)
