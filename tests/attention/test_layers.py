"""Flax layers: every kind runs, shapes, causality, bf16, performer projections, TransNormer."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research import attention

SETTINGS = dict(num_heads=2, head_dim=4, chunk_size=4, block_size=4, num_features=16)


def _inputs(seed, shape=(2, 10, 8)):
  return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("kind", attention.KINDS)
def test_causal_layer_runs_and_is_causal(kind):
  model = attention.MultiHeadAttention(kind=kind, causal=True, **SETTINGS)
  x = _inputs(0)
  variables = model.init(jax.random.key(0), x)
  apply = jax.jit(model.apply)
  out = apply(variables, x)
  assert out.shape == x.shape and out.dtype == jnp.float32
  assert np.all(np.isfinite(np.asarray(out)))
  changed = x.copy()
  changed[:, 6] = _inputs(1, (2, 8))  # change the token at position 6
  out2 = apply(variables, changed)
  # Earlier outputs do not move (the performer's key stabiliser cancels up to rounding).
  np.testing.assert_allclose(np.asarray(out2[:, :6]), np.asarray(out[:, :6]), rtol=1e-4,
                             atol=1e-5)
  assert not np.allclose(np.asarray(out2[:, 6]), np.asarray(out[:, 6]))


@pytest.mark.parametrize("kind", attention.KINDS)
def test_non_causal_layer_and_bf16_inputs(kind):
  model = attention.MultiHeadAttention(kind=kind, causal=False, out_features=5, **SETTINGS)
  x = _inputs(2)
  variables = model.init(jax.random.key(1), x)
  out = model.apply(variables, x)
  assert out.shape == (2, 10, 5) and out.dtype == jnp.float32
  low = model.apply(variables, x.astype(jnp.bfloat16))
  assert low.shape == (2, 10, 5) and low.dtype == jnp.bfloat16
  scale = float(np.max(np.abs(np.asarray(out))))
  np.testing.assert_allclose(np.asarray(low, np.float32), np.asarray(out), atol=0.1 * scale)


def test_cross_attention_lengths():
  model = attention.MultiHeadAttention(kind="linear", **SETTINGS)
  x, context = _inputs(3), _inputs(4, (2, 7, 8))
  variables = model.init(jax.random.key(2), x, context)
  assert model.apply(variables, x, context).shape == (2, 10, 8)


def test_performer_projection_is_a_variable_and_redraws_from_a_key():
  model = attention.MultiHeadAttention(kind="performer", **SETTINGS)
  x = _inputs(5)
  variables = model.init(jax.random.key(3), x)
  projection = variables["performer"]["projection"]
  assert projection.shape == (16, 4)
  assert "projection" not in variables["params"]
  out = model.apply(variables, x)
  # Redraw by replacing the variable, or pass a projection explicitly.
  new = attention.gaussian_orthogonal_random_matrix(jax.random.key(4), 16, 4)
  redrawn = model.apply({**variables, "performer": {"projection": new}}, x)
  np.testing.assert_allclose(np.asarray(model.apply(variables, x, projection=new)),
                             np.asarray(redrawn), rtol=1e-6)
  assert not np.allclose(np.asarray(redrawn), np.asarray(out))
  # redraw=True: a fresh draw from the "performer" RNG stream on every call.
  fresh = attention.MultiHeadAttention(kind="performer", redraw=True, **SETTINGS)
  params = fresh.init({"params": jax.random.key(5), "performer": jax.random.key(6)}, x)
  assert "performer" not in params
  a = fresh.apply(params, x, rngs={"performer": jax.random.key(7)})
  b = fresh.apply(params, x, rngs={"performer": jax.random.key(7)})
  c = fresh.apply(params, x, rngs={"performer": jax.random.key(8)})
  np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert not np.allclose(np.asarray(a), np.asarray(c))


def test_transnormer_layer_kinds():
  assert attention.transnormer_layer_kinds(6) == ("diag",) * 3 + ("norm",) * 3
  assert attention.transnormer_layer_kinds(3) == ("diag", "norm", "norm")
  assert attention.transnormer_layer_kinds(1) == ("norm",)


@pytest.mark.parametrize("variant", ["t1", "t2"])
def test_transnormer_stack_runs_and_is_causal(variant):
  model = attention.TransNormerStack(num_layers=2, num_heads=2, head_dim=4, variant=variant,
                                     block_size=4, chunk_size=4, mlp_ratio=2)
  x = _inputs(6)
  variables = model.init(jax.random.key(9), x)
  assert set(variables["params"]) == {"block_0", "block_1", "final_norm"}
  apply = jax.jit(model.apply)
  out = apply(variables, x)
  assert out.shape == x.shape
  changed = x.copy()
  changed[:, 5] += 1.0
  np.testing.assert_allclose(np.asarray(apply(variables, changed)[:, :5]),
                             np.asarray(out[:, :5]), rtol=1e-4, atol=1e-5)
  if variant == "t1":
    low = apply(variables, x.astype(jnp.bfloat16))
    assert low.dtype == jnp.bfloat16 and np.all(np.isfinite(np.asarray(low, np.float32)))
