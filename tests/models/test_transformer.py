"""TransformerLM: shapes, parameter counts, per-layer kinds, causality for every attention kind."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.models.transformer import init_lm, layer_kinds, param_count
from tests.models._lm import CASES, PERFORMER_ATOL, small_model


@pytest.mark.parametrize("tie,mlp", [(True, "glu"), (False, "mlp")])
def test_shapes_and_parameter_count(tie, mlp):
  model = small_model(tie_embeddings=tie, mlp=mlp)
  tokens = jnp.zeros((3, 7), jnp.int32)
  variables, logits = _init_and_apply(model, jax.random.key(0), tokens[None])
  logits = logits[0]
  assert logits.shape == (3, 7, 11) and logits.dtype == jnp.float32
  v, f, r, n = 11, 16, 4, 2
  ffn = (f * 2 * r * f + 2 * r * f + r * f * f + f) if mlp == "glu" else (2 * r * f * f + r * f + f)
  block = 2 * f + 3 * f * f + f * f + ffn  # two RMSNorm scales, qkv, out, channel mixer
  expected = v * f + 24 * f + n * block + f + (0 if tie else f * v)
  assert param_count(variables) == expected
  assert ("head" in variables["params"]) == (not tie)


def test_short_convolution_is_a_causal_depthwise_filter():
  """The keys after the conv are `Σ_i w_i x_{t-c+1+i}` of the projections (zero before t = 0),
  checked against a direct loop; prefill keeps the last c - 1 projections."""
  model = small_model("softmax", num_layers=1, conv_size=3)
  variables = init_lm(model, jax.random.key(0))
  attention = model.bind(variables).blocks[0].attention
  x = jax.random.normal(jax.random.key(1), (2, 7, 16))
  params = variables["params"]["block_0"]["attention"]
  projected = np.asarray(x) @ np.asarray(params["qkv"]["kernel"])  # the fused projection
  w = np.asarray(params["conv_kernel"])
  expected = np.zeros_like(projected)
  for t in range(7):
    for i in range(3):
      if t - 2 + i >= 0:
        expected[:, t] += w[i] * projected[:, t - 2 + i]
  _, cache = attention.prefill(x, 8)
  _, k, _ = (np.asarray(a).reshape(2, 7, -1) for a in attention._split(jnp.asarray(expected)))
  cached_k = np.asarray(cache["k"][:, :, :7]).transpose(0, 2, 1, 3).reshape(2, 7, -1)
  np.testing.assert_allclose(cached_k, k, atol=1e-5)
  np.testing.assert_allclose(cache["conv"], projected[:, -2:], atol=1e-6)


def test_layer_kinds_and_validation():
  assert layer_kinds(small_model(("softmax", "linear"))) == ("softmax", "linear")
  assert layer_kinds(small_model("transnormer", num_layers=4)) == ("diag", "diag", "norm", "norm")
  assert layer_kinds(small_model("performer")) == ("performer", "performer")
  tokens = jnp.zeros((1, 4), jnp.int32)
  init = lambda model, tokens: jax.eval_shape(model.init, jax.random.key(0), tokens)
  with pytest.raises(ValueError, match="attention kinds"):
    init(small_model("cosine"), tokens)
  with pytest.raises(ValueError, match="num_layers"):
    init(small_model(("softmax",), num_layers=2), tokens)
  with pytest.raises(ValueError, match="max_len"):
    init(small_model(), jnp.zeros((1, 25), jnp.int32))
  with pytest.raises(ValueError, match="conv_size"):
    init(small_model(conv_size=-1), tokens)


def test_init_lm_matches_flax_init_structure():
  for attention, variant, conv in [("performer", "t2", 0), ("transnormer", "t2", 2),
                                   ("norm", "t1", 0)]:
    model = small_model(attention, variant=variant, num_layers=3, conv_size=conv)
    flax_shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 4), jnp.int32))
    fast_shapes = jax.eval_shape(functools.partial(init_lm, model), jax.random.key(0))
    assert jax.tree.structure(flax_shapes) == jax.tree.structure(fast_shapes)
    assert jax.tree.leaves(jax.tree.map(lambda a, b: a.shape == b.shape, flax_shapes,
                                        fast_shapes))


def test_performer_projection_is_a_fixed_non_trainable_variable():
  model = small_model("performer")
  variables = init_lm(model, jax.random.key(0))
  projection = variables["performer"]["block_0"]["attention"]["projection"]
  assert projection.shape == (8, 8)  # [num_features, head_dim]
  assert not jnp.allclose(projection, variables["performer"]["block_1"]["attention"]["projection"])
  assert "projection" not in variables["params"]["block_0"]["attention"]


def _init_and_apply(model, key, tokens):
  """Initialises (one draw) and applies the model to a stack of token arrays `[N, B, T]`."""
  variables = init_lm(model, key)
  return variables, _apply_stack(model, variables, tokens)


@functools.partial(jax.jit, static_argnums=0)
def _apply_stack(model, variables, tokens):
  return jax.vmap(lambda t: model.apply(variables, t))(tokens)


@pytest.mark.parametrize("attention,variant,conv_size", CASES)
def test_causal_future_tokens_never_change_earlier_logits(attention, variant, conv_size):
  model = small_model(attention, variant=variant, conv_size=conv_size)
  tokens = jax.random.randint(jax.random.key(1), (2, 13), 0, 11)
  positions = (3, 6, 12)  # inside a chunk/block, at a boundary, the last one
  variants = [tokens] + [tokens.at[:, p:].set((tokens[:, p:] + 5) % 11) for p in positions]
  _, all_logits = _init_and_apply(model, jax.random.key(0), jnp.stack(variants))
  base = all_logits[0]
  for position, logits in zip(positions, all_logits[1:], strict=True):
    atol = PERFORMER_ATOL if attention == "performer" else 1e-6
    np.testing.assert_allclose(logits[:, :position], base[:, :position], atol=atol, rtol=0)
    assert not np.allclose(logits[:, position], base[:, position], atol=1e-4)
