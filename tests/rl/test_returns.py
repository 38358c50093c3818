"""Multi-step returns and GAE: rlax's published numbers, Python loops and properties."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from research import rl

# The fixtures and expected outputs of rlax's multistep_test.py (google-deepmind/rlax).
R_T = np.array([[1.0, 0.0, -1.0, 0.0, 1.0], [0.5, 0.8, -0.7, 0.0, 2.1]], np.float32)
DISCOUNT_T = np.array([[0.5, 0.9, 1.0, 0.5, 0.8], [0.9, 0.5, 0.3, 0.8, 0.7]], np.float32)
V_T = np.array([[3.0, 1.0, 5.0, -5.0, 3.0], [-1.7, 1.2, 2.3, 2.2, 2.7]], np.float32)
RLAX_LAMBDA_075 = [
  [1.6460547, 0.72281253, 0.7375001, 0.6500001, 3.4],
  [0.7866317, 0.9913063, 0.1101501, 2.834, 3.99],
]
RLAX_DISCOUNTED = [[1.315, 0.63, 0.7, 1.7, 3.4], [1.33592, 0.9288, 0.2576, 3.192, 3.99]]
RLAX_N_STEP = {
  3: [[2.8, -3.15, 0.7, 1.7, 3.4], [1.2155, 0.714, 0.2576, 3.192, 3.99]],
  5: RLAX_DISCOUNTED,
  7: RLAX_DISCOUNTED,
}
GAE_R = np.array([[0.0, 0.0, 1.0, 0.0, -0.5], [0.0, 0.0, 0.0, 0.0, 1.0]], np.float32)
GAE_V = np.array(
  [[1.0, 4.0, -3.0, -2.0, -1.0, -1.0], [-3.0, -2.0, -1.0, 0.0, 5.0, -1.0]], np.float32
)
GAE_D = np.array([[0.99] * 5, [0.9, 0.9, 0.9, 0.0, 0.9]], np.float32)
RLAX_GAE = {
  1.0: [[-1.45118, -4.4557, 2.5396, 0.5249, -0.49], [3.0, 2.0, 1.0, 0.0, -4.9]],
  0.7: [[-0.676979, -5.248167, 2.4846, 0.6704, -0.49], [2.2899, 1.73, 1.0, 0.0, -4.9]],
  0.4: [[0.56731, -6.042, 2.3431, 0.815, -0.49], [1.725, 1.46, 1.0, 0.0, -4.9]],
}


# --- Plain-Python float64 references ------------------------------------------------------------


def py_discounted(r, d, bootstrap):
  g, out = float(bootstrap), [0.0] * len(r)
  for i in reversed(range(len(r))):
    g = r[i] + d[i] * g
    out[i] = g
  return np.array(out)


def py_lambda(r, d, v, lam):
  lam = np.broadcast_to(lam, len(r))
  g, out = float(v[-1]), [0.0] * len(r)
  for i in reversed(range(len(r))):
    g = r[i] + d[i] * ((1 - lam[i]) * v[i] + lam[i] * g)
    out[i] = g
  return np.array(out)


def py_n_step(r, d, v, n, lam=1.0):
  """Each target from its own window of at most n steps, bootstrapping on v at the window end."""
  big_t = len(r)
  lam = np.broadcast_to(lam, big_t)
  out = []
  for t in range(big_t):
    end = min(t + n, big_t)
    g = float(v[end - 1])
    for k in reversed(range(t, end)):
      g = r[k] + d[k] * ((1 - lam[k]) * v[k] + lam[k] * g)
    out.append(g)
  return np.array(out)


def py_gae(r, d, lam, values):
  lam = np.broadcast_to(lam, len(r))
  a, out = 0.0, [0.0] * len(r)
  for i in reversed(range(len(r))):
    delta = r[i] + d[i] * values[i + 1] - values[i]
    a = delta + d[i] * lam[i] * a
    out[i] = a
  return np.array(out)


# --- rlax's numbers and hand-worked examples ----------------------------------------------------


def test_rlax_lambda_returns():
  fn = jax.jit(jax.vmap(lambda r, d, v: rl.lambda_returns(r, d, v, 0.75)))
  np.testing.assert_allclose(fn(R_T, DISCOUNT_T, V_T), RLAX_LAMBDA_075, rtol=1e-5)


def test_rlax_discounted_returns_scalar_and_vector_bootstrap():
  fn = jax.jit(jax.vmap(rl.discounted_returns))
  np.testing.assert_allclose(fn(R_T, DISCOUNT_T, V_T[:, -1]), RLAX_DISCOUNTED, rtol=1e-5)
  np.testing.assert_allclose(fn(R_T, DISCOUNT_T, V_T), RLAX_DISCOUNTED, rtol=1e-5)


@pytest.mark.parametrize("n", [3, 5, 7])
def test_rlax_n_step_returns(n):
  fn = jax.jit(jax.vmap(lambda r, d, v: rl.n_step_bootstrapped_returns(r, d, v, n)))
  np.testing.assert_allclose(fn(R_T, DISCOUNT_T, V_T), RLAX_N_STEP[n], rtol=1e-5)


@pytest.mark.parametrize("lambda_", [1.0, 0.7, 0.4])
def test_rlax_gae(lambda_):
  fn = jax.jit(jax.vmap(rl.gae, in_axes=(0, 0, None, 0)))
  np.testing.assert_allclose(fn(GAE_R, GAE_D, lambda_, GAE_V), RLAX_GAE[lambda_], atol=1e-3)
  # A per-step lambda gives the same result.
  per_step = jax.vmap(rl.gae)(GAE_R, GAE_D, np.full((2, 5), lambda_, np.float32), GAE_V)
  np.testing.assert_allclose(per_step, RLAX_GAE[lambda_], atol=1e-3)


def test_hand_worked_returns():
  r = jnp.array([1.0, 2.0, 3.0])
  d = jnp.array([0.5, 0.5, 0.0])  # the episode ends after the third reward
  # G2 = 3, G1 = 2 + 0.5 * 3 = 3.5, G0 = 1 + 0.5 * 3.5 = 2.75 (the bootstrap 100 is cut by d = 0).
  np.testing.assert_allclose(rl.discounted_returns(r, d, 100.0), [2.75, 3.5, 3.0])
  v = jnp.array([10.0, 20.0, 30.0])
  # Two-step: G0 = 1 + 0.5 * 2 + 0.25 * v[1] = 7; G1 = 2 + 0.5 * 3 + 0 = 3.5; G2 = 3.
  np.testing.assert_allclose(rl.n_step_bootstrapped_returns(r, d, v, 2), [7.0, 3.5, 3.0])
  # GAE with λ = 0 is the TD error: 1 + 0.5 * 20 − 10, 2 + 0.5 * 30 − 20, 3 + 0 − 30.
  values = jnp.array([10.0, 20.0, 30.0, 40.0])
  np.testing.assert_allclose(rl.gae(r, d, 0.0, values), [1.0, -3.0, -27.0])


# --- Properties ---------------------------------------------------------------------------------


def _trajectory(seed, length):
  rng = np.random.default_rng(seed)
  r = rng.normal(size=length).astype(np.float32)
  # Some episode ends (discount 0) inside the trajectory.
  d = (rng.uniform(0.5, 1.0, length) * (rng.uniform(size=length) > 0.2)).astype(np.float32)
  v = rng.normal(size=length + 1).astype(np.float32)
  lam = rng.uniform(0.0, 1.0, length).astype(np.float32)
  return r, d, v, lam


SETTINGS = settings(max_examples=25, deadline=None)
LENGTHS = st.sampled_from([1, 6])  # few shapes: each compiles once (through the jitted copies)

# research.rl does not jit internally (users jit, as with rlax): the property tests call these
# jitted copies, so that each shape compiles once rather than on every eager call.
discounted_returns = jax.jit(rl.discounted_returns, static_argnames="stop_target_gradients")
lambda_returns = jax.jit(rl.lambda_returns, static_argnames="stop_target_gradients")
n_step_bootstrapped_returns = jax.jit(
  rl.n_step_bootstrapped_returns, static_argnames=("n", "stop_target_gradients")
)
gae = jax.jit(rl.gae, static_argnames="stop_target_gradients")


@SETTINGS
@given(seed=st.integers(0, 2**31 - 1), length=LENGTHS, lambda_=st.floats(0.0, 1.0))
def test_lambda_returns_against_loop(seed, length, lambda_):
  r, d, v, lam = _trajectory(seed, length)
  np.testing.assert_allclose(
    lambda_returns(r, d, v[1:], np.float32(lambda_)),
    py_lambda(r, d, v[1:], lambda_),
    rtol=1e-4,
    atol=1e-4,
  )
  np.testing.assert_allclose(
    lambda_returns(r, d, v[1:], lam), py_lambda(r, d, v[1:], lam), rtol=1e-4, atol=1e-4
  )


@SETTINGS
@given(seed=st.integers(0, 2**31 - 1), length=LENGTHS)
def test_lambda_extremes(seed, length):
  r, d, v, _ = _trajectory(seed, length)
  v_t = v[1:]
  # λ = 1: discounted returns bootstrapped from the last value.
  np.testing.assert_allclose(
    lambda_returns(r, d, v_t, 1.0), discounted_returns(r, d, v_t[-1]), rtol=1e-5, atol=1e-5
  )
  np.testing.assert_allclose(
    discounted_returns(r, d, v_t[-1]), py_discounted(r, d, v_t[-1]), rtol=1e-4, atol=1e-4
  )
  # λ = 0: one-step targets.
  np.testing.assert_allclose(lambda_returns(r, d, v_t, 0.0), r + d * v_t, rtol=1e-5, atol=1e-5)


@SETTINGS
@given(
  seed=st.integers(0, 2**31 - 1),
  length=LENGTHS,
  n=st.sampled_from([1, 2, 7]),
  lambda_=st.sampled_from([1.0, 0.5]),
)
def test_n_step_against_loop(seed, length, n, lambda_):
  r, d, v, _ = _trajectory(seed, length)
  v_t = v[1:]
  got = n_step_bootstrapped_returns(r, d, v_t, n, lambda_t=lambda_)
  np.testing.assert_allclose(got, py_n_step(r, d, v_t, n, lambda_), rtol=1e-4, atol=1e-4)
  if n == 1:
    np.testing.assert_allclose(got, r + d * v_t, rtol=1e-5, atol=1e-5)
  if n >= length:
    np.testing.assert_allclose(got, lambda_returns(r, d, v_t, lambda_), rtol=1e-5, atol=1e-5)


@SETTINGS
@given(seed=st.integers(0, 2**31 - 1), length=LENGTHS, lambda_=st.floats(0.0, 1.0))
def test_gae_against_loop_and_extremes(seed, length, lambda_):
  r, d, v, _ = _trajectory(seed, length)
  np.testing.assert_allclose(
    gae(r, d, np.float32(lambda_), v), py_gae(r, d, lambda_, v), rtol=1e-4, atol=1e-4
  )
  # λ = 1: discounted returns minus values; λ = 0: the TD errors.
  np.testing.assert_allclose(
    gae(r, d, 1.0, v), discounted_returns(r, d, v[-1]) - v[:-1], rtol=1e-4, atol=1e-4
  )
  np.testing.assert_allclose(gae(r, d, 0.0, v), r + d * v[1:] - v[:-1], rtol=1e-5, atol=1e-5)


# --- Eager and jitted calls ---------------------------------------------------------------------

EAGER_AND_JIT = {
  "discounted_returns": lambda r, d, v, lam: rl.discounted_returns(r, d, v[1:]),
  "lambda_returns": lambda r, d, v, lam: rl.lambda_returns(r, d, v[1:], lam),
  "n_step": lambda r, d, v, lam: rl.n_step_bootstrapped_returns(r, d, v[1:], 3, lambda_t=lam),
  "gae": lambda r, d, v, lam: rl.gae(r, d, lam, v),
  "gae_stop_gradient": lambda r, d, v, lam: rl.gae(r, d, 0.9, v, stop_target_gradients=True),
}


@pytest.mark.parametrize("name", sorted(EAGER_AND_JIT))
def test_eager_and_jitted_calls_agree(name):
  # No jit inside the library: an eager call and the user's jit (static ints, here n = 3, and
  # flags closed over) compute the same ops; only XLA's fusion under jit may round differently.
  fn = EAGER_AND_JIT[name]
  for length in (1, 7):
    args = _trajectory(length, length)
    eager, jitted = fn(*args), jax.jit(fn)(*args)
    assert eager.dtype == jitted.dtype == jnp.float32 and eager.shape == (length,)
    np.testing.assert_allclose(eager, jitted, rtol=1e-6, atol=1e-6)


# --- Gradients, shapes and arguments ------------------------------------------------------------


def test_stop_target_gradients():
  r, d, v, _ = _trajectory(0, 4)

  def total(v_t, stop):
    return rl.lambda_returns(r, d, v_t, 0.5, stop_target_gradients=stop).sum()

  assert float(jnp.abs(jax.grad(total)(v[1:], True)).sum()) == 0.0
  assert float(jnp.abs(jax.grad(total)(v[1:], False)).sum()) > 0.0
  grad = jax.grad(lambda x: rl.gae(r, d, 0.9, x, stop_target_gradients=True).sum())(v)
  np.testing.assert_array_equal(grad, 0.0)


def test_argument_checks():
  r, d, v, _ = _trajectory(0, 4)
  with pytest.raises(ValueError, match="n must be a Python int >= 1"):
    rl.n_step_bootstrapped_returns(r, d, v[1:], 0)
  with pytest.raises(ValueError, match="n must be a Python int >= 1"):
    rl.n_step_bootstrapped_returns(r, d, v[1:], 2.0)
  with pytest.raises(ValueError, match=r"values must have shape \[T \+ 1\] = \[5\]"):
    rl.gae(r, d, 0.9, v[1:])
  with pytest.raises(AssertionError):  # chex rank check, as in rlax
    rl.lambda_returns(r[None], d, v[1:])
  with pytest.raises(AssertionError):
    rl.discounted_returns(r, d[:3], 0.0)
