"""PPO-max pieces: running reward normaliser vs NumPy, masked whitening, KL penalty rewards."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from research import llm_rl


def np_normalize(seen, batch, clip, eps, shift_mean=True):
  seen = np.asarray(seen, np.float64)
  mean, var = seen.mean(), seen.var()  # population variance (ddof=0)
  out = ((np.asarray(batch) - (mean if shift_mean else 0.0)) / np.sqrt(var + eps))
  return out if clip is None else np.clip(out, -clip, clip)


def test_reward_normalizer_against_numpy_over_batches():
  rng = np.random.default_rng(0)
  batches = [rng.normal(3.0, 2.0, size=n).astype(np.float32) for n in (1, 3, 8, 3, 8)]
  batches[3][0] = 40.0  # an outlier, clipped after normalisation
  normalizer = llm_rl.reward_normalizer(clip=2.0, eps=1e-8)
  update = jax.jit(normalizer.update)
  state = normalizer.init()
  assert isinstance(state, llm_rl.RewardNormalizerState)
  seen, outputs = [], []
  for batch in batches:
    seen.extend(batch)
    state, normalized = update(state, batch)
    outputs.append(normalized)
    np.testing.assert_allclose(state.count, len(seen))
    np.testing.assert_allclose(state.mean, np.mean(seen), rtol=1e-5)
    np.testing.assert_allclose(state.m2 / state.count, np.var(seen), rtol=1e-4)
    np.testing.assert_allclose(normalized, np_normalize(seen, batch, 2.0, 1e-8), atol=1e-4)
  assert all(np.abs(out).max() <= 2.0 for out in outputs) and outputs[3][0] == 2.0
  # The first batch of one reward normalises to 0 (zero variance), not NaN.
  _, first = normalizer.update(normalizer.init(), jnp.array([5.0]))
  np.testing.assert_array_equal(first, [0.0])


@settings(max_examples=10, deadline=None)
@given(
  splits=st.lists(st.integers(1, 6), min_size=1, max_size=4),
  shift_mean=st.booleans(),
  seed=st.integers(0, 2**16),
)
def test_reward_normalizer_matches_numpy(splits, shift_mean, seed):
  rng = np.random.default_rng(seed)
  normalizer = llm_rl.reward_normalizer(clip=None, shift_mean=shift_mean)
  state, seen = normalizer.init(), []
  for n in splits:
    batch = rng.normal(1.0, 3.0, size=8).astype(np.float32)
    mask = np.arange(8) < n  # a fixed shape with n valid rewards
    seen.extend(batch[:n])
    state, normalized = normalizer.update(state, batch, mask)
    want = np_normalize(seen, batch[:n], None, 1e-8, shift_mean)
    np.testing.assert_allclose(normalized[:n], want, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(normalized[n:], 0.0)
  np.testing.assert_allclose(state.mean, np.mean(seen), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(state.m2 / state.count, np.var(seen), rtol=1e-4, atol=1e-6)


def test_reward_normalizer_scan_and_empty_batch():
  normalizer = llm_rl.reward_normalizer()
  batches = jnp.arange(12.0).reshape(4, 3)
  state, out = jax.lax.scan(normalizer.update, normalizer.init(), batches)
  np.testing.assert_allclose(state.mean, 5.5, rtol=1e-6)
  np.testing.assert_allclose(state.m2 / state.count, np.var(np.arange(12.0)), rtol=1e-5)
  np.testing.assert_allclose(out[-1], np_normalize(np.arange(12.0), [9, 10, 11], 5.0, 1e-8),
                             rtol=1e-5)
  same, zeros = normalizer.update(state, jnp.ones(3), jnp.zeros(3))
  for a, b in zip(same, state, strict=True):
    np.testing.assert_array_equal(a, b)
  np.testing.assert_array_equal(zeros, 0.0)
  with pytest.raises(ValueError, match="clip"):
    llm_rl.reward_normalizer(clip=0.0)


def test_masked_whiten():
  x = jnp.array([[1.0, 2.0, 3.0, 99.0], [4.0, 5.0, jnp.nan, 0.0]])
  mask = jnp.array([[1.0, 1.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
  valid = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
  mean, std = valid.mean(), valid.std(ddof=1)
  got = llm_rl.masked_whiten(x, mask)
  m = np.asarray(mask) > 0
  np.testing.assert_allclose(np.asarray(got)[m], (valid - mean) / std, rtol=1e-5)
  np.testing.assert_array_equal(np.asarray(got)[~m], 0.0)
  np.testing.assert_allclose(np.asarray(got)[m].std(ddof=1), 1.0, rtol=1e-5)
  kept = llm_rl.masked_whiten(x, mask, shift_mean=False)
  np.testing.assert_allclose(np.asarray(kept)[m], (valid - mean) / std + mean, rtol=1e-5)
  # One valid entry, or none: no NaN.
  one = llm_rl.masked_whiten(x, jnp.zeros((2, 4)).at[0, 1].set(1.0))
  np.testing.assert_array_equal(one, 0.0)
  np.testing.assert_array_equal(llm_rl.masked_whiten(x, jnp.zeros((2, 4))), 0.0)
  # jit and vmap (per-example whitening of each row).
  f = jax.jit(jax.vmap(llm_rl.masked_whiten))
  rows = f(x, mask)
  np.testing.assert_allclose(rows[0, :3], [-1.0, 0.0, 1.0], rtol=1e-5)
  np.testing.assert_allclose(rows[1, :2], [-np.sqrt(0.5), np.sqrt(0.5)], rtol=1e-4)


def test_kl_penalty_rewards():
  rewards = jnp.array([1.0, -2.0, 5.0])
  mask = jnp.array([[1.0, 1.0, 1.0, 0.0], [0.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
  logp = jnp.array([[-1.0, -2.0, -0.5, 0.0], [0.0, -1.0, -1.0, -1.0], [-1.0, -1.0, -1.0, -1.0]])
  ref = jnp.array([[-1.5, -1.0, -0.5, jnp.nan], [0.0, -2.0, -1.0, -0.5], [0.0, 0.0, 0.0, 0.0]])
  got = llm_rl.kl_penalty_rewards(rewards, logp, ref, mask, kl_coef=0.1)
  want = [
    [-0.05, 0.1, 1.0, 0.0],  # −β (logp − ref) = [−0.05, +0.1, 0]; R = 1 on the last valid token
    [0.0, -0.1, 0.0, -2.0 + 0.05],
    [0.0, 0.0, 0.0, 0.0],  # an empty row: nothing
  ]
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
  k3 = llm_rl.kl_penalty_rewards(rewards, logp, ref, mask, kl_coef=0.1, kl_kind="k3")
  not_last = np.asarray(mask) * (np.asarray(got) == np.asarray(got))  # the k3 penalty is ≤ 0
  not_last[0, 2] = not_last[1, 3] = 0
  assert (np.asarray(k3)[not_last > 0] <= 0).all()
  np.testing.assert_allclose(k3[0, 1], -0.1 * (np.exp(1.0) - 2.0), rtol=1e-5)
  f = lambda lp: llm_rl.kl_penalty_rewards(rewards, lp, ref, mask, kl_coef=0.1).sum()
  np.testing.assert_array_equal(jax.jit(jax.grad(f))(logp), 0.0)
  f = jax.jit(jax.vmap(functools.partial(llm_rl.kl_penalty_rewards, kl_coef=0.1)))
  np.testing.assert_allclose(f(rewards[None], logp[None], ref[None], mask[None])[0], want,
                             rtol=1e-5, atol=1e-7)
  # Fed to token-level GAE (γ = λ = 1, V = 0): advantages are the reward-to-go of each token.
  adv = llm_rl.token_gae(got, jnp.zeros((3, 4)), mask, discount=1.0, lambda_=1.0)
  np.testing.assert_allclose(adv[0, :3], [1.05, 1.1, 1.0], rtol=1e-5)


def test_eager_equals_jit():
  """No jit inside: an eager call and the caller's `jax.jit` (static arguments closed over)
  agree."""
  rng = np.random.default_rng(9)
  x = jnp.asarray(rng.normal(size=(3, 5)), jnp.float32)
  mask = jnp.asarray(rng.random((3, 5)) < 0.7, jnp.float32)
  for shift_mean in (True, False):
    f = functools.partial(llm_rl.masked_whiten, shift_mean=shift_mean)
    np.testing.assert_allclose(f(x, mask), jax.jit(f)(x, mask), rtol=1e-5, atol=1e-6)
    normalizer = llm_rl.reward_normalizer(clip=1.5, shift_mean=shift_mean)
    eager = normalizer.update(normalizer.init(), x, mask)
    jitted = jax.jit(normalizer.update)(normalizer.init(), x, mask)
    for got, want in zip(jax.tree.leaves(jitted), jax.tree.leaves(eager), strict=True):
      np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
  f = functools.partial(llm_rl.kl_penalty_rewards, kl_coef=0.1, kl_kind="k3")
  args = (x[:, 0], -jnp.abs(x), -jnp.abs(x[::-1]), mask)
  np.testing.assert_allclose(f(*args), jax.jit(f)(*args), rtol=1e-5, atol=1e-7)
  with pytest.raises(ValueError, match="kl_kind must be one of"):
    llm_rl.kl_penalty_rewards(*args, kl_coef=0.1, kl_kind="k0")
