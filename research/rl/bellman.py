"""Bellman operators, greedy policies and exact policy evaluation on a `TabularMDP`.

    q(s, a)      = R[s, a] + γ Σ_s' P[s, a, s'] v(s')
    (T^π v)(s)   = Σ_a π(a|s) q(s, a)
    (T* v)(s)    = max_a q(s, a)
    v_π          = (I − γ P_π)^{-1} r_π,   r_π = Σ_a π R,   P_π = Σ_a π P

The contractions with `P` run at `Precision.HIGHEST`, so on GPUs that default to TF32 the DP
solutions still agree with float64 references.

See 'Mathematical Foundations of Reinforcement Learning' by S. Zhao, ch. 2-3
(https://github.com/MathFoundationRL/Book-Mathematical-Foundation-of-Reinforcement-Learning).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from research.rl.mdp import TabularMDP, validate_mdp, validate_policy, validate_values

_HIGHEST = jax.lax.Precision.HIGHEST


def _q_values(transitions, rewards, discount, v):
  return rewards + discount * jnp.einsum("sat,t->sa", transitions, v, precision=_HIGHEST)


def _greedy_actions(q, tie_tol=0.0):
  """Lowest action index whose value is within `tie_tol` of the row maximum."""
  best = jnp.max(q, axis=-1, keepdims=True)
  return jnp.argmax(q >= best - tie_tol, axis=-1).astype(jnp.int32)


def _policy_matrices(transitions, rewards, policy):
  """`r_π[S]` and `P_π[S, S]` of a stochastic policy."""
  r_pi = jnp.sum(policy * rewards, axis=-1)
  p_pi = jnp.einsum("sa,sat->st", policy, transitions, precision=_HIGHEST)
  return r_pi, p_pi


def _solve_policy(transitions, rewards, discount, policy):
  """Exact `v_π` by solving `(I − γ P_π) v = r_π`."""
  r_pi, p_pi = _policy_matrices(transitions, rewards, policy)
  eye = jnp.eye(p_pi.shape[0], dtype=p_pi.dtype)
  return jnp.linalg.solve(eye - discount * p_pi, r_pi)


def q_values(mdp: TabularMDP, v) -> jax.Array:
  """Action values of a state-value vector: one Bellman backup.

      q(s, a) = R[s, a] + γ Σ_s' P[s, a, s'] v(s')

  See 'Mathematical Foundations of Reinforcement Learning' by S. Zhao, ch. 2.

  Args:
    mdp: a `TabularMDP` with `P` `[S, A, S]`, `R` `[S, A]`.
    v: state values `[S]`.

  Returns:
    `q` `[S, A]`.
  """
  num_states, _ = validate_mdp(mdp)
  validate_values(v, num_states, name="v")
  return _q_values(*mdp, v)


def bellman_expectation(mdp: TabularMDP, policy, v) -> jax.Array:
  """The Bellman expectation operator `T^π` applied to `v`.

      (T^π v)(s) = Σ_a π(a|s) [R[s, a] + γ Σ_s' P[s, a, s'] v(s')]

  See 'Mathematical Foundations of Reinforcement Learning' by S. Zhao, ch. 2.

  Args:
    mdp: a `TabularMDP` with `P` `[S, A, S]`, `R` `[S, A]`.
    policy: `π[s, a]` `[S, A]`, rows sum to one.
    v: state values `[S]`.

  Returns:
    `T^π v` `[S]`.
  """
  num_states, num_actions = validate_mdp(mdp)
  validate_policy(policy, num_states, num_actions)
  validate_values(v, num_states, name="v")
  return jnp.sum(policy * _q_values(*mdp, v), axis=-1)


def bellman_optimality(mdp: TabularMDP, v) -> jax.Array:
  """The Bellman optimality operator `T*` applied to `v` (a γ-contraction in ‖·‖∞).

      (T* v)(s) = max_a [R[s, a] + γ Σ_s' P[s, a, s'] v(s')]

  See 'Mathematical Foundations of Reinforcement Learning' by S. Zhao, ch. 3.

  Args:
    mdp: a `TabularMDP` with `P` `[S, A, S]`, `R` `[S, A]`.
    v: state values `[S]`.

  Returns:
    `T* v` `[S]`.
  """
  num_states, _ = validate_mdp(mdp)
  validate_values(v, num_states, name="v")
  return jnp.max(_q_values(*mdp, v), axis=-1)


def greedy_policy(q, *, tie_tol=0.0) -> jax.Array:
  """The deterministic greedy policy of `q`, one-hot, ties broken to the lowest action index.

      π(a|s) = 1[a = min {a' : q(s, a') ≥ max_b q(s, b) − tie_tol}]

  With the default `tie_tol = 0` this is `one_hot(argmax_a q(s, a))`. A small positive `tie_tol`
  treats values that differ only by rounding as ties (the DP solvers use this so that their
  policies do not depend on float noise).

  See 'Mathematical Foundations of Reinforcement Learning' by S. Zhao, ch. 3-4.

  Args:
    q: action values `[S, A]`.
    tie_tol: non-negative tolerance under which two action values count as tied.

  Returns:
    A one-hot policy `[S, A]` of `q`'s dtype.
  """
  if jnp.ndim(q) != 2:
    raise ValueError(f"q must have rank 2 [S, A], got shape {list(jnp.shape(q))}")
  q = jnp.asarray(q)
  return jax.nn.one_hot(_greedy_actions(q, tie_tol), q.shape[-1], dtype=q.dtype)


def policy_evaluation(mdp: TabularMDP, policy) -> jax.Array:
  """Exact state values of a policy by a linear solve (the matrix is never inverted).

      v_π = (I − γ P_π)^{-1} r_π,   r_π(s) = Σ_a π(a|s) R[s, a],   P_π = Σ_a π(a|s) P[s, a, ·]

  `γ = 0` gives `v_π = r_π`.

  See 'Mathematical Foundations of Reinforcement Learning' by S. Zhao, ch. 2 (closed-form
  solution of the Bellman equation).

  Args:
    mdp: a `TabularMDP` with `P` `[S, A, S]`, `R` `[S, A]`.
    policy: `π[s, a]` `[S, A]`, rows sum to one.

  Returns:
    `v_π` `[S]`.
  """
  num_states, num_actions = validate_mdp(mdp)
  validate_policy(policy, num_states, num_actions)
  return _solve_policy(*mdp, policy)
