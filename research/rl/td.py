"""Temporal-difference errors for one transition (batch with `jax.vmap`), as in rlax.

Each function returns the TD error `δ`; the caller chooses the step size or loss. Targets are
wrapped in `jax.lax.stop_gradient` unless `stop_target_gradients=False`. Signatures and semantics
follow rlax (`rlax.td_learning`, `rlax.sarsa`, `rlax.expected_sarsa`, `rlax.q_learning`), with
`stop_target_gradients` keyword-only. `discount_t = γ (1 − done_t)` carries episode ends.

See 'Reinforcement Learning: An Introduction' (2nd ed.) by R. S. Sutton and A. G. Barto, ch. 6
(http://incompleteideas.net/book/the-book-2nd.html).
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from research.rl._common import maybe_stop_gradient


def td_learning(v_tm1, r_t, discount_t, v_t, *, stop_target_gradients=True) -> jax.Array:
  """The TD(0) error of a state-value estimate.

      δ = r_t + discount_t · v_t − v_tm1

  See 'Learning to Predict by the Methods of Temporal Differences' by R. S. Sutton
  (https://link.springer.com/article/10.1023/A:1022633531479).

  Args:
    v_tm1: value of the state at time t−1, scalar.
    r_t: reward at time t, scalar.
    discount_t: discount at time t, scalar.
    v_t: value of the state at time t, scalar.
    stop_target_gradients: whether to stop gradients through the target.

  Returns:
    The TD error, scalar.
  """
  chex.assert_rank([v_tm1, r_t, discount_t, v_t], 0)
  chex.assert_type([v_tm1, r_t, discount_t, v_t], float)
  target_tm1 = maybe_stop_gradient(r_t + discount_t * v_t, stop_target_gradients)
  return target_tm1 - v_tm1


def sarsa(q_tm1, a_tm1, r_t, discount_t, q_t, a_t, *, stop_target_gradients=True) -> jax.Array:
  """The Sarsa TD error: bootstrap on the action actually taken next.

      δ = r_t + discount_t · q_t[a_t] − q_tm1[a_tm1]

  See 'On-line Q-learning Using Connectionist Systems' by G. A. Rummery and M. Niranjan
  (http://mi.eng.cam.ac.uk/reports/svr-ftp/auto-pdf/rummery_tr166.pdf).

  Args:
    q_tm1: action values at time t−1, `[A]`.
    a_tm1: action index at time t−1, int scalar.
    r_t: reward at time t, scalar.
    discount_t: discount at time t, scalar.
    q_t: action values at time t, `[A]`.
    a_t: action index at time t, int scalar.
    stop_target_gradients: whether to stop gradients through the target.

  Returns:
    The TD error, scalar.
  """
  chex.assert_rank([q_tm1, a_tm1, r_t, discount_t, q_t, a_t], [1, 0, 0, 0, 1, 0])
  chex.assert_type(
    [q_tm1, a_tm1, r_t, discount_t, q_t, a_t], [float, int, float, float, float, int]
  )
  target_tm1 = maybe_stop_gradient(r_t + discount_t * q_t[a_t], stop_target_gradients)
  return target_tm1 - q_tm1[a_tm1]


def expected_sarsa(
  q_tm1, a_tm1, r_t, discount_t, q_t, probs_a_t, *, stop_target_gradients=True
) -> jax.Array:
  """The Expected Sarsa TD error: bootstrap on the expected next action value.

      δ = r_t + discount_t · Σ_a π(a|s_t) q_t[a] − q_tm1[a_tm1]

  See 'A Theoretical and Empirical Analysis of Expected Sarsa' by H. van Seijen, H. van Hasselt,
  S. Whiteson and M. Wiering
  (http://www.cs.ox.ac.uk/people/shimon.whiteson/pubs/vanseijenadprl09.pdf).

  Args:
    q_tm1: action values at time t−1, `[A]`.
    a_tm1: action index at time t−1, int scalar.
    r_t: reward at time t, scalar.
    discount_t: discount at time t, scalar.
    q_t: action values at time t, `[A]`.
    probs_a_t: policy probabilities at time t, `[A]`.
    stop_target_gradients: whether to stop gradients through the target.

  Returns:
    The TD error, scalar.
  """
  chex.assert_rank([q_tm1, a_tm1, r_t, discount_t, q_t, probs_a_t], [1, 0, 0, 0, 1, 1])
  chex.assert_type(
    [q_tm1, a_tm1, r_t, discount_t, q_t, probs_a_t], [float, int, float, float, float, float]
  )
  target_tm1 = maybe_stop_gradient(r_t + discount_t * jnp.dot(q_t, probs_a_t),
                                   stop_target_gradients)
  return target_tm1 - q_tm1[a_tm1]


def q_learning(q_tm1, a_tm1, r_t, discount_t, q_t, *, stop_target_gradients=True) -> jax.Array:
  """The Q-learning TD error: bootstrap on the greedy next action value.

      δ = r_t + discount_t · max_a q_t[a] − q_tm1[a_tm1]

  See 'Q-learning' by C. J. C. H. Watkins and P. Dayan
  (https://link.springer.com/article/10.1007/BF00992698).

  Args:
    q_tm1: action values at time t−1, `[A]`.
    a_tm1: action index at time t−1, int scalar.
    r_t: reward at time t, scalar.
    discount_t: discount at time t, scalar.
    q_t: action values at time t, `[A]`.
    stop_target_gradients: whether to stop gradients through the target.

  Returns:
    The TD error, scalar.
  """
  chex.assert_rank([q_tm1, a_tm1, r_t, discount_t, q_t], [1, 0, 0, 0, 1])
  chex.assert_type([q_tm1, a_tm1, r_t, discount_t, q_t], [float, int, float, float, float])
  target_tm1 = maybe_stop_gradient(r_t + discount_t * jnp.max(q_t), stop_target_gradients)
  return target_tm1 - q_tm1[a_tm1]
