"""Group advantages (GRPO, Dr. GRPO), RLOO and token-level GAE against hand values and NumPy."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from research import llm_rl, rl


def np_group_advantages(rewards, group_size, normalize_std=True, eps=1e-6):
  r = np.asarray(rewards, np.float64).reshape(-1, group_size)
  out = r - r.mean(axis=1, keepdims=True)
  if group_size == 1:
    return np.zeros(r.size)
  if normalize_std:
    out = out / (r.std(axis=1, ddof=1, keepdims=True) + eps)
  return out.reshape(-1)


def np_rloo(rewards, group_size):
  r = np.asarray(rewards, np.float64).reshape(-1, group_size)
  out = np.zeros_like(r)
  for g in range(r.shape[0]):
    for i in range(group_size):
      others = np.delete(r[g], i)
      out[g, i] = r[g, i] - others.mean() if others.size else 0.0
  return out.reshape(-1)


# --- Group advantages ---------------------------------------------------------------------------


def test_grpo_hand_example_ddof1():
  # Mean 0.5; ddof=1 std sqrt(4 · 0.25 / 3) = 1/√3; (±0.5) · √3 = ±√3/2.
  adv = llm_rl.group_advantages(jnp.array([1.0, 1.0, 0.0, 0.0]), group_size=4, eps=0.0)
  np.testing.assert_allclose(adv, np.array([1, 1, -1, -1]) * np.sqrt(3) / 2, rtol=1e-6)
  # ddof=0 would give ±1: make sure it is not that.
  assert not np.allclose(adv, [1, 1, -1, -1])


def test_grpo_two_groups_and_eps():
  rewards = jnp.array([0.0, 1.0, 3.0, 3.0, 1.0, 2.0])
  adv = llm_rl.group_advantages(rewards, group_size=3, eps=1e-6)
  np.testing.assert_allclose(adv, np_group_advantages(rewards, 3), rtol=1e-5, atol=1e-6)
  adv = np.asarray(adv).reshape(2, 3)
  np.testing.assert_allclose(adv.mean(axis=1), 0.0, atol=1e-6)
  np.testing.assert_allclose(adv.std(axis=1, ddof=1), 1.0, rtol=1e-5)


def test_constant_and_size_one_groups_are_zero():
  adv = llm_rl.group_advantages(jnp.array([1.0, 1.0, 0.0, 0.0]), group_size=2)
  np.testing.assert_array_equal(adv, 0.0)
  for normalize_std in (True, False):
    adv = llm_rl.group_advantages(
      jnp.array([1.0, 0.0, 3.0]), group_size=1, normalize_std=normalize_std
    )
    np.testing.assert_array_equal(adv, 0.0)
  np.testing.assert_array_equal(llm_rl.rloo_advantages(jnp.array([1.0, 0.0]), group_size=1), 0.0)
  grads = jax.jit(jax.grad(lambda r: llm_rl.group_advantages(r, group_size=2).sum()))(jnp.ones(4))
  assert np.isfinite(grads).all()


@pytest.mark.parametrize("value", [100.3, 12.3, 1 / 3, 0.1, -7.7, 1e4 + 0.1])
@pytest.mark.parametrize("group_size", [2, 3, 7, 8, 64, 100])
def test_constant_non_dyadic_groups_are_exactly_zero_in_float32(value, group_size):
  # The float32 mean of equal non-dyadic values is off by an ulp; divided by `std + 1e-6` that
  # used to give advantages of order ±1 (−0.951 for 64 × 100.3) instead of 0.
  rewards = jnp.full((3 * group_size,), value, jnp.float32)
  for normalize_std in (True, False):
    adv = llm_rl.group_advantages(rewards, group_size=group_size, normalize_std=normalize_std)
    np.testing.assert_array_equal(adv, 0.0)
    adv = jax.jit(functools.partial(llm_rl.group_advantages, group_size=group_size,
                                    normalize_std=normalize_std))(rewards)
    np.testing.assert_array_equal(adv, 0.0)


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.floats(-1e4, 1e4, allow_nan=False, width=32), min_size=1, max_size=6),
       group_size=st.sampled_from([2, 3, 5, 8, 16]))
def test_groups_that_are_constant_get_zero_and_the_others_match_float64(values, group_size):
  # Some groups constant (each a value from `values`), interleaved with a non-constant group.
  groups = [np.full(group_size, v, np.float32) for v in values]
  groups.append(np.linspace(0, 1, group_size, dtype=np.float32))
  rewards = np.concatenate(groups)
  adv = np.asarray(llm_rl.group_advantages(jnp.asarray(rewards), group_size=group_size))
  adv = adv.reshape(-1, group_size)
  np.testing.assert_array_equal(adv[:-1], 0.0)
  np.testing.assert_allclose(adv[-1], np_group_advantages(groups[-1], group_size), rtol=1e-5,
                             atol=1e-5)


def test_dr_grpo_is_centred_without_std():
  rewards = jnp.array([1.0, 1.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0])
  adv = llm_rl.group_advantages(rewards, group_size=4, normalize_std=False)
  np.testing.assert_allclose(adv, [0.5, 0.5, -0.5, -0.5, 1.5, -0.5, -0.5, -0.5], rtol=1e-6)


def test_rloo_hand_example():
  adv = llm_rl.rloo_advantages(jnp.array([1.0, 1.0, 0.0, 0.0]), group_size=4)
  np.testing.assert_allclose(adv, [2 / 3, 2 / 3, -2 / 3, -2 / 3], rtol=1e-6)
  rewards = jnp.array([3.0, 0.0, 1.0, 5.0, 5.0, 2.0])
  np.testing.assert_allclose(
    llm_rl.rloo_advantages(rewards, group_size=3), np_rloo(rewards, 3), rtol=1e-6
  )
  # RLOO = G / (G − 1) · Dr. GRPO.
  drgrpo = llm_rl.group_advantages(rewards, group_size=3, normalize_std=False)
  np.testing.assert_allclose(
    llm_rl.rloo_advantages(rewards, group_size=3), 1.5 * drgrpo, rtol=1e-6
  )


@settings(max_examples=12, deadline=None)
@given(
  group_size=st.sampled_from([1, 3, 4]),
  num_groups=st.integers(1, 2),
  data=st.data(),
)
def test_group_advantages_match_numpy(group_size, num_groups, data):
  n = group_size * num_groups
  rewards = data.draw(
    st.lists(st.sampled_from([0.0, 0.5, 1.0, -2.0]), min_size=n, max_size=n), label="rewards"
  )
  r = jnp.asarray(rewards, jnp.float32)
  for normalize_std in (True, False):
    got = llm_rl.group_advantages(r, group_size=group_size, normalize_std=normalize_std)
    want = np_group_advantages(rewards, group_size, normalize_std)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    grouped = np.asarray(got).reshape(num_groups, group_size)
    np.testing.assert_allclose(grouped.mean(axis=1), 0.0, atol=1e-5)
  np.testing.assert_allclose(
    llm_rl.rloo_advantages(r, group_size=group_size), np_rloo(rewards, group_size), atol=1e-5
  )


def test_int_rewards_jit_vmap_and_errors():
  rewards = jnp.array([[1, 0, 1, 1], [0, 0, 1, 0]])
  for f in (
    functools.partial(llm_rl.group_advantages, group_size=2),
    functools.partial(llm_rl.group_advantages, group_size=4, normalize_std=False),
    functools.partial(llm_rl.rloo_advantages, group_size=2),
  ):
    eager = np.stack([f(r) for r in rewards])
    assert eager.dtype == np.float32
    np.testing.assert_allclose(jax.jit(jax.vmap(f))(rewards), eager, rtol=1e-6)
  with pytest.raises(ValueError, match="multiple"):
    llm_rl.group_advantages(jnp.ones(5), group_size=2)
  with pytest.raises(ValueError, match="group_size must be a Python int >= 1"):
    llm_rl.rloo_advantages(jnp.ones(4), group_size=0)
  with pytest.raises(ValueError, match="group_size must be a Python int"):  # was a TypeError
    llm_rl.group_advantages(jnp.ones(4), group_size=2.0)
  with pytest.raises(AssertionError):
    llm_rl.group_advantages(jnp.ones((2, 2)), group_size=2)


# --- Token-level GAE ----------------------------------------------------------------------------


def py_token_gae(rewards, values, mask, discount, lam):
  """Row by row over each contiguous run of valid tokens, in float64."""
  rewards, values, mask = (np.asarray(x, np.float64) for x in (rewards, values, mask))
  batch, length = rewards.shape
  bootstrap = values.shape[1] == length + 1
  out = np.zeros((batch, length))
  for i in range(batch):
    a_next = 0.0
    for t in reversed(range(length)):
      if mask[i, t] <= 0:
        a_next = 0.0
        continue
      if t + 1 < length:
        gamma = discount if mask[i, t + 1] > 0 else 0.0
        v_next = values[i, t + 1] if gamma else 0.0
      else:
        gamma = discount if bootstrap else 0.0
        v_next = values[i, length] if bootstrap else 0.0
      delta = rewards[i, t] + gamma * v_next - values[i, t]
      out[i, t] = delta + gamma * lam * a_next
      a_next = out[i, t]
  return out


MASK = np.array(
  [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [0, 1, 1, 1, 1], [0, 0, 0, 0, 0], [1, 0, 0, 0, 0]],
  np.float32,
)


@pytest.mark.parametrize("extra", [0, 1])
def test_token_gae_matches_loop(extra):
  rng = np.random.default_rng(extra)
  rewards = rng.normal(size=MASK.shape).astype(np.float32)
  values = rng.normal(size=(5, 5 + extra)).astype(np.float32)
  for discount, lam in ((1.0, 0.95), (0.9, 0.5), (1.0, 1.0)):
    got = llm_rl.token_gae(rewards, values, MASK, discount=discount, lambda_=lam)
    want = py_token_gae(rewards, values, MASK, discount, lam)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_token_gae_full_row_is_rl_gae_and_padding_ignored():
  rewards = jnp.array([[0.0, 0.0, 1.0, 0.0]])
  values = jnp.array([[0.5, 0.2, 0.1, jnp.nan]])  # a NaN value in the padding
  mask = jnp.array([[1.0, 1.0, 1.0, 0.0]])
  got = llm_rl.token_gae(rewards, values, mask, discount=0.9, lambda_=0.7)
  want = rl.gae(
    jnp.array([0.0, 0.0, 1.0]), jnp.array([0.9, 0.9, 0.0]), 0.7, jnp.array([0.5, 0.2, 0.1, 0.0])
  )
  np.testing.assert_allclose(got[0, :3], want, rtol=1e-6)
  assert got[0, 3] == 0.0
  # λ = 1, γ = 1, V = 0: advantages are the reward-to-go.
  ones = jnp.ones((1, 4))
  np.testing.assert_allclose(
    llm_rl.token_gae(ones, jnp.zeros((1, 4)), ones, discount=1.0, lambda_=1.0), [[4, 3, 2, 1]]
  )


def test_token_gae_jit_vmap_and_errors():
  rng = np.random.default_rng(3)
  rewards = rng.normal(size=(2,) + MASK.shape).astype(np.float32)
  values = rng.normal(size=(2, 5, 6)).astype(np.float32)
  masks = np.stack([MASK, MASK[::-1]])
  f = functools.partial(llm_rl.token_gae, discount=1.0, lambda_=0.9)
  eager = np.stack([f(r, v, m) for r, v, m in zip(rewards, values, masks, strict=True)])
  np.testing.assert_allclose(jax.jit(jax.vmap(f))(rewards, values, masks), eager, rtol=1e-5)
  with pytest.raises(ValueError, match="values"):
    llm_rl.token_gae(rewards[0], values[0, :, :3], MASK)


def test_eager_equals_jit():
  """No jit inside: an eager call and the caller's `jax.jit` (static arguments closed over)
  agree."""
  rng = np.random.default_rng(4)
  rewards = jnp.asarray(rng.normal(size=12), jnp.float32)
  for f in (
    functools.partial(llm_rl.group_advantages, group_size=4),
    functools.partial(llm_rl.group_advantages, group_size=3, normalize_std=False),
    functools.partial(llm_rl.rloo_advantages, group_size=4),
  ):
    np.testing.assert_allclose(f(rewards), jax.jit(f)(rewards), rtol=1e-5, atol=1e-7)
  token_rewards = jnp.asarray(rng.normal(size=MASK.shape), jnp.float32)
  for extra in (0, 1):
    values = jnp.asarray(rng.normal(size=(MASK.shape[0], MASK.shape[1] + extra)), jnp.float32)
    f = functools.partial(llm_rl.token_gae, discount=0.99, lambda_=0.9, stop_target_gradients=True)
    np.testing.assert_allclose(
      f(token_rewards, values, MASK), jax.jit(f)(token_rewards, values, MASK), rtol=1e-5,
      atol=1e-7,
    )
