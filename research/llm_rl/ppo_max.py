"""PPO-max pieces for RLHF-style PPO: running reward normalisation and clipping, the per-token
KL penalty in the reward, and masked advantage whitening.

The other PPO-max ingredients live elsewhere: value clipping is `value_loss(..., clip_eps=...)`,
SFT mixing is `sft_loss`, token-level GAE is `token_gae`, and global gradient clipping is
`optax.clip_by_global_norm`. Pre-training the critic before the policy moves is a loop schedule.

See 'Secrets of RLHF in Large Language Models Part I: PPO' by R. Zheng et al.
(https://arxiv.org/abs/2307.04964).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp

from research import checks
from research.llm_rl._common import as_float, safe_div
from research.llm_rl.kl import KL_KINDS, kl_estimate


class RewardNormalizerState(NamedTuple):
  """Running moments of every reward seen so far.

  Attributes:
    count: number (total mask weight) of rewards seen, float scalar.
    mean: their mean, scalar.
    m2: the sum of squared deviations from the mean, scalar (variance = `m2 / count`).
  """

  count: jax.Array
  mean: jax.Array
  m2: jax.Array


class RewardNormalizer(NamedTuple):
  """A pure `(init, update)` pair, as an optax `GradientTransformation`.

  Attributes:
    init: `() -> RewardNormalizerState`.
    update: `(state, rewards, mask=None) -> (state, normalized_rewards)`.
  """

  init: Callable[[], RewardNormalizerState]
  update: Callable[..., tuple[RewardNormalizerState, jax.Array]]


def reward_normalizer(*, clip=5.0, eps=1e-8, shift_mean=True) -> RewardNormalizer:
  """Running reward normalisation and clipping (PPO-max).

  `update` first merges the batch into the running moments with the parallel formula of Chan et
  al. (batch `b` with `n_b` rewards, mean `μ_b`, squared-deviation sum `M2_b`), then normalises the
  batch with the updated moments:

  .. math::

    n = n_a + n_b, \\quad \\delta = \\mu_b - \\mu_a, \\quad
    \\mu = \\mu_a + \\delta \\frac{n_b}{n}, \\quad
    M_2 = M_{2,a} + M_{2,b} + \\delta^2 \\frac{n_a n_b}{n},

  .. math::

    \\tilde r = \\operatorname{clip}\\Big(\\frac{r - \\mu}{\\sqrt{\\sigma^2 + \\epsilon}},
      -\\delta_{clip}, \\delta_{clip}\\Big), \\qquad \\sigma^2 = M_2 / n
      \\ (\\text{population variance, ddof}=0).

  `shift_mean=False` divides only (reward scaling, `r / sqrt(σ² + ε)`); `clip=None` does not clip.
  The moments cover all rewards seen, in float32 (or the rewards' dtype); a batch with no valid
  reward leaves the state unchanged.

  Example::

    normalizer = reward_normalizer(clip=5.0)
    state = normalizer.init()
    state, r = normalizer.update(state, jnp.array([1.0, 0.0, 1.0]))

  See 'Secrets of RLHF in Large Language Models Part I: PPO' by R. Zheng et al.
  (https://arxiv.org/abs/2307.04964) and 'Updating Formulae and a Pairwise Algorithm for
  Computing Sample Variances' by T. F. Chan, G. H. Golub and R. J. LeVeque
  (http://i.stanford.edu/pub/cstr/reports/cs/tr/79/773/CS-TR-79-773.pdf).

  Args:
    clip: `δ_clip`, the symmetric clip range of the normalised rewards, or `None`.
    eps: added to the variance under the square root.
    shift_mean: subtract the running mean (normalisation) or not (scaling only).

  Returns:
    A `RewardNormalizer` `(init, update)`; `update(state, rewards, mask=None)` takes rewards of any
    shape (e.g. `[B]`) and an optional mask of the same shape; masked entries are not counted and
    are returned as 0.
  """
  if clip is not None and checks.is_python_number(clip) and clip <= 0:
    raise ValueError(f"clip must be positive or None, got {clip}")

  def init() -> RewardNormalizerState:
    zero = jnp.zeros((), jnp.result_type(float))
    return RewardNormalizerState(count=zero, mean=zero, m2=zero)

  def update(state, rewards, mask=None):
    rewards = as_float(rewards)
    if mask is not None:
      chex.assert_equal_shape([rewards, mask])
    weights = jnp.ones_like(rewards) if mask is None else jnp.asarray(mask).astype(rewards.dtype)
    dtype = jnp.result_type(rewards.dtype, jnp.asarray(state.mean).dtype)
    rewards, weights = rewards.astype(dtype), weights.astype(dtype)
    count_a, mean_a, m2_a = (jnp.asarray(x, dtype) for x in state)
    valid = weights > 0
    count_b = weights.sum()
    mean_b = safe_div(jnp.where(valid, weights * rewards, 0).sum(), count_b)
    m2_b = jnp.where(valid, weights * jnp.square(rewards - mean_b), 0).sum()
    count = count_a + count_b
    delta = mean_b - mean_a
    mean = mean_a + delta * safe_div(count_b, count)
    m2 = m2_a + m2_b + jnp.square(delta) * safe_div(count_a * count_b, count)
    var = safe_div(m2, count)
    centred = rewards - mean if shift_mean else rewards
    normalized = centred * jax.lax.rsqrt(var + eps)
    if clip is not None:
      normalized = jnp.clip(normalized, -clip, clip)
    normalized = jnp.where(valid, normalized, 0)
    return RewardNormalizerState(count=count, mean=mean, m2=m2), normalized

  return RewardNormalizer(init=init, update=update)


def masked_whiten(x, mask, *, shift_mean=True, eps=1e-8) -> jax.Array:
  """Whitens `x` with the mean and variance of its masked entries (advantage normalisation).

  With `n = Σ m`, `μ = Σ m x / n` and the sample variance (`ddof=1`, as trl/trlX)
  `σ² = Σ m (x − μ)² / (n − 1)`:

  .. math::

    \\tilde x = \\frac{x - \\mu}{\\sqrt{\\sigma^2 + \\epsilon}} \\quad (\\text{shift\\_mean=True}),
    \\qquad \\tilde x = \\frac{x - \\mu}{\\sqrt{\\sigma^2 + \\epsilon}} + \\mu
    \\quad (\\text{shift\\_mean=False: the mean is kept, as trl}).

  Statistics are over all masked entries together (e.g. every valid token of the batch). With
  fewer than two valid entries the variance is taken as 0 (no NaN). Masked entries are returned
  as 0.

  See 'Secrets of RLHF in Large Language Models Part I: PPO' by R. Zheng et al.
  (https://arxiv.org/abs/2307.04964).

  Args:
    x: values, e.g. advantages `[B, L]`.
    mask: float mask, the shape of `x`.
    shift_mean: leave the result centred (True) or add the mean back (False).
    eps: added to the variance under the square root.

  Returns:
    The whitened values, the shape of `x`.
  """
  chex.assert_type(x, float)
  chex.assert_equal_shape([x, mask])
  x = jnp.asarray(x)
  mask = jnp.asarray(mask).astype(x.dtype)
  valid = mask > 0
  count = mask.sum()
  mean = safe_div(jnp.where(valid, mask * x, 0).sum(), count)
  centred = jnp.where(valid, x - mean, 0)
  var = safe_div((mask * jnp.square(centred)).sum(), count - 1)
  var = jnp.where(count > 1, var, 0)
  whitened = centred * jax.lax.rsqrt(var + eps)
  if not shift_mean:
    whitened = whitened + mean
  return jnp.where(valid, whitened, 0)


def kl_penalty_rewards(rewards, logp, ref_logp, mask, *, kl_coef, kl_kind="k1") -> jax.Array:
  """Per-token rewards with a KL penalty to the reference policy (PPO / RLHF).

  .. math::

    r_{i,t} = -\\beta \\, k(\\text{logp}_{i,t}, \\text{ref}_{i,t}) \\, m_{i,t}
              + R_i \\, [t = T_i], \\qquad T_i = \\max\\{t : m_{i,t} > 0\\},

  with `k = k1 = logp − ref` by default (InstructGPT, PPO-max): the sequence reward `R_i` lands on
  the last valid token, the KL penalty on every valid token. An empty row gets all zeros (its
  sequence reward is dropped). The result is a reward, so it carries no gradient
  (`stop_gradient`). Feed it to `token_gae`.

  See 'Fine-Tuning Language Models from Human Preferences' by D. M. Ziegler et al.
  (https://arxiv.org/abs/1909.08593) and 'Secrets of RLHF in Large Language Models Part I: PPO'
  by R. Zheng et al. (https://arxiv.org/abs/2307.04964).

  Args:
    rewards: sequence rewards `[B]`.
    logp: log-probabilities of the sampled tokens under the rollout policy `[B, L]`.
    ref_logp: the same under the reference policy `[B, L]`.
    mask: float mask `[B, L]`.
    kl_coef: `β`.
    kl_kind: `"k1"`, `"k2"` or `"k3"` (static; default `k1`).

  Returns:
    Per-token rewards `[B, L]`.
  """
  chex.assert_rank([rewards, logp, ref_logp, mask], [1, 2, 2, 2])
  chex.assert_type([logp, ref_logp], float)
  chex.assert_equal_shape([logp, ref_logp, mask])
  chex.assert_equal_shape_prefix([rewards, logp], 1)
  checks.choice(kl_kind, "kl_kind", KL_KINDS)
  rewards, logp, ref_logp = as_float(rewards), jnp.asarray(logp), jnp.asarray(ref_logp)
  valid = jnp.asarray(mask) > 0
  zero = jnp.zeros_like(logp)
  kl = kl_estimate(jnp.where(valid, logp, zero), jnp.where(valid, ref_logp, zero), kind=kl_kind)
  positions = jnp.arange(logp.shape[1])
  last = jnp.max(jnp.where(valid, positions, -1), axis=1)
  is_last = positions[None, :] == last[:, None]
  rewards = rewards.astype(logp.dtype)
  per_token = jnp.where(valid, -kl_coef * kl, 0) + jnp.where(is_last, rewards[:, None], 0)
  return jax.lax.stop_gradient(per_token)
