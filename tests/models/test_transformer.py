"""TransformerLM: shapes, parameter counts, per-layer kinds, causality for every attention kind."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.models.transformer import TransformerLM, layer_kinds, param_count

# (attention, variant): every kind, and TransNormer's T1 settings of diag and norm.
CASES = [("softmax", "t2"), ("linear", "t2"), ("performer", "t2"), ("norm", "t2"),
         ("diag", "t2"), ("norm", "t1"), ("diag", "t1")]


def small_model(attention="softmax", **kwargs):
  defaults = dict(vocab_size=11, num_layers=2, width=16, num_heads=2, max_len=24, block_size=4,
                  num_features=8, chunk_size=4)
  return TransformerLM(attention=attention, **{**defaults, **kwargs})


@pytest.mark.parametrize("tie,mlp", [(True, "glu"), (False, "mlp")])
def test_shapes_and_parameter_count(tie, mlp):
  model = small_model(tie_embeddings=tie, mlp=mlp)
  tokens = jnp.zeros((3, 7), jnp.int32)
  variables = model.init(jax.random.key(0), tokens)
  logits = model.apply(variables, tokens)
  assert logits.shape == (3, 7, 11) and logits.dtype == jnp.float32
  v, f, r, n = 11, 16, 4, 2
  ffn = (f * 2 * r * f + 2 * r * f + r * f * f + f) if mlp == "glu" else (2 * r * f * f + r * f + f)
  block = 2 * f + 3 * f * f + f * f + ffn  # two RMSNorm scales, qkv, out, channel mixer
  expected = v * f + 24 * f + n * block + f + (0 if tie else f * v)
  assert param_count(variables) == expected
  assert ("head" in variables["params"]) == (not tie)


def test_layer_kinds_and_validation():
  assert layer_kinds(small_model(("softmax", "linear"))) == ("softmax", "linear")
  assert layer_kinds(small_model("transnormer", num_layers=4)) == ("diag", "diag", "norm", "norm")
  assert layer_kinds(small_model("performer")) == ("performer", "performer")
  tokens = jnp.zeros((1, 4), jnp.int32)
  with pytest.raises(ValueError, match="attention kinds"):
    small_model("cosine").init(jax.random.key(0), tokens)
  with pytest.raises(ValueError, match="num_layers"):
    small_model(("softmax",)).init(jax.random.key(0), tokens)
  with pytest.raises(ValueError, match="max_len"):
    small_model().init(jax.random.key(0), jnp.zeros((1, 25), jnp.int32))


def test_performer_projection_is_a_fixed_non_trainable_variable():
  model = small_model("performer")
  variables = model.init(jax.random.key(0), jnp.zeros((1, 4), jnp.int32))
  projection = variables["performer"]["block_0"]["attention"]["projection"]
  assert projection.shape == (8, 8)  # [num_features, head_dim]
  assert not jnp.allclose(projection, variables["performer"]["block_1"]["attention"]["projection"])
  assert "projection" not in variables["params"]["block_0"]["attention"]


@functools.partial(jax.jit, static_argnums=0)
def _logits(model, variables, tokens):
  return model.apply(variables, tokens)


@pytest.mark.parametrize("attention,variant", CASES)
def test_causal_future_tokens_never_change_earlier_logits(attention, variant):
  model = small_model(attention, variant=variant)
  tokens = jax.random.randint(jax.random.key(1), (2, 13), 0, 11)
  variables = model.init(jax.random.key(0), tokens)
  base = _logits(model, variables, tokens)
  for position in (3, 6, 12):  # inside a chunk/block, at a boundary, the last one
    changed = tokens.at[:, position:].set((tokens[:, position:] + 5) % 11)
    logits = _logits(model, variables, changed)
    # Performer: the keys' stabiliser is a max over the whole sequence; it cancels in the ratio
    # up to the denominator's eps, hence a looser tolerance.
    atol = 1e-4 if attention == "performer" else 1e-6
    np.testing.assert_allclose(logits[:, :position], base[:, :position], atol=atol, rtol=0)
    assert not np.allclose(logits[:, position], base[:, position], atol=1e-4)
