"""TD errors: hand-computed values, NumPy formulas, jit/vmap and stop-gradient behaviour."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from research import rl

Q_TM1 = jnp.array([1.0, 2.0, 3.0])
Q_T = jnp.array([4.0, 5.0, 0.0])
PROBS = jnp.array([0.2, 0.3, 0.5])


def test_hand_computed_errors():
  # δ = r + γ v' − v = 0.5 + 0.9 * 2 − 1.
  np.testing.assert_allclose(rl.td_learning(1.0, 0.5, 0.9, 2.0), 1.3, rtol=1e-6)
  # Sarsa: 0.5 + 0.9 * q_t[0] − q_tm1[1] = 0.5 + 3.6 − 2.
  np.testing.assert_allclose(rl.sarsa(Q_TM1, 1, 0.5, 0.9, Q_T, 0), 2.1, rtol=1e-6)
  # Expected Sarsa: E q_t = 0.8 + 1.5 + 0 = 2.3 -> 0.5 + 2.07 − 2.
  np.testing.assert_allclose(rl.expected_sarsa(Q_TM1, 1, 0.5, 0.9, Q_T, PROBS), 0.57, rtol=1e-5)
  # Q-learning: 0.5 + 0.9 * 5 − 2.
  np.testing.assert_allclose(rl.q_learning(Q_TM1, 1, 0.5, 0.9, Q_T), 3.0, rtol=1e-6)
  # A terminal transition (discount 0) does not bootstrap.
  np.testing.assert_allclose(rl.q_learning(Q_TM1, 2, -1.0, 0.0, Q_T), -4.0, rtol=1e-6)


def test_expected_sarsa_reduces_to_sarsa_and_q_learning():
  one_hot = jax.nn.one_hot(0, 3)
  np.testing.assert_allclose(
    rl.expected_sarsa(Q_TM1, 1, 0.5, 0.9, Q_T, one_hot), rl.sarsa(Q_TM1, 1, 0.5, 0.9, Q_T, 0)
  )
  greedy = jax.nn.one_hot(jnp.argmax(Q_T), 3)
  np.testing.assert_allclose(
    rl.expected_sarsa(Q_TM1, 1, 0.5, 0.9, Q_T, greedy), rl.q_learning(Q_TM1, 1, 0.5, 0.9, Q_T)
  )


def _batch(seed, batch=6, num_actions=4):
  rng = np.random.default_rng(seed)
  return dict(
    q_tm1=rng.normal(size=(batch, num_actions)).astype(np.float32),
    a_tm1=rng.integers(0, num_actions, batch).astype(np.int32),
    r_t=rng.normal(size=batch).astype(np.float32),
    discount_t=rng.uniform(0, 1, batch).astype(np.float32),
    q_t=rng.normal(size=(batch, num_actions)).astype(np.float32),
    a_t=rng.integers(0, num_actions, batch).astype(np.int32),
    probs=rng.dirichlet(np.ones(num_actions), batch).astype(np.float32),
    v_tm1=rng.normal(size=batch).astype(np.float32),
    v_t=rng.normal(size=batch).astype(np.float32),
  )


def test_batched_with_vmap_and_jit_matches_numpy():
  b = _batch(0)
  rows = np.arange(6)
  base = b["q_tm1"][rows, b["a_tm1"]]
  expected = {
    "td": b["r_t"] + b["discount_t"] * b["v_t"] - b["v_tm1"],
    "sarsa": b["r_t"] + b["discount_t"] * b["q_t"][rows, b["a_t"]] - base,
    "expected_sarsa": b["r_t"] + b["discount_t"] * (b["q_t"] * b["probs"]).sum(1) - base,
    "q_learning": b["r_t"] + b["discount_t"] * b["q_t"].max(1) - base,
  }
  fns = {
    "td": (rl.td_learning, ("v_tm1", "r_t", "discount_t", "v_t")),
    "sarsa": (rl.sarsa, ("q_tm1", "a_tm1", "r_t", "discount_t", "q_t", "a_t")),
    "expected_sarsa": (
      rl.expected_sarsa,
      ("q_tm1", "a_tm1", "r_t", "discount_t", "q_t", "probs"),
    ),
    "q_learning": (rl.q_learning, ("q_tm1", "a_tm1", "r_t", "discount_t", "q_t")),
  }
  for name, (fn, args) in fns.items():
    inputs = [b[a] for a in args]
    batched = jax.jit(jax.vmap(fn))(*inputs)
    np.testing.assert_allclose(batched, expected[name], rtol=1e-5, atol=1e-6, err_msg=name)
    single = fn(*[x[3] for x in inputs])
    np.testing.assert_allclose(single, expected[name][3], rtol=1e-5, atol=1e-6, err_msg=name)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_property_matches_numpy(seed):
  b = _batch(seed)
  i = 2
  q_tm1, a_tm1, r, d, q_t = (
    b["q_tm1"][i],
    b["a_tm1"][i],
    b["r_t"][i],
    b["discount_t"][i],
    b["q_t"][i],
  )
  expected = r + d * q_t.max() - q_tm1[a_tm1]
  np.testing.assert_allclose(rl.q_learning(q_tm1, a_tm1, r, d, q_t), expected, rtol=1e-5, atol=1e-5)
  # Expected Sarsa lies between min and max bootstraps; Q-learning is the largest.
  e = float(rl.expected_sarsa(q_tm1, a_tm1, r, d, q_t, b["probs"][i]))
  assert e <= float(rl.q_learning(q_tm1, a_tm1, r, d, q_t)) + 1e-5
  assert e >= float(r + d * q_t.min() - q_tm1[a_tm1]) - 1e-5


def test_stop_target_gradients():
  def loss(q_t, stop):
    return rl.q_learning(Q_TM1, 1, 0.5, 0.9, q_t, stop_target_gradients=stop)

  np.testing.assert_allclose(jax.grad(loss)(Q_T, True), [0.0, 0.0, 0.0])
  np.testing.assert_allclose(jax.grad(loss)(Q_T, False), [0.0, 0.9, 0.0], rtol=1e-6)

  def sarsa_wrt_q_tm1(q_tm1):
    return rl.sarsa(q_tm1, 1, 0.5, 0.9, q_tm1, 2)

  # Only the prediction carries gradient by default (the target q_t[a_t] is stopped).
  np.testing.assert_allclose(jax.grad(sarsa_wrt_q_tm1)(Q_TM1), [0.0, -1.0, 0.0])

  def td(v_t, stop):
    return rl.td_learning(1.0, 0.5, 0.9, v_t, stop_target_gradients=stop)

  assert float(jax.grad(td)(2.0, True)) == 0.0
  np.testing.assert_allclose(jax.grad(td)(2.0, False), 0.9, rtol=1e-6)

  def expected(q_t):
    return rl.expected_sarsa(Q_TM1, 1, 0.5, 0.9, q_t, PROBS, stop_target_gradients=False)

  np.testing.assert_allclose(jax.grad(expected)(Q_T), 0.9 * PROBS, rtol=1e-6)


def test_stop_target_gradients_is_keyword_only():
  with pytest.raises(TypeError):
    rl.td_learning(1.0, 0.5, 0.9, 2.0, False)


def test_rank_and_type_checks():
  # chex checks at entry, as in rlax (they raise AssertionError).
  with pytest.raises(AssertionError):
    rl.q_learning(Q_TM1[None], 1, 0.5, 0.9, Q_T)
  with pytest.raises(AssertionError):
    rl.sarsa(Q_TM1, 1.0, 0.5, 0.9, Q_T, 0)
  with pytest.raises(AssertionError):
    rl.td_learning(jnp.ones(2), 0.5, 0.9, 2.0)
  chex.assert_rank(rl.expected_sarsa(Q_TM1, 1, 0.5, 0.9, Q_T, PROBS), 0)
