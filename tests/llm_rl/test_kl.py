"""KL estimators: hand values, signs, unbiasedness (exact expectations and Monte Carlo)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research import llm_rl


def test_hand_values():
  logp = jnp.array([[-1.0, -2.0, -0.5]])
  ref = jnp.array([[-2.0, -1.0, -0.5]])  # d = ref − logp = [−1, 1, 0]
  np.testing.assert_allclose(llm_rl.kl_estimate(logp, ref, kind="k1"), [[1.0, -1.0, 0.0]])
  np.testing.assert_allclose(llm_rl.kl_estimate(logp, ref, kind="k2"), [[0.5, 0.5, 0.0]])
  k3 = [[np.exp(-1.0), np.exp(1.0) - 2.0, 0.0]]
  np.testing.assert_allclose(llm_rl.kl_estimate(logp, ref, kind="k3"), k3, rtol=1e-6)
  np.testing.assert_allclose(llm_rl.kl_estimate(logp, ref), k3, rtol=1e-6)  # default k3


def test_signs():
  rng = np.random.default_rng(0)
  logp, ref = jnp.asarray(3 * rng.normal(size=(2, 8, 16)), jnp.float32)
  k1 = llm_rl.kl_estimate(logp, ref, kind="k1")
  assert (k1 > 0).any() and (k1 < 0).any()
  assert (llm_rl.kl_estimate(logp, ref, kind="k2") >= 0).all()
  assert (llm_rl.kl_estimate(logp, ref, kind="k3") >= 0).all()
  for kind in llm_rl.KL_KINDS:
    np.testing.assert_array_equal(llm_rl.kl_estimate(logp, logp, kind=kind), 0.0)


def _categoricals():
  rng = np.random.default_rng(0)
  p = rng.dirichlet(np.ones(6))
  q = rng.dirichlet(np.ones(6))
  return p, q, float(np.sum(p * np.log(p / q)))


@pytest.mark.parametrize("kind", ["k1", "k3"])
def test_unbiased_exact_expectation(kind):
  """Σ_x π(x) k(x) equals KL(π ‖ π_ref) for k1 and k3."""
  p, q, kl = _categoricals()
  k = llm_rl.kl_estimate(jnp.log(p)[None], jnp.log(q)[None], kind=kind)[0]
  np.testing.assert_allclose(np.sum(p * np.asarray(k, np.float64)), kl, rtol=1e-5)


def test_monte_carlo_unbiased_and_k2_biased():
  p, q, kl = _categoricals()
  n = 200_000
  x = np.random.default_rng(1).choice(p.size, size=(1, n), p=p)
  logp, ref = jnp.asarray(np.log(p)[x], jnp.float32), jnp.asarray(np.log(q)[x], jnp.float32)
  for kind in ("k1", "k3"):
    k = np.asarray(llm_rl.kl_estimate(logp, ref, kind=kind), np.float64)
    stderr = k.std() / np.sqrt(n)
    assert abs(k.mean() - kl) < 4 * stderr, (kind, k.mean(), kl, stderr)
  # k2 is biased: its exact expectation differs from the KL (but stays close for close π, π_ref).
  k2 = np.asarray(llm_rl.kl_estimate(jnp.log(p)[None], jnp.log(q)[None], kind="k2"))[0]
  assert abs(np.sum(p * k2) - kl) > 1e-3


def test_jit_vmap_and_errors():
  logp = -jnp.arange(1.0, 7.0).reshape(2, 3) / 3
  ref = -jnp.arange(6.0, 0.0, -1.0).reshape(2, 3) / 3
  for kind in llm_rl.KL_KINDS:
    f = functools.partial(llm_rl.kl_estimate, kind=kind)
    eager = f(logp, ref)
    np.testing.assert_allclose(jax.jit(jax.vmap(f))(logp, ref), eager, rtol=1e-6)
  with pytest.raises(ValueError, match="kind must be one of"):
    llm_rl.kl_estimate(logp, ref, kind="k4")
  with pytest.raises(AssertionError):
    llm_rl.kl_estimate(logp, ref[:, :2])


def test_eager_equals_jit():
  """No jit inside: an eager call and the caller's `jax.jit` (the kind closed over) agree."""
  rng = np.random.default_rng(5)
  logp = jnp.asarray(-rng.uniform(0.1, 3.0, size=(3, 4)), jnp.float32)
  ref = logp + jnp.asarray(rng.normal(scale=0.5, size=(3, 4)), jnp.float32)
  for kind in llm_rl.KL_KINDS:
    f = functools.partial(llm_rl.kl_estimate, kind=kind)
    np.testing.assert_allclose(f(logp, ref), jax.jit(f)(logp, ref), rtol=1e-6, atol=1e-7)
