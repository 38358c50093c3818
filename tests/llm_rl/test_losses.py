"""Aggregation, the clipped policy loss, value and SFT losses: hand examples, NumPy, gradients."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from research import llm_rl, rl

# --- NumPy float64 references -------------------------------------------------------------------


def np_aggregate(per_token, mask, mode, max_len=None):
  x, m = np.asarray(per_token, np.float64), np.asarray(mask, np.float64)
  if mode == "token-mean":
    return (x * m).sum() / m.sum() if m.sum() > 0 else 0.0
  if mode == "seq-mean-token-mean":
    rows = [(x[i] * m[i]).sum() / m[i].sum() for i in range(len(x)) if m[i].sum() > 0]
    return float(np.mean(rows)) if rows else 0.0
  return (x * m).sum() / (x.shape[0] * (max_len or x.shape[1]))


def np_policy_per_token(logp, old_logp, adv, eps_low, eps_high, dual_clip=None):
  ratio = np.exp(np.asarray(logp, np.float64) - np.asarray(old_logp, np.float64))
  adv = np.asarray(adv, np.float64)
  if adv.ndim == 1:
    adv = np.broadcast_to(adv[:, None], ratio.shape)
  objective = np.minimum(ratio * adv, np.clip(ratio, 1 - eps_low, 1 + eps_high) * adv)
  if dual_clip is not None:
    objective = np.where(adv < 0, np.maximum(objective, dual_clip * adv), objective)
  return -objective, ratio, adv


@functools.partial(jax.jit, static_argnames=("aggregation", "kl_kind"))
def loss_and_grad(logp, old_logp, advantages, mask, **kwargs):
  """`policy_loss` and its gradient in logp (metrics dropped), jitted once per configuration."""
  f = lambda lp: llm_rl.policy_loss(lp, old_logp, advantages, mask, **kwargs)[0]
  return jax.value_and_grad(f)(logp)


# --- aggregate ----------------------------------------------------------------------------------

PER_TOKEN = jnp.array([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 0.0, 0.0]])
MASK = jnp.array([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 0.0, 0.0]])


def test_aggregate_hand_example():
  agg = functools.partial(llm_rl.aggregate, PER_TOKEN, MASK)
  np.testing.assert_allclose(agg(mode="token-mean"), 21 / 6, rtol=1e-6)
  np.testing.assert_allclose(agg(mode="seq-mean-token-mean"), (10 / 4 + 11 / 2) / 2, rtol=1e-6)
  np.testing.assert_allclose(agg(mode="seq-mean-token-sum-norm"), 21 / 8, rtol=1e-6)
  np.testing.assert_allclose(agg(mode="seq-mean-token-sum-norm", max_len=8), 21 / 16, rtol=1e-6)
  with pytest.raises(ValueError, match="mode must be one of"):
    agg(mode="sum")
  with pytest.raises(ValueError, match="max_len"):
    agg(mode="seq-mean-token-sum-norm", max_len=0)


def test_aggregate_empty_rows_and_padding_values():
  per_token = jnp.array([[1.0, 2.0, jnp.nan], [jnp.inf, 7.0, 7.0], [3.0, jnp.nan, jnp.nan]])
  mask = jnp.array([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
  agg = functools.partial(llm_rl.aggregate, per_token, mask)
  np.testing.assert_allclose(agg(mode="token-mean"), 6 / 3, rtol=1e-6)
  # The empty row is left out of the mean over sequences.
  np.testing.assert_allclose(agg(mode="seq-mean-token-mean"), (1.5 + 3.0) / 2, rtol=1e-6)
  # Dr. GRPO keeps its constant normaliser B · L_max.
  np.testing.assert_allclose(agg(mode="seq-mean-token-sum-norm"), 6 / 9, rtol=1e-6)
  empty = jnp.zeros((2, 3))
  for mode in llm_rl.AGGREGATION_MODES:
    value, grad = jax.jit(jax.value_and_grad(lambda x, m=mode: llm_rl.aggregate(x, empty, mode=m)))(
      jnp.ones((2, 3))
    )
    assert value == 0.0 and np.isfinite(grad).all()
    grad = jax.jit(jax.grad(lambda x, m=mode: llm_rl.aggregate(x, mask, mode=m)))(per_token)
    assert np.isfinite(grad).all()
    np.testing.assert_array_equal(np.asarray(grad)[np.asarray(mask) == 0], 0.0)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), mode=st.sampled_from(llm_rl.AGGREGATION_MODES))
def test_aggregate_matches_numpy(seed, mode):
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(3, 5)).astype(np.float32)
  m = (rng.random((3, 5)) < 0.6).astype(np.float32)
  np.testing.assert_allclose(
    llm_rl.aggregate(x, m, mode=mode), np_aggregate(x, m, mode), rtol=1e-5, atol=1e-6
  )


# --- policy_loss: hand examples -----------------------------------------------------------------

RATIOS = np.array([[1.0, 1.5, 0.5], [1.0, 1.5, 0.5]])
OLD = jnp.array([[-1.0, -2.0, -0.5], [-0.3, -1.2, -2.0]])
LOGP = OLD + jnp.log(jnp.asarray(RATIOS, jnp.float32))
ONES = jnp.ones((2, 3))


def test_policy_loss_hand_example():
  adv = jnp.array([1.0, -1.0])
  loss, metrics = llm_rl.policy_loss(LOGP, OLD, adv, ONES)
  # A = +1: min(ρ, clip ρ) = [1, 1.2, 0.5]; A = −1: min(−ρ, −clip ρ) = [−1, −1.5, −0.8].
  per_token = np.array([[-1.0, -1.2, -0.5], [1.0, 1.5, 0.8]])
  np.testing.assert_allclose(loss, per_token.mean(), rtol=1e-5)
  np.testing.assert_allclose(metrics["pg_loss"], per_token.mean(), rtol=1e-5)
  np.testing.assert_allclose(metrics["clip_frac_low"], 1 / 6, rtol=1e-6)
  np.testing.assert_allclose(metrics["clip_frac_high"], 1 / 6, rtol=1e-6)
  np.testing.assert_allclose(metrics["clip_frac"], 2 / 6, rtol=1e-6)
  np.testing.assert_allclose(metrics["ratio_mean"], 1.0, rtol=1e-6)
  k3_old_new = RATIOS - 1 - np.log(RATIOS)  # KL(π_old ‖ π_θ), samples from π_old
  np.testing.assert_allclose(metrics["approx_kl"], k3_old_new.mean(), rtol=1e-5)
  assert "entropy" not in metrics and "kl_ref" not in metrics and "dual_clip_frac" not in metrics
  np.testing.assert_allclose(metrics["kl_loss"], 0.0, atol=1e-7)
  # Per-token advantages equal to the broadcast sequence advantages give the same loss.
  loss_tok, _ = llm_rl.policy_loss(LOGP, OLD, jnp.array([[1.0] * 3, [-1.0] * 3]), ONES)
  np.testing.assert_allclose(loss_tok, loss, rtol=1e-6)


def test_ratio_one_makes_clipping_inert():
  rng = np.random.default_rng(0)
  logp = jnp.asarray(-rng.random((3, 4)), jnp.float32)
  adv = jnp.asarray(rng.normal(size=(3, 4)), jnp.float32)
  mask = jnp.asarray([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]], jnp.float32)
  # The unclipped surrogate −ρA at ρ = 1: loss −Σ m A / Σ m, gradient −A m / Σ m.
  unclipped = jax.jit(
    jax.value_and_grad(
      lambda lp: llm_rl.aggregate(-jnp.exp(lp - logp) * adv, mask, mode="token-mean")
    )
  )
  want_loss, want_grad = unclipped(logp)
  np.testing.assert_allclose(want_grad, -adv * mask / mask.sum(), rtol=1e-6)
  for kwargs in ({}, {"eps_low": 0.1, "eps_high": 0.3}, {"dual_clip": 3.0}):
    loss, grad = loss_and_grad(logp, logp, adv, mask, **kwargs)
    np.testing.assert_allclose(loss, want_loss, rtol=1e-6)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-6)


def test_clipping_stops_gradient_outside_range_asymmetric():
  #                  A>0 above  A>0 in (1.2, 1.28)  A>0 below  A<0 below  A<0 in (.7, .8)  A<0 above
  ratios = np.array([[1.3, 1.25, 0.5, 0.5, 0.75, 1.5]])
  adv = jnp.array([[1.0, 2.0, 1.0, -1.0, -2.0, -1.0]])
  old = jnp.full((1, 6), -1.0)
  logp = old + jnp.log(jnp.asarray(ratios, jnp.float32))
  mask = jnp.ones((1, 6))
  cases = {
    (0.2, 0.28): [True, False, False, True, True, False],  # DAPO clip-higher
    (0.2, 0.2): [True, True, False, True, True, False],  # symmetric: 1.25 is clipped too
    (0.3, 0.28): [True, False, False, True, False, False],  # wider low side: 0.75 is not
  }
  for (eps_low, eps_high), clipped in cases.items():
    kwargs = {"eps_low": eps_low, "eps_high": eps_high}
    loss, grad = loss_and_grad(logp, old, adv, mask, **kwargs)
    metrics = llm_rl.policy_loss(logp, old, adv, mask, **kwargs)[1]
    grad = np.asarray(grad)[0]
    clipped = np.array(clipped)
    np.testing.assert_array_equal(grad[clipped], 0.0)
    # Unclipped tokens: d(−ρA)/d logp / N = −ρ A / 6.
    want = (-ratios * np.asarray(adv) / 6)[0]
    np.testing.assert_allclose(grad[~clipped], want[~clipped], rtol=1e-5)
    per_token, _, _ = np_policy_per_token(logp, old, adv, eps_low, eps_high)
    np.testing.assert_allclose(loss, per_token.mean(), rtol=1e-5)
    high = clipped & (np.asarray(adv)[0] > 0)
    np.testing.assert_allclose(metrics["clip_frac_high"], high.mean(), rtol=1e-6)
    np.testing.assert_allclose(metrics["clip_frac_low"], (clipped & ~high).mean(), rtol=1e-6)


def test_dual_clip():
  c = 3.0
  ratios = np.array([[4.0, 10.0, 2.5, 0.5, 4.0]])
  adv = jnp.array([[-1.0, -0.5, -1.0, -1.0, 1.0]])
  old = jnp.zeros((1, 5))
  logp = jnp.log(jnp.asarray(ratios, jnp.float32))
  mask = jnp.ones((1, 5))
  loss, grad = loss_and_grad(logp, old, adv, mask, dual_clip=c)
  metrics = llm_rl.policy_loss(logp, old, adv, mask, dual_clip=c)[1]
  # Ye et al.: for A < 0, J = max(min(ρA, clip(ρ)A), cA); ℓ = −J.
  per_token = np.array([[3.0, 1.5, 2.5, 0.8, -1.2]])
  np.testing.assert_allclose(loss, per_token.mean(), rtol=1e-5)
  np.testing.assert_allclose(metrics["dual_clip_frac"], 2 / 5, rtol=1e-6)
  np.testing.assert_allclose(grad, [[0.0, 0.0, 2.5 / 5, 0.0, 0.0]], atol=1e-7, rtol=1e-5)
  # Without the dual clip the A < 0 tokens with ρ = 4, 10 would cost ρ|A| = 4, 5 instead of 3, 1.5.
  without, _ = llm_rl.policy_loss(logp, old, adv, mask)
  np.testing.assert_allclose(without, (4.0 + 5.0 + 2.5 + 0.8 - 1.2) / 5, rtol=1e-5)
  with pytest.raises(ValueError, match="dual_clip"):
    llm_rl.policy_loss(logp, old, adv, mask, dual_clip=1.0)


def test_kl_in_loss_and_metrics():
  adv = jnp.array([1.0, -1.0])
  ref = LOGP - 0.3
  entropy = jnp.full((2, 3), 0.7)
  base, _ = llm_rl.policy_loss(LOGP, OLD, adv, ONES)
  for kind in llm_rl.KL_KINDS:
    loss, metrics = llm_rl.policy_loss(
      LOGP, OLD, adv, ONES, ref_logp=ref, kl_coef=0.1, kl_kind=kind, entropy=entropy
    )
    kl = float(llm_rl.kl_estimate(LOGP, ref, kind=kind).mean())
    np.testing.assert_allclose(loss, base + 0.1 * kl, rtol=1e-5)
    np.testing.assert_allclose(metrics["kl_ref"], kl, rtol=1e-5)
    np.testing.assert_allclose(metrics["kl_loss"], 0.1 * kl, rtol=1e-4)
    np.testing.assert_allclose(metrics["entropy"], 0.7, rtol=1e-6)
  # d(β k3)/d logp = β (1 − π_ref/π), at ratio 1 with A = 0.
  _, grad = loss_and_grad(LOGP, LOGP, jnp.zeros(2), ONES, ref_logp=ref, kl_coef=0.1)
  np.testing.assert_allclose(grad, 0.1 * (1 - np.exp(-0.3)) / 6 * np.ones((2, 3)), rtol=1e-5)
  with pytest.raises(ValueError, match="ref_logp"):
    llm_rl.policy_loss(LOGP, OLD, adv, ONES, kl_coef=0.1)


def test_length_bias_gradient_weights():
  """GRPO advantages of rewards [1, 1, 0, 0], lengths [4, 16, 4, 16], at ratio 1."""
  lengths = np.array([4, 16, 4, 16])
  mask = jnp.asarray(np.arange(16)[None, :] < lengths[:, None], jnp.float32)
  adv = llm_rl.group_advantages(jnp.array([1.0, 1.0, 0.0, 0.0]), group_size=4)
  logp = jnp.full((4, 16), -1.0)

  def weights(mode):
    grad = np.asarray(loss_and_grad(logp, logp, adv, mask, aggregation=mode)[1])
    # Per-token weight d loss / d logp / (−A), identical within a sequence.
    w = grad / -np.asarray(adv)[:, None]
    for i, n in enumerate(lengths):
      np.testing.assert_allclose(w[i, :n], w[i, 0], rtol=1e-6)
      np.testing.assert_array_equal(w[i, n:], 0.0)
    return w[:, 0]

  w = weights("seq-mean-token-mean")
  np.testing.assert_allclose(w, [1 / 16, 1 / 64, 1 / 16, 1 / 64], rtol=1e-5)
  np.testing.assert_allclose(w[0] / w[1], 4.0, rtol=1e-5)  # short answers weigh 4× per token
  np.testing.assert_allclose(w[2] / w[3], 4.0, rtol=1e-5)
  np.testing.assert_allclose(weights("token-mean"), 1 / 40, rtol=1e-5)
  np.testing.assert_allclose(weights("seq-mean-token-sum-norm"), 1 / 64, rtol=1e-5)


def test_padding_values_do_not_leak():
  mask = jnp.array([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
  logp = jnp.array([[-1.0, -0.5, 0.0], [-2.0, jnp.nan, 0.0]])
  old = jnp.array([[-1.1, -0.4, -1e4], [-2.0, -jnp.inf, jnp.nan]])
  ref = jnp.array([[-1.0, -0.3, jnp.nan], [-2.5, -1e4, 0.0]])
  kwargs = {"ref_logp": ref, "kl_coef": 0.1, "dual_clip": 3.0}
  adv = jnp.array([1.0, -1.0])
  loss, grad = loss_and_grad(logp, old, adv, mask, **kwargs)
  metrics = llm_rl.policy_loss(logp, old, adv, mask, **kwargs)[1]
  assert np.isfinite(loss) and all(np.isfinite(v) for v in metrics.values())
  grad = np.asarray(grad)
  assert np.isfinite(grad).all()
  np.testing.assert_array_equal(grad[np.asarray(mask) == 0], 0.0)


@settings(max_examples=12, deadline=None)
@given(
  seed=st.integers(0, 2**16),
  mode=st.sampled_from(llm_rl.AGGREGATION_MODES),
  eps_high=st.sampled_from([0.2, 0.28]),
  dual_clip=st.sampled_from([3.0, 1e9]),  # 1e9: never active (None is covered above)
)
def test_policy_loss_matches_numpy(seed, mode, eps_high, dual_clip):
  rng = np.random.default_rng(seed)
  old = -rng.random((4, 6)).astype(np.float32) * 3
  logp = (old + rng.normal(size=(4, 6)) * 0.8).astype(np.float32)
  adv = rng.normal(size=(4, 6)).astype(np.float32)
  mask = (rng.random((4, 6)) < 0.7).astype(np.float32)
  loss, metrics = llm_rl.policy_loss(
    logp, old, adv, mask, eps_high=eps_high, dual_clip=dual_clip, aggregation=mode
  )
  per_token, ratio, a = np_policy_per_token(logp, old, adv, 0.2, eps_high, dual_clip)
  np.testing.assert_allclose(loss, np_aggregate(per_token, mask, mode), rtol=1e-4, atol=1e-5)
  m = mask > 0
  if m.any():
    np.testing.assert_allclose(
      metrics["clip_frac_high"], np.mean(((ratio > 1 + eps_high) & (a > 0))[m]), atol=1e-6
    )
    np.testing.assert_allclose(
      metrics["clip_frac_low"], np.mean(((ratio < 0.8) & (a < 0))[m]), atol=1e-6
    )
    np.testing.assert_allclose(metrics["ratio_mean"], ratio[m].mean(), rtol=1e-4)


def test_policy_loss_jit_and_vmap():
  rng = np.random.default_rng(7)
  old = -rng.random((3, 4, 5)).astype(np.float32)
  logp = (old + 0.5 * rng.normal(size=old.shape)).astype(np.float32)
  adv = rng.normal(size=(3, 4)).astype(np.float32)
  mask = (rng.random(old.shape) < 0.8).astype(np.float32)
  f = functools.partial(
    llm_rl.policy_loss, eps_high=0.28, dual_clip=3.0, aggregation="seq-mean-token-mean"
  )
  eager = [f(*args) for args in zip(logp, old, adv, mask, strict=True)]
  loss, metrics = jax.jit(jax.vmap(f))(logp, old, adv, mask)
  np.testing.assert_allclose(loss, [e[0] for e in eager], rtol=1e-5)
  for key in eager[0][1]:
    np.testing.assert_allclose(metrics[key], [e[1][key] for e in eager], rtol=1e-5, atol=1e-7)


def test_eager_equals_jit():
  """No jit inside: an eager call and the caller's `jax.jit` (static arguments closed over) agree;
  the static options are checked at the boundary, each error naming its argument."""
  rng = np.random.default_rng(8)
  old = -rng.random((4, 5)).astype(np.float32)
  logp = (old + 0.5 * rng.normal(size=old.shape)).astype(np.float32)
  ref = (logp + 0.3 * rng.normal(size=old.shape)).astype(np.float32)
  adv = rng.normal(size=4).astype(np.float32)
  mask = (rng.random(old.shape) < 0.8).astype(np.float32)
  for mode in llm_rl.AGGREGATION_MODES:
    f = functools.partial(
      llm_rl.policy_loss, eps_high=0.28, dual_clip=3.0, aggregation=mode, max_len=7,
      ref_logp=ref, kl_coef=0.04, kl_kind="k2",
    )
    (loss, metrics), (jit_loss, jit_metrics) = f(logp, old, adv, mask), jax.jit(f)(
      logp, old, adv, mask
    )
    np.testing.assert_allclose(loss, jit_loss, rtol=1e-5, atol=1e-7)
    assert metrics.keys() == jit_metrics.keys()
    for key in metrics:
      np.testing.assert_allclose(metrics[key], jit_metrics[key], rtol=1e-5, atol=1e-7)
    for g in (
      functools.partial(llm_rl.aggregate, mode=mode),
      functools.partial(llm_rl.sft_loss, aggregation=mode),
      functools.partial(llm_rl.value_loss, old, ref, clip_eps=0.2, aggregation=mode),
    ):
      np.testing.assert_allclose(g(logp, mask), jax.jit(g)(logp, mask), rtol=1e-5, atol=1e-7)
  g = functools.partial(llm_rl.masked_mean, axis=1)
  np.testing.assert_allclose(g(logp, mask), jax.jit(g)(logp, mask), rtol=1e-6, atol=1e-7)
  with pytest.raises(ValueError, match="aggregation must be one of"):
    llm_rl.policy_loss(logp, old, adv, mask, aggregation="sum")
  with pytest.raises(ValueError, match="kl_kind must be one of"):
    llm_rl.policy_loss(logp, old, adv, mask, ref_logp=ref, kl_kind="k4")
  with pytest.raises(ValueError, match="aggregation must be one of"):
    llm_rl.value_loss(logp, old, ref, mask, aggregation="token-sum")


# --- value_loss and sft_loss --------------------------------------------------------------------


def test_value_loss_hand_example():
  values = jnp.array([[1.0, 2.0, 9.0]])
  old = jnp.array([[0.5, 0.5, 0.0]])
  returns = jnp.array([[0.0, 3.0, 0.0]])
  mask = jnp.array([[1.0, 1.0, 0.0]])
  # Unclipped: ½ [(1)², (−1)²]; clipped values [0.7, 0.7]: ½ max(·, [0.49, 5.29]).
  np.testing.assert_allclose(llm_rl.value_loss(values, old, returns, mask), 0.5, rtol=1e-6)
  loss_fn = functools.partial(llm_rl.value_loss, clip_eps=0.2)
  np.testing.assert_allclose(loss_fn(values, old, returns, mask), (0.5 + 2.645) / 2, rtol=1e-5)
  grad = jax.jit(jax.grad(loss_fn))(values, old, returns, mask)
  # Token 0 takes the unclipped branch (v − G)/2; token 1 the clipped one, saturated: 0.
  np.testing.assert_allclose(grad, [[0.5, 0.0, 0.0]], atol=1e-7)
  np.testing.assert_allclose(
    jax.jit(jax.vmap(loss_fn))(values[None], old[None], returns[None], mask[None]),
    [(0.5 + 2.645) / 2],
    rtol=1e-5,
  )


def test_value_loss_equals_rl_clipped_value_loss_on_full_mask():
  rng = np.random.default_rng(5)
  v, v_old, returns = (jnp.asarray(rng.normal(size=(1, 6)), jnp.float32) for _ in range(3))
  want = rl.clipped_value_loss(v[0], v_old[0], returns[0], epsilon=0.2)
  got = llm_rl.value_loss(v, v_old, returns, jnp.ones((1, 6)), clip_eps=0.2)
  np.testing.assert_allclose(got, want, rtol=1e-6)


def test_sft_loss():
  logp = jnp.array([[-1.0, -2.0, jnp.nan], [-0.5, -0.5, -0.5]])
  mask = jnp.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
  np.testing.assert_allclose(llm_rl.sft_loss(logp, mask), 4.5 / 5, rtol=1e-6)
  np.testing.assert_allclose(
    llm_rl.sft_loss(logp, mask, aggregation="seq-mean-token-mean"), (1.5 + 0.5) / 2, rtol=1e-6
  )
  grad = jax.jit(jax.grad(llm_rl.sft_loss))(logp, mask)
  np.testing.assert_allclose(grad, -np.asarray(mask) / 5, rtol=1e-6)
