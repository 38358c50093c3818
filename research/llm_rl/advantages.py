"""Advantages for language-model policy optimisation: group baselines (GRPO, Dr. GRPO, RLOO) and
token-level GAE with a critic (PPO).

A group is `G` completions of one prompt, stored as consecutive rows: rows `[kG, (k+1)G)` form
group `k`, so a batch of `B` rewards holds `B // G` groups.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from research.llm_rl._common import as_float, check_group_size, grouped
from research.rl import gae


def group_advantages(rewards, *, group_size, normalize_std=True, eps=1e-6) -> jax.Array:
  """Group-relative advantages: the GRPO z-score, or Dr. GRPO's group-centred reward.

  For completion `i` of a group `g` of `G` completions with rewards `R`:

  .. math::

    A_i = \\frac{R_i - \\operatorname{mean}_g R}{\\operatorname{std}_g R + \\epsilon}
    \\quad (\\text{normalize\\_std=True, GRPO}), \\qquad
    A_i = R_i - \\operatorname{mean}_g R \\quad (\\text{normalize\\_std=False, Dr. GRPO}),

  with the sample standard deviation (`ddof=1`):
  `std_g R = sqrt(Σ_{j∈g} (R_j − mean_g R)² / (G − 1))`. A group whose rewards are all equal has
  zero advantages (exactly, in any precision: the group is centred on one of its members
  before it is averaged). A group of size 1 has no baseline other than itself: its
  advantage is defined as 0 (the `ddof=1` std is undefined there; no NaN is produced).

  See 'DeepSeekMath: Pushing the Limits of Mathematical Reasoning in Open Language Models' by
  Z. Shao et al. (https://arxiv.org/abs/2402.03300) and 'Understanding R1-Zero-Like Training: A
  Critical Perspective' by Z. Liu et al. (https://arxiv.org/abs/2503.20783).

  Args:
    rewards: sequence rewards `[B]`, `B` a multiple of `group_size`.
    group_size: completions per prompt `G` (static Python int).
    normalize_std: divide by the group's standard deviation (GRPO) or not (Dr. GRPO).
    eps: added to the standard deviation.

  Returns:
    Advantages `[B]`.
  """
  chex.assert_rank(rewards, 1)
  rewards = as_float(rewards)
  group_size = check_group_size(group_size, rewards.shape[0])
  normalize_std = bool(normalize_std)
  r = grouped(rewards, group_size)
  if group_size == 1:
    return jnp.zeros_like(rewards)
  # Centre on the group's first member before averaging: the mean of G equal values that are not
  # dyadic (100.3, 1/3) is off by an ulp in float32, and dividing by `std + eps` would amplify
  # it ~1e6×. Shifted, an all-equal group is exactly zero, and so are its advantages.
  shifted = r - r[:, :1]
  centred = shifted - shifted.mean(axis=1, keepdims=True)
  if normalize_std:
    var = jnp.sum(jnp.square(centred), axis=1, keepdims=True) / (group_size - 1)
    positive = var > 0  # a safe square root: finite gradients for constant groups
    std = jnp.where(positive, jnp.sqrt(jnp.where(positive, var, 1)), 0)
    centred = centred / (std + eps)
  return centred.reshape(rewards.shape)


def rloo_advantages(rewards, *, group_size) -> jax.Array:
  """REINFORCE leave-one-out advantages: each reward minus the mean of the others in its group.

  .. math::

    A_i = R_i - \\frac{1}{G - 1} \\sum_{j \\in g, j \\ne i} R_j
        = \\frac{G}{G - 1} (R_i - \\operatorname{mean}_g R).

  The baseline does not depend on `R_i`, so the estimator stays unbiased. A group of size 1 has no
  other rewards: its advantage is defined as 0.

  See 'Buy 4 REINFORCE Samples, Get a Baseline for Free!' by W. Kool, H. van Hoof and M. Welling
  (https://openreview.net/forum?id=r1lgTGL5DE) and 'Back to Basics: Revisiting REINFORCE Style
  Optimization for Learning from Human Feedback in LLMs' by A. Ahmadian et al.
  (https://arxiv.org/abs/2402.14740).

  Args:
    rewards: sequence rewards `[B]`, `B` a multiple of `group_size`.
    group_size: completions per prompt `G` (static Python int).

  Returns:
    Advantages `[B]`.
  """
  chex.assert_rank(rewards, 1)
  rewards = as_float(rewards)
  group_size = check_group_size(group_size, rewards.shape[0])
  if group_size == 1:
    return jnp.zeros_like(rewards)
  r = grouped(rewards, group_size)
  baseline = (r.sum(axis=1, keepdims=True) - r) / (group_size - 1)
  return (r - baseline).reshape(rewards.shape)


def token_gae(
  rewards, values, mask, *, discount=1.0, lambda_=0.95, stop_target_gradients=False
) -> jax.Array:
  """Token-level GAE over variable-length completions, `research.rl.gae` vmapped over rows.

  Each row is a trajectory whose actions are its tokens. With `m` the mask,

  .. math::

    \\delta_t = r_t + \\gamma_t V_{t+1} - V_t, \\qquad
    A_t = \\delta_t + \\gamma_t \\lambda A_{t+1}, \\qquad \\gamma_t = \\gamma \\, m_{t+1},

  so a run of valid tokens ends its episode after its last valid token (no bootstrap from
  padding). Rewards and values at masked positions are ignored (treated as 0), and the returned
  advantages are 0 there. The bootstrap value after position `L − 1`:

  - `values` `[B, L]`: none (`V_L = 0`, `m_L = 0`): every completion is a finished episode, the
    usual RLHF setting (EOS or the generation budget ends the episode);
  - `values` `[B, L + 1]`: `values[:, L]` bootstraps rows whose last position is valid (rows cut
    by the generation budget, `m_L = 1`); rows that end earlier stay terminal.

  Masks are expected to be contiguous runs of ones per row (leading zeros, e.g. a prompt, are
  fine); a hole in a row splits it into separate episodes. Value targets for the critic are
  `advantages + values[:, :L]` on valid tokens. Pass per-token rewards, e.g. from
  `kl_penalty_rewards`.

  See 'High-Dimensional Continuous Control Using Generalized Advantage Estimation' by
  J. Schulman, P. Moritz, S. Levine, M. Jordan and P. Abbeel (https://arxiv.org/abs/1506.02438)
  and 'Secrets of RLHF in Large Language Models Part I: PPO' by R. Zheng et al.
  (https://arxiv.org/abs/2307.04964).

  Args:
    rewards: per-token rewards `[B, L]`.
    values: critic values `[B, L]` or `[B, L + 1]` (see above).
    mask: token mask `[B, L]` (1 for completion tokens).
    discount: per-token discount `γ`, scalar (1 in most LLM work).
    lambda_: GAE `λ`, scalar.
    stop_target_gradients: whether to stop gradients through the advantages.

  Returns:
    Advantages `[B, L]`, 0 at masked positions.
  """
  chex.assert_rank([rewards, values, mask], 2)
  chex.assert_type([rewards, values], float)
  chex.assert_equal_shape([rewards, mask])
  chex.assert_equal_shape_prefix([rewards, values], 1)
  length = rewards.shape[1]
  if values.shape[1] not in (length, length + 1):
    raise ValueError(
      f"values must have shape [B, L] or [B, L + 1] with L = {length}, got {list(values.shape)}"
    )
  batch, length = rewards.shape
  valid = mask > 0
  dtype = jnp.result_type(rewards, values)
  rewards = jnp.where(valid, rewards, 0).astype(dtype)
  values = jnp.asarray(values, dtype)
  if values.shape[1] == length:
    values = jnp.concatenate([jnp.where(valid, values, 0), jnp.zeros((batch, 1), dtype)], axis=1)
    last_next = jnp.zeros((batch, 1), bool)
  else:
    bootstrap = jnp.where(valid[:, -1:], values[:, -1:], 0)
    values = jnp.concatenate([jnp.where(valid, values[:, :-1], 0), bootstrap], axis=1)
    last_next = jnp.ones((batch, 1), bool)
  next_valid = jnp.concatenate([valid[:, 1:], last_next], axis=1)
  discount_t = discount * next_valid.astype(dtype)
  lambda_ = jnp.asarray(lambda_, dtype)
  advantages = jax.vmap(
    lambda r, d, v: gae(r, d, lambda_, v, stop_target_gradients=stop_target_gradients)
  )(rewards, discount_t, values)
  return jnp.where(valid, advantages, 0)
