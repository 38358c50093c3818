"""DAPO data side: soft overlong punishment, overlong filtering, the dynamic-sampling filter."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from research import llm_rl


def test_overlong_penalty_regions_and_boundaries():
  # L_max = 20, L_cache = 4: no penalty up to 16, a ramp over (16, 20], −1 beyond.
  lengths = jnp.array([0, 15, 16, 17, 18, 19, 20, 21, 100])
  want = [0.0, 0.0, 0.0, -0.25, -0.5, -0.75, -1.0, -1.0, -1.0]
  got = llm_rl.overlong_penalty(lengths, max_len=20, cache_len=4)
  assert got.dtype == jnp.float32
  np.testing.assert_allclose(got, want, rtol=1e-6)
  # Float lengths, just either side of both boundaries: continuous at 16, −1 at and past 20.
  lengths = jnp.array([16.0, 16.004, 19.996, 20.0, 20.004])
  got = llm_rl.overlong_penalty(lengths, max_len=20, cache_len=4)
  np.testing.assert_allclose(got, [0.0, -0.001, -0.999, -1.0, -1.0], rtol=1e-3, atol=1e-6)
  # Under jit with traced limits, and under vmap.
  f = jax.jit(lambda x, m, c: llm_rl.overlong_penalty(x, max_len=m, cache_len=c))
  np.testing.assert_allclose(f(jnp.array([10, 12, 14, 20]), 16, 4), [0.0, 0.0, -0.5, -1.0])
  g = jax.vmap(functools.partial(llm_rl.overlong_penalty, max_len=20, cache_len=4))
  np.testing.assert_allclose(g(jnp.array([[16, 18], [20, 22]])), [[0.0, -0.5], [-1.0, -1.0]])
  with pytest.raises(ValueError, match="cache_len"):
    llm_rl.overlong_penalty(jnp.array([1]), max_len=20, cache_len=0)
  with pytest.raises(ValueError, match="cache_len"):
    llm_rl.overlong_penalty(jnp.array([1]), max_len=4, cache_len=8)


def test_overlong_filter_mask():
  mask = jnp.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
  got = llm_rl.overlong_filter_mask(mask, jnp.array([False, True, False]))
  np.testing.assert_array_equal(got, [[1, 1, 0], [0, 0, 0], [1, 0, 0]])
  assert got.dtype == mask.dtype
  np.testing.assert_array_equal(llm_rl.overlong_filter_mask(mask, jnp.array([0, 1, 0])), got)
  # A filtered sample contributes nothing to the token-mean loss.
  per_token = jnp.array([[1.0, 2.0, 0.0], [100.0, 100.0, 100.0], [3.0, 0.0, 0.0]])
  np.testing.assert_allclose(llm_rl.aggregate(per_token, got, mode="token-mean"), 2.0)
  np.testing.assert_array_equal(
    jax.jit(jax.vmap(llm_rl.overlong_filter_mask))(mask[None], jnp.array([[0, 1, 0]])), got[None]
  )


def test_informative_groups():
  rewards = jnp.array([1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.5, 0.5, 1.0, 0.0])
  np.testing.assert_array_equal(
    llm_rl.informative_groups(rewards, group_size=2), [False, True, False, False, True]
  )
  np.testing.assert_array_equal(
    llm_rl.informative_groups(jnp.array([1, 1, 1, 1, 0, 1, 0, 0]), group_size=4), [False, True]
  )
  np.testing.assert_array_equal(llm_rl.informative_groups(rewards, group_size=1), [False] * 10)
  # Exactly the groups with non-zero GRPO advantages.
  informative = llm_rl.informative_groups(rewards, group_size=2)
  adv = llm_rl.group_advantages(rewards, group_size=2).reshape(5, 2)
  np.testing.assert_array_equal(informative, (adv != 0).any(axis=1))
  with pytest.raises(ValueError, match="multiple"):
    llm_rl.informative_groups(rewards, group_size=3)


def py_select(rewards, group_size, num_groups):
  r = np.asarray(rewards).reshape(-1, group_size)
  keep = r.max(axis=1) != r.min(axis=1)
  informative = [g for g in range(len(r)) if keep[g]]
  rest = [g for g in range(len(r)) if not keep[g]]
  indices = (informative + rest)[:num_groups]
  valid = [k < len(informative) for k in range(num_groups)]
  return indices, valid, len(informative)


def test_select_groups_hand_example():
  # Groups of 2: [1,1] no, [0,1] yes, [0,0] no, [1,0] yes, [1,1] no, [0,1] yes.
  rewards = jnp.array([1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0])
  indices, valid, count = llm_rl.select_groups(rewards, group_size=2, num_groups=2)
  np.testing.assert_array_equal(indices, [1, 3])
  np.testing.assert_array_equal(valid, [True, True])
  assert count == 3 and indices.dtype == jnp.int32
  # Not enough informative groups: pad with the first non-informative ones, marked invalid.
  indices, valid, count = llm_rl.select_groups(rewards, group_size=2, num_groups=5)
  np.testing.assert_array_equal(indices, [1, 3, 5, 0, 2])
  np.testing.assert_array_equal(valid, [True, True, True, False, False])
  rows = llm_rl.group_sample_indices(indices, group_size=2)
  np.testing.assert_array_equal(rows, [2, 3, 6, 7, 10, 11, 0, 1, 4, 5])
  np.testing.assert_array_equal(
    llm_rl.informative_groups(rewards[rows], group_size=2), [True] * 3 + [False] * 2
  )
  # Samples spent per kept prompt: P · G / num_informative.
  assert rewards.size / int(count) == 4.0
  with pytest.raises(ValueError, match="num_groups"):
    llm_rl.select_groups(rewards, group_size=2, num_groups=7)
  with pytest.raises(ValueError, match="num_groups must be a Python int >= 1"):
    llm_rl.select_groups(rewards, group_size=2, num_groups=0)
  with pytest.raises(ValueError, match="num_groups must be a Python int"):  # was a TypeError
    llm_rl.select_groups(rewards, group_size=2, num_groups=2.0)
  with pytest.raises(ValueError, match="group_size must be a Python int"):
    llm_rl.group_sample_indices(indices, group_size=True)


@settings(max_examples=20, deadline=None)
@given(data=st.lists(st.sampled_from([0.0, 1.0]), min_size=24, max_size=24))
def test_select_groups_matches_python(data):
  rewards = jnp.asarray(data, jnp.float32)
  indices, valid, count = llm_rl.select_groups(rewards, group_size=3, num_groups=4)
  want = py_select(data, 3, 4)
  np.testing.assert_array_equal(indices, want[0])
  np.testing.assert_array_equal(valid, want[1])
  assert int(count) == want[2]


def test_select_groups_jit_vmap_and_refill():
  f = jax.jit(functools.partial(llm_rl.select_groups, group_size=2, num_groups=2))
  pools = jnp.array([[1.0, 1.0, 0.0, 1.0, 1.0, 0.0], [0.0, 0.0, 1.0, 1.0, 0.0, 0.0]])
  indices, valid, count = jax.vmap(f)(pools)
  np.testing.assert_array_equal(indices, [[1, 2], [0, 1]])
  np.testing.assert_array_equal(valid, [[True, True], [False, False]])
  np.testing.assert_array_equal(count, [2, 0])

  # A refill loop under jit: draw pools until N informative groups are collected.
  def draw(key):
    return jax.random.bernoulli(key, 0.8, (4 * 2,)).astype(jnp.float32)  # mostly all-correct

  def refill(key, num_groups=3):
    def cond(carry):
      return carry[1] < num_groups

    def body(carry):
      key, kept, spent = carry
      key, sub = jax.random.split(key)
      _, _, n = llm_rl.select_groups(draw(sub), group_size=2, num_groups=4)
      return key, kept + n, spent + 8

    return jax.lax.while_loop(cond, body, (key, jnp.int32(0), jnp.int32(0)))

  _, kept, spent = jax.jit(refill)(jax.random.key(0))
  assert kept >= 3 and spent % 8 == 0 and spent >= 8


def test_eager_equals_jit():
  """No jit inside: an eager call and the caller's `jax.jit` (static arguments closed over)
  agree."""
  rewards = jnp.array([1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0])
  for f in (
    functools.partial(llm_rl.select_groups, group_size=2, num_groups=4),
    functools.partial(llm_rl.informative_groups, group_size=3),
  ):
    for got, want in zip(jax.tree.leaves(jax.jit(f)(rewards)), jax.tree.leaves(f(rewards)),
                         strict=True):
      np.testing.assert_array_equal(got, want)
  lengths = jnp.arange(0.0, 20.0, 0.5)
  f = functools.partial(llm_rl.overlong_penalty, max_len=16, cache_len=4)
  np.testing.assert_allclose(f(lengths), jax.jit(f)(lengths), rtol=1e-6, atol=1e-7)
