"""Token-level losses for language-model policy optimisation: aggregation, the clipped policy
surrogate (PPO / GRPO / DAPO / Dr. GRPO, optional dual clip and KL-in-loss), a masked value loss
and an SFT (pre-training) loss to mix in.

Every loss takes per-token tensors `[B, L]` with a float mask `[B, L]` and reduces them with
`aggregate`, whose normaliser is named explicitly. Global gradient-norm clipping (PPO-max) is
`optax.clip_by_global_norm`; it is not reimplemented here.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from research import checks
from research.llm_rl._common import safe_div
from research.llm_rl.kl import KL_KINDS, kl_estimate

AGGREGATION_MODES = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm")


def masked_mean(x, mask, *, axis=None) -> jax.Array:
  """`Σ m x / Σ m` over `axis` (all axes by default); 0 where `Σ m = 0`.

  Masked entries are excluded with `where`, so non-finite values there do not leak in.

  Args:
    x: values, any shape.
    mask: float or boolean mask, the shape of `x`.
    axis: axis or axes to reduce (`None`: all).

  Returns:
    The masked mean, `x`'s shape without `axis`.
  """
  chex.assert_equal_shape([x, mask])
  x = jnp.asarray(x)
  mask = jnp.asarray(mask).astype(x.dtype)
  total = jnp.where(mask > 0, x * mask, 0).sum(axis=axis)
  return safe_div(total, mask.sum(axis=axis))


def aggregate(per_token, mask, *, mode, max_len=None) -> jax.Array:
  """Reduces a per-token loss `ℓ[B, L]` to a scalar with an explicit normaliser.

  With `|o_i| = Σ_t m_{i,t}`:

  .. math::

    \\text{token-mean} = \\frac{\\sum_{i,t} m_{i,t} \\ell_{i,t}}{\\sum_{i,t} m_{i,t}}, \\quad
    \\text{seq-mean-token-mean} = \\frac{1}{B} \\sum_i \\frac{\\sum_t m_{i,t} \\ell_{i,t}}{|o_i|},
    \\quad
    \\text{seq-mean-token-sum-norm} = \\frac{\\sum_{i,t} m_{i,t} \\ell_{i,t}}{B \\cdot L_{max}}.

  `token-mean` (DAPO) weights every token equally; `seq-mean-token-mean` (GRPO paper) weights every
  sequence equally, so a token of a long sequence gets less weight (the length bias);
  `seq-mean-token-sum-norm` (Dr. GRPO) divides by the constant `B · L_max`, `L_max = max_len` or
  `L`.

  Empty sequences (`|o_i| = 0`, e.g. removed by overlong filtering) contribute nothing and produce
  no NaN: in `seq-mean-token-mean` they are left out of the mean over sequences (`B` counts the
  non-empty rows only, as verl's `exclude_fully_masked_seq`), so masking a row equals removing it;
  `seq-mean-token-sum-norm` keeps its constant normaliser `B · L_max` (all rows) by design. An
  all-empty batch gives 0 in every mode. Masked entries are excluded with `where`, so non-finite
  values there do not leak into the loss.

  See 'DeepSeekMath' by Z. Shao et al. (https://arxiv.org/abs/2402.03300), 'DAPO: An Open-Source
  LLM Reinforcement Learning System at Scale' by Q. Yu et al. (https://arxiv.org/abs/2503.14476)
  and 'Understanding R1-Zero-Like Training: A Critical Perspective' by Z. Liu et al.
  (https://arxiv.org/abs/2503.20783).

  Args:
    per_token: per-token loss `[B, L]`.
    mask: float mask `[B, L]`.
    mode: `"token-mean"`, `"seq-mean-token-mean"` or `"seq-mean-token-sum-norm"` (static).
    max_len: `L_max` for `seq-mean-token-sum-norm` (default `L`); ignored by the other modes.

  Returns:
    The aggregated loss, scalar.
  """
  chex.assert_rank([per_token, mask], 2)
  chex.assert_type(per_token, float)
  chex.assert_equal_shape([per_token, mask])
  _check_aggregation(mode, max_len, name="mode")
  per_token = jnp.asarray(per_token)
  mask = jnp.asarray(mask).astype(per_token.dtype)
  weighted = jnp.where(mask > 0, per_token * mask, 0)
  if mode == "token-mean":
    return safe_div(weighted.sum(), mask.sum())
  if mode == "seq-mean-token-mean":
    lengths = mask.sum(axis=1)
    per_sequence = safe_div(weighted.sum(axis=1), lengths)
    return safe_div(per_sequence.sum(), (lengths > 0).sum().astype(per_token.dtype))
  batch, length = per_token.shape
  return weighted.sum() / (batch * (length if max_len is None else max_len))


def _check_aggregation(mode, max_len, *, name):
  """Checks an aggregation mode (the argument `name`) and a concrete `max_len`."""
  checks.choice(mode, name, AGGREGATION_MODES)
  if max_len is not None and checks.is_python_number(max_len) and max_len <= 0:
    raise ValueError(f"max_len must be positive, got {max_len}")


def policy_loss(
  logp,
  old_logp,
  advantages,
  mask,
  *,
  eps_low=0.2,
  eps_high=0.2,
  dual_clip=None,
  aggregation="token-mean",
  max_len=None,
  ref_logp=None,
  kl_coef=0.0,
  kl_kind="k3",
  entropy=None,
):
  """The clipped policy surrogate with asymmetric clipping, optional dual clip and KL-in-loss.

  With `ρ = exp(logp − old_logp)` and the advantage `A` of the token (a sequence advantage `[B]` is
  broadcast over its tokens), the per-token loss is

  .. math::

    J = \\min(\\rho A, \\operatorname{clip}(\\rho, 1 - \\epsilon_{low}, 1 + \\epsilon_{high}) A),
    \\qquad
    J^{dual} = \\begin{cases} \\max(J, c A) & A < 0 \\\\ J & A \\ge 0 \\end{cases},
    \\qquad
    \\ell = -J^{(dual)} + \\beta \\, k(\\text{logp}, \\text{ref\\_logp}),

  aggregated with `aggregate(ℓ, mask, mode=aggregation, max_len=max_len)`. `ε_low = ε_high` is
  PPO/GRPO; `ε_high > ε_low` is DAPO's clip-higher (0.2 / 0.28). The dual clip (`c > 1`, e.g. 3)
  bounds the loss of a negative-advantage token whose ratio has grown large: for `A < 0` the loss
  is `min(−J, −c A)` and its gradient is 0 once `ρ > c`. The KL term (GRPO: `k3`) is added per
  token before aggregation when `ref_logp` is given. `old_logp`, `advantages` and `ref_logp` are
  wrapped in `stop_gradient`. At masked positions the log-ratio and the KL are computed from zeros,
  so padding values (even non-finite) do not affect the loss or its gradient.

  Metrics (scalars, no gradient; masked token means unless said otherwise):

  - `loss`: the returned loss; `pg_loss`: the aggregated surrogate alone; `kl_loss`: the aggregated
    `β k` term (0 without `ref_logp`);
  - `clip_frac_low`: fraction of tokens with `ρ < 1 − ε_low` and `A < 0` (clipped from below);
    `clip_frac_high`: `ρ > 1 + ε_high` and `A > 0`; `clip_frac` their sum;
  - `dual_clip_frac` (only with `dual_clip`): `A < 0` and `ρ > c`;
  - `approx_kl`: the `k3` estimate of KL(π_old ‖ π_θ) from the sampled tokens,
    `mean(ρ − 1 − log ρ)` (unbiased, non-negative);
  - `ratio_mean`: the mean of `ρ`;
  - `entropy` (only if `entropy` is given): its mean (entropy needs the full distribution, which
    log-probabilities of the sampled tokens do not carry);
  - `kl_ref` (only with `ref_logp`): the mean of `kl_estimate(logp, ref_logp, kind=kl_kind)`.

  See 'Proximal Policy Optimization Algorithms' by J. Schulman et al.
  (https://arxiv.org/abs/1707.06347), 'Mastering Complex Control in MOBA Games with Deep
  Reinforcement Learning' by D. Ye et al. (https://arxiv.org/abs/1912.09729), 'DeepSeekMath' by
  Z. Shao et al. (https://arxiv.org/abs/2402.03300) and 'DAPO' by Q. Yu et al.
  (https://arxiv.org/abs/2503.14476).

  Args:
    logp: log-probabilities of the sampled tokens under the current policy `[B, L]`.
    old_logp: the same under the behaviour (sampling) policy `[B, L]`.
    advantages: advantages `[B]` (per sequence) or `[B, L]` (per token).
    mask: float mask `[B, L]`.
    eps_low: lower clip range, `ρ ≥ 1 − ε_low`.
    eps_high: upper clip range, `ρ ≤ 1 + ε_high`.
    dual_clip: the dual-clip constant `c > 1`, or `None` for none.
    aggregation: the `aggregate` mode (static).
    max_len: `L_max` for `seq-mean-token-sum-norm`.
    ref_logp: log-probabilities under the reference policy `[B, L]`, or `None`.
    kl_coef: `β`, the weight of the KL term (needs `ref_logp` unless 0).
    kl_kind: `"k1"`, `"k2"` or `"k3"`, the KL estimator (static).
    entropy: optional per-token entropies `[B, L]`, only reported.

  Returns:
    `(loss, metrics)`: the scalar loss and a dict of scalar metrics.
  """
  chex.assert_rank([logp, old_logp, advantages, mask], [2, 2, {1, 2}, 2])
  chex.assert_type([logp, old_logp, advantages], float)
  chex.assert_equal_shape([logp, old_logp, mask])
  chex.assert_equal_shape_prefix([logp, advantages], 1)
  if advantages.ndim == 2:
    chex.assert_equal_shape([logp, advantages])
  if dual_clip is not None and checks.is_python_number(dual_clip) and dual_clip <= 1:
    raise ValueError(f"dual_clip must be > 1, got {dual_clip}")
  if ref_logp is None and not (checks.is_python_number(kl_coef) and kl_coef == 0):
    raise ValueError("kl_coef is non-zero but ref_logp is None")
  if ref_logp is not None:
    chex.assert_type(ref_logp, float)
    chex.assert_equal_shape([logp, ref_logp])
  if entropy is not None:
    chex.assert_equal_shape([logp, entropy])
  _check_aggregation(aggregation, max_len, name="aggregation")
  checks.choice(kl_kind, "kl_kind", KL_KINDS)
  sg = jax.lax.stop_gradient
  logp = jnp.asarray(logp)
  dtype = logp.dtype
  mask = jnp.asarray(mask).astype(dtype)
  valid = mask > 0
  adv = sg(jnp.asarray(advantages, dtype))
  if adv.ndim == 1:
    adv = jnp.broadcast_to(adv[:, None], logp.shape)
  adv = jnp.where(valid, adv, 0)
  zero = jnp.zeros_like(logp)
  logp_safe = jnp.where(valid, logp, zero)
  log_ratio = logp_safe - jnp.where(valid, sg(old_logp), zero)
  ratio = jnp.exp(log_ratio)

  objective = jnp.minimum(ratio * adv, jnp.clip(ratio, 1 - eps_low, 1 + eps_high) * adv)
  if dual_clip is not None:
    objective = jnp.where(adv < 0, jnp.maximum(objective, dual_clip * adv), objective)
  pg_per_token = -objective
  per_token = pg_per_token
  if ref_logp is not None:
    kl_ref = kl_estimate(logp_safe, jnp.where(valid, sg(ref_logp), zero), kind=kl_kind)
    per_token = per_token + kl_coef * kl_ref
  loss = aggregate(per_token, mask, mode=aggregation, max_len=max_len)

  mean = lambda x: sg(masked_mean(x.astype(dtype), mask, axis=None))
  pg_loss = sg(aggregate(pg_per_token, mask, mode=aggregation, max_len=max_len))
  clip_low = mean((ratio < 1 - eps_low) & (adv < 0))
  clip_high = mean((ratio > 1 + eps_high) & (adv > 0))
  metrics = {
    "loss": sg(loss),
    "pg_loss": pg_loss,
    "kl_loss": sg(loss) - pg_loss,
    "clip_frac_low": clip_low,
    "clip_frac_high": clip_high,
    "clip_frac": clip_low + clip_high,
    "approx_kl": mean(kl_estimate(zero, sg(log_ratio), kind="k3")),
    "ratio_mean": mean(ratio),
  }
  if dual_clip is not None:
    metrics["dual_clip_frac"] = mean((adv < 0) & (ratio > dual_clip))
  if entropy is not None:
    metrics["entropy"] = mean(jnp.asarray(entropy))
  if ref_logp is not None:
    metrics["kl_ref"] = mean(kl_ref)
  return loss, metrics


def value_loss(
  values, old_values, returns, mask, *, clip_eps=None, aggregation="token-mean", max_len=None
) -> jax.Array:
  """Token-level squared-error critic loss with optional value clipping (PPO, PPO-max).

  .. math::

    \\ell_t = \\tfrac12 \\max\\big((V_t - G_t)^2,
      (V^{old}_t + \\operatorname{clip}(V_t - V^{old}_t, -\\epsilon_v, \\epsilon_v) - G_t)^2\\big),

  or `½ (V_t − G_t)²` without clipping (`clip_eps=None`), aggregated with `aggregate`. `old_values`
  and `returns` are wrapped in `stop_gradient`. (research.rl's `clipped_value_loss` is the
  single-trajectory, unmasked form; the two agree on a full mask with `token-mean`.)

  See 'Secrets of RLHF in Large Language Models Part I: PPO' by R. Zheng et al.
  (https://arxiv.org/abs/2307.04964) and 'Implementation Matters in Deep Policy Gradients' by
  L. Engstrom et al. (https://arxiv.org/abs/2005.12729).

  Args:
    values: critic values `[B, L]`.
    old_values: the values when the rollout was collected `[B, L]`.
    returns: value targets `[B, L]` (e.g. `token_gae(...) + old_values`).
    mask: float mask `[B, L]`.
    clip_eps: `ε_v`, or `None` for no clipping.
    aggregation: the `aggregate` mode (static).
    max_len: `L_max` for `seq-mean-token-sum-norm`.

  Returns:
    The loss, scalar.
  """
  chex.assert_rank([values, old_values, returns, mask], 2)
  chex.assert_type([values, old_values, returns], float)
  chex.assert_equal_shape([values, old_values, returns, mask])
  _check_aggregation(aggregation, max_len, name="aggregation")
  sg = jax.lax.stop_gradient
  valid = jnp.asarray(mask) > 0
  values = jnp.where(valid, values, 0)
  old_values = jnp.where(valid, sg(old_values), 0)
  returns = jnp.where(valid, sg(returns), 0)
  per_token = jnp.square(values - returns)
  if clip_eps is not None:
    clipped = old_values + jnp.clip(values - old_values, -clip_eps, clip_eps)
    per_token = jnp.maximum(per_token, jnp.square(clipped - returns))
  return aggregate(0.5 * per_token, mask, mode=aggregation, max_len=max_len)


def sft_loss(logp_demo, mask, *, aggregation="token-mean", max_len=None) -> jax.Array:
  """Negative log-likelihood of demonstration tokens, to mix into the RL loss (PPO-ptx, PPO-max).

  .. math::

    \\mathcal{L}_{SFT} = -\\frac{\\sum_{i,t} m_{i,t} \\log \\pi(y_{i,t} \\mid \\cdot)}
                             {\\sum_{i,t} m_{i,t}} \\quad (\\text{token-mean}).

  The total loss is then e.g. `policy_loss + γ_sft · sft_loss`.

  See 'Training Language Models to Follow Instructions with Human Feedback' by L. Ouyang et al.
  (https://arxiv.org/abs/2203.02155) and 'Secrets of RLHF in Large Language Models Part I: PPO' by
  R. Zheng et al. (https://arxiv.org/abs/2307.04964).

  Args:
    logp_demo: log-probabilities of the demonstration tokens under the policy `[B, L]`.
    mask: float mask `[B, L]`.
    aggregation: the `aggregate` mode (static; default the token mean).
    max_len: `L_max` for `seq-mean-token-sum-norm`.

  Returns:
    The loss, scalar.
  """
  chex.assert_rank([logp_demo, mask], 2)
  chex.assert_type(logp_demo, float)
  chex.assert_equal_shape([logp_demo, mask])
  _check_aggregation(aggregation, max_len, name="aggregation")
  valid = mask > 0
  return aggregate(-jnp.where(valid, logp_demo, 0), mask, mode=aggregation, max_len=max_len)
