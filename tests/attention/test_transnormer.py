"""TransNormer: NormAttention and DiagAttention against NumPy float64 formulas."""
import jax
import numpy as np
import pytest

from research import attention
from tests.attention import _reference as ref

_NORMS = {"rms": ref.rms_norm, "layer": ref.layer_norm, "simple_rms": ref.simple_rms_norm_heads}


@pytest.mark.parametrize("norm", ["rms", "simple_rms", "layer"])
@pytest.mark.parametrize("causal", [False, True])
def test_norm_attention_equals_formula(norm, causal):
  q, k, v = ref.qkv(0, (2, 13, 3, 4), dv=5)
  out = attention.norm_attention(q, k, v, causal=causal, norm=norm, chunk_size=4)
  assert out.shape == (2, 13, 3, 5)
  unnormalised = ref.kernel_attention(ref.elu_plus_one(q), ref.elu_plus_one(k), v,
                                      causal=causal, normalize=False)
  ref.assert_close(out, _NORMS[norm](unnormalised), rtol=2e-4, atol=2e-4)


def test_norm_attention_t1_feature_map_and_chunk_independence():
  q, k, v = ref.qkv(1, (1, 21, 2, 4))
  expected = ref.simple_rms_norm_heads(
    ref.kernel_attention(ref.elu(q), ref.elu(k), v, causal=True, normalize=False))
  for chunk_size in (1, 5, 64):
    out = attention.norm_attention(q, k, v, causal=True, feature_map=jax.nn.elu,
                                   norm="simple_rms", chunk_size=chunk_size)
    ref.assert_close(out, expected, rtol=2e-4, atol=2e-4)


def test_simple_rms_norm_acts_over_all_heads_together():
  x = np.random.default_rng(2).standard_normal((3, 2, 4)).astype(np.float32)
  x[:, 1] *= 10.0  # a per-head norm would equalise the heads; this one keeps their ratio
  ref.assert_close(attention.simple_rms_norm(x.reshape(3, 8)).reshape(3, 2, 4),
                   ref.simple_rms_norm_heads(x))
  ref.assert_close(attention.rms_norm(x), ref.rms_norm(x))
  ref.assert_close(attention.layer_norm(x), ref.layer_norm(x), atol=1e-4)


@pytest.mark.parametrize("block_size", [1, 4, 5, 16, 40])
@pytest.mark.parametrize("causal", [False, True])
def test_diag_attention_is_block_diagonal_softmax(block_size, causal):
  q, k, v = ref.qkv(3, (2, 18, 2, 4), dv=3)  # 18 is not a multiple of 4, 5 or 16
  out = attention.diag_attention(q, k, v, block_size=block_size, causal=causal)
  assert out.shape == (2, 18, 2, 3)
  mask = ref.block_mask(18, block_size, causal)
  ref.assert_close(out, ref.softmax_attention(q, k, v, mask))


def test_diag_attention_with_one_block_is_softmax_attention():
  q, k, v = ref.qkv(4, (1, 12, 2, 4))
  for causal in (False, True):
    ref.assert_close(attention.diag_attention(q, k, v, block_size=12, causal=causal),
                     attention.softmax_attention(q, k, v, causal=causal), rtol=1e-5)


@pytest.mark.parametrize("causal", [False, True])
def test_diag_attention_relu_scores(causal):
  q, k, v = ref.qkv(5, (2, 11, 3, 4), dv=2)
  out = attention.diag_attention(q, k, v, block_size=4, causal=causal, scores="relu")
  mask = ref.block_mask(11, 4, causal)
  scores = np.einsum("bthd,bshd->bhts", ref.f64(q), ref.f64(k)) / 2.0  # √D = 2
  scores = np.maximum(scores, 0.0) * mask
  expected = ref.simple_rms_norm_heads(np.einsum("bhts,bshd->bthd", scores, ref.f64(v)))
  ref.assert_close(out, expected, rtol=2e-4, atol=2e-4)


def test_diag_attention_jit_vmap():
  q, k, v = ref.qkv(6, (3, 10, 2, 4))
  f = jax.jit(jax.vmap(lambda q, k, v: attention.diag_attention(q, k, v, block_size=3,
                                                                causal=True)))
  ref.assert_close(f(q, k, v), ref.softmax_attention(q, k, v, ref.block_mask(10, 3, True)))


def test_relu_scores_all_zero_give_zero_output_and_finite_gradients():
  q, k, v = ref.qkv(7, (1, 4, 2, 4))
  k = -np.sign(q) * np.abs(k)  # q_i . k_i < 0: every causal block-of-1 score is cut by ReLU
  f = lambda q: attention.diag_attention(q, k, v, block_size=1, causal=True, scores="relu")
  np.testing.assert_array_equal(np.asarray(f(q)), 0.0)
  grad = jax.grad(lambda q: jax.numpy.sum(f(q)))(q)
  assert np.all(np.isfinite(np.asarray(grad)))
