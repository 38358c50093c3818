"""Policy-gradient losses for one trajectory (batch with `jax.vmap`), as in rlax.

REINFORCE / A2C (`policy_gradient_loss`), the entropy bonus (`entropy_loss`), PPO's clipped
surrogate (`clipped_surrogate_pg_loss`) and clipped value loss (`clipped_value_loss`), plus the
categorical helpers they need and `bootstrap_truncations`, which turns gymnax 1.0's separate
`terminated` / `truncated` flags into rewards and discounts for `gae`, `lambda_returns` and
`discounted_returns` (a time-limit truncation bootstraps from the pre-reset state's value; a
termination does not).

Losses are means over time (weighted by `w_t` where given), to be minimised. Advantages are
wrapped in `jax.lax.stop_gradient` unless `use_stop_gradient=False`, as in rlax.

See 'Policy Gradient Methods for Reinforcement Learning with Function Approximation' by
R. S. Sutton, D. McAllester, S. Singh and Y. Mansour
(https://papers.nips.cc/paper/1713-policy-gradient-methods-for-reinforcement-learning-with-function-approximation.pdf).
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from research.rl._common import maybe_stop_gradient


def categorical_log_prob(logits, actions) -> jax.Array:
  """`log π(a|s)` of a softmax policy: `log_softmax(logits)[a]`.

  Args:
    logits: `[..., A]` unnormalised log-probabilities.
    actions: `[...]` integer actions.

  Returns:
    `[...]` log-probabilities of the actions.
  """
  log_pi = jax.nn.log_softmax(logits, axis=-1)
  return jnp.take_along_axis(log_pi, actions[..., None].astype(jnp.int32), axis=-1)[..., 0]


def categorical_entropy(logits) -> jax.Array:
  """The entropy `−Σ_a π(a) log π(a)` of a softmax policy, `[..., A] -> [...]`."""
  log_pi = jax.nn.log_softmax(logits, axis=-1)
  return -jnp.sum(jnp.exp(log_pi) * log_pi, axis=-1)


def policy_gradient_loss(logits_t, a_t, adv_t, w_t, *, use_stop_gradient=True) -> jax.Array:
  """The REINFORCE / advantage actor-critic loss of a trajectory.

      L = −(1/T) Σ_t w_t · log π(a_t|s_t) · A_t

  With `A_t = G_t` (the return) this is REINFORCE; with `A_t = G_t − b(s_t)` REINFORCE with a
  baseline; with a TD error or GAE advantage, A2C. The gradient is
  `−(1/T) Σ_t w_t A_t ∇ log π(a_t|s_t)`.

  See 'Simple Statistical Gradient-Following Algorithms for Connectionist Reinforcement Learning'
  by R. J. Williams (https://link.springer.com/article/10.1007/BF00992696).

  Args:
    logits_t: policy logits `[T, A]`.
    a_t: actions taken `[T]` (integers).
    adv_t: advantages (or returns) `[T]`.
    w_t: per-step weights `[T]` (e.g. a mask of valid steps).
    use_stop_gradient: whether to stop gradients through the advantages.

  Returns:
    The loss, a scalar.
  """
  chex.assert_rank([logits_t, a_t, adv_t, w_t], [2, 1, 1, 1])
  chex.assert_type([logits_t, a_t, adv_t, w_t], [float, int, float, float])
  chex.assert_equal_shape([a_t, adv_t, w_t])
  chex.assert_equal_shape_prefix([logits_t, a_t], 1)
  log_pi_a = categorical_log_prob(logits_t, a_t)
  adv_t = maybe_stop_gradient(adv_t, use_stop_gradient)
  return -jnp.mean(log_pi_a * adv_t * w_t)


def entropy_loss(logits_t, w_t) -> jax.Array:
  """The negative entropy of a softmax policy, to add (times a coefficient) to a loss.

      L = −(1/T) Σ_t w_t · H(π(·|s_t)),   H(π) = −Σ_a π(a) log π(a)

  Minimising it maximises the entropy (the exploration bonus of A3C and PPO).

  See 'Asynchronous Methods for Deep Reinforcement Learning' by V. Mnih et al.
  (https://arxiv.org/abs/1602.01783).

  Args:
    logits_t: policy logits `[T, A]`.
    w_t: per-step weights `[T]`.

  Returns:
    The loss, a scalar.
  """
  chex.assert_rank([logits_t, w_t], [2, 1])
  chex.assert_type([logits_t, w_t], float)
  chex.assert_equal_shape_prefix([logits_t, w_t], 1)
  return -jnp.mean(categorical_entropy(logits_t) * w_t)


def clipped_surrogate_pg_loss(
  prob_ratios_t, adv_t, epsilon, *, use_stop_gradient=True
) -> jax.Array:
  """PPO's clipped surrogate loss.

      L = −(1/T) Σ_t min(ρ_t A_t, clip(ρ_t, 1 − ε, 1 + ε) A_t),   ρ_t = π(a_t|s_t) / π_old(a_t|s_t)

  Outside the clip range on the side the advantage favours (`ρ > 1 + ε` with `A > 0`, or
  `ρ < 1 − ε` with `A < 0`) the minimum picks the clipped, constant term and the gradient with
  respect to `ρ` is zero.

  See 'Proximal Policy Optimization Algorithms' by J. Schulman, F. Wolski, P. Dhariwal,
  A. Radford and O. Klimov (https://arxiv.org/abs/1707.06347).

  Args:
    prob_ratios_t: ratios `ρ_t` `[T]`, usually `exp(log π − log π_old)`.
    adv_t: advantages `[T]`.
    epsilon: clip range `ε`, scalar (may be traced).
    use_stop_gradient: whether to stop gradients through the advantages.

  Returns:
    The loss, a scalar.
  """
  chex.assert_rank([prob_ratios_t, adv_t], 1)
  chex.assert_type([prob_ratios_t, adv_t], float)
  chex.assert_equal_shape([prob_ratios_t, adv_t])
  adv_t = maybe_stop_gradient(adv_t, use_stop_gradient)
  clipped = jnp.clip(prob_ratios_t, 1.0 - epsilon, 1.0 + epsilon)
  return -jnp.mean(jnp.minimum(prob_ratios_t * adv_t, clipped * adv_t))


def clipped_value_loss(v, v_old, returns, *, epsilon) -> jax.Array:
  """PPO's clipped value loss (as in OpenAI baselines, CleanRL and PureJaxRL).

      L = ½ (1/T) Σ_t max((v_t − G_t)², (v_old,t + clip(v_t − v_old,t, −ε, ε) − G_t)²)

  The value may not move further than `ε` from the rollout's value in the direction that lowers
  the loss. The factor ½ makes it the usual `½ (G − v)²` critic loss when nothing is clipped.
  `returns` are targets: gradients are stopped through them and through `v_old`.

  See 'Implementation Matters in Deep Policy Gradients: A Case Study on PPO and TRPO' by
  L. Engstrom et al. (https://arxiv.org/abs/2005.12729).

  Args:
    v: current value predictions `[T]`.
    v_old: the values predicted when the data was collected `[T]`.
    returns: value targets `[T]`.
    epsilon: clip range `ε` of the value change, scalar (may be traced).

  Returns:
    The loss, a scalar.
  """
  chex.assert_rank([v, v_old, returns], 1)
  chex.assert_type([v, v_old, returns], float)
  chex.assert_equal_shape([v, v_old, returns])
  v_old, returns = jax.lax.stop_gradient(v_old), jax.lax.stop_gradient(returns)
  v_clipped = v_old + jnp.clip(v - v_old, -epsilon, epsilon)
  return 0.5 * jnp.mean(jnp.maximum(jnp.square(v - returns), jnp.square(v_clipped - returns)))


def value_loss(v, returns) -> jax.Array:
  """The critic loss `½ (1/T) Σ_t (G_t − v_t)²` (gradients stopped through the targets).

  Args:
    v: value predictions `[T]`.
    returns: value targets `[T]`.

  Returns:
    The loss, a scalar.
  """
  chex.assert_rank([v, returns], 1)
  chex.assert_equal_shape([v, returns])
  return 0.5 * jnp.mean(jnp.square(jax.lax.stop_gradient(returns) - v))


def bootstrap_truncations(r_t, terminated_t, truncated_t, v_final_t, *, discount):
  """Rewards and discounts of a trajectory that bootstrap through time-limit truncations.

      discount_t = γ · (1 − terminated_t) · (1 − truncated_t)
      r'_t = r_t + γ · truncated_t · (1 − terminated_t) · v_final_t

  gymnax 1.0 auto-resets on `terminated ∨ truncated`: the next observation in a rollout is then
  the first of a new episode. A termination ends the return (no bootstrap). A truncation (the time
  limit) does not: the value of the state the episode was cut in (`info["final_observation"]`,
  the pre-reset observation), `v_final_t`, is folded into the reward, and the discount is zeroed
  so that nothing flows across the reset. Feeding `(r', discount)` to `gae`, `lambda_returns` or
  `discounted_returns` then gives, at a truncation, `δ_t = r_t + γ v(s_final) − v(s_t)` and at a
  termination `δ_t = r_t − v(s_t)`. Where both flags are set, the termination wins.

  See 'Time Limits in Reinforcement Learning' by F. Pardo, A. Tavakoli, V. Levdik and P. Kormushev
  (https://arxiv.org/abs/1712.00378).

  Args:
    r_t: rewards `[T]`.
    terminated_t: termination flags `[T]` (bool or 0/1).
    truncated_t: truncation flags `[T]` (bool or 0/1).
    v_final_t: values of the pre-reset next states `[T]` (only used where truncated).
    discount: `γ`, scalar (may be traced).

  Returns:
    `(r', discount_t)`, both `[T]`.
  """
  chex.assert_rank([r_t, terminated_t, truncated_t, v_final_t], 1)
  chex.assert_equal_shape([r_t, terminated_t, truncated_t, v_final_t])
  dtype = jnp.result_type(r_t, v_final_t)
  term = jnp.asarray(terminated_t).astype(dtype)
  trunc = jnp.asarray(truncated_t).astype(dtype) * (1.0 - term)
  bootstrap = jnp.where(trunc > 0, discount * v_final_t, 0.0)
  return r_t + bootstrap, discount * (1.0 - term) * (1.0 - trunc)


def truncation_aware_gae(reward, terminated, truncated, values, final_values, *, discount,
                         lambda_) -> jax.Array:
  """GAE of `N` auto-reset rollouts of `T` steps (time-major), bootstrapping through truncations.

  Per environment (column): `bootstrap_truncations` folds `γ · v(s_final)` into the reward at a
  time-limit truncation and zeroes the discount at every episode end, then `gae` runs over the
  column with `values[T]` (the value after the rollout) as its bootstrap.

  Args:
    reward, terminated, truncated: `[T, N]`.
    values: `[T + 1, N]` state values of the observations the rollout saw, then the last one.
    final_values: `[T, N]` values of the pre-reset next observations (used where truncated).
    discount: `γ`, scalar (may be traced).
    lambda_: GAE's `λ`, scalar (may be traced).

  Returns:
    Advantages `[T, N]`.
  """
  from research.rl.returns import gae

  chex.assert_rank([reward, terminated, truncated, values, final_values], 2)
  rewards, discounts = jax.vmap(
      lambda r, te, tr, vf: bootstrap_truncations(r, te, tr, vf, discount=discount),
      in_axes=1, out_axes=1)(reward, terminated, truncated, final_values)
  return jax.vmap(lambda r, d, vs: gae(r, d, lambda_, vs), in_axes=1, out_axes=1)(
      rewards, discounts, values)

