"""linear_attention / kernelized_attention: naive float64 formulas, chunk-size independence,
gradients, jit/vmap, batch dimensions, dtypes and linear memory."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from research import attention
from tests.attention import _reference as ref


def _reference(q, k, v, causal, eps=1e-6):
  return ref.kernel_attention(ref.elu_plus_one(q), ref.elu_plus_one(k), v, causal=causal, eps=eps)


def test_elu_plus_one():
  x = jnp.array([-3.0, -0.5, 0.0, 0.5, 2.0])
  ref.assert_close(attention.elu_plus_one(x), ref.elu_plus_one(x), rtol=1e-6)
  assert float(jnp.min(attention.elu_plus_one(jnp.linspace(-30, 30, 101)))) > 0


@pytest.mark.parametrize("causal", [False, True])
def test_equals_naive_formula(causal):
  q, k, v = ref.qkv(0, (2, 37, 3, 8), dv=5)
  out = attention.linear_attention(q, k, v, causal=causal, chunk_size=8)
  assert out.shape == (2, 37, 3, 5)
  ref.assert_close(out, _reference(q, k, v, causal))


def test_non_causal_cross_attention():
  q, k, v = ref.qkv(1, (7, 2, 4), s=12)
  ref.assert_close(attention.linear_attention(q, k, v), _reference(q, k, v, False))


@pytest.mark.parametrize("chunk_size", [1, 3, 7, 16, 50, 64, 200])
def test_causal_result_does_not_depend_on_chunk_size(chunk_size):
  q, k, v = ref.qkv(2, (1, 50, 2, 4))  # 50 is not a multiple of 3, 7, 16 or 64.
  out = attention.linear_attention(q, k, v, causal=True, chunk_size=chunk_size)
  ref.assert_close(out, _reference(q, k, v, True))


@settings(max_examples=6, deadline=None)
@given(t=st.integers(1, 40), chunk_size=st.integers(1, 16), causal=st.booleans(),
       seed=st.integers(0, 2**16))
def test_matches_reference_for_random_lengths_and_chunks(t, chunk_size, causal, seed):
  q, k, v = ref.qkv(seed, (t, 2, 3))
  out = attention.linear_attention(q, k, v, causal=causal, chunk_size=chunk_size)
  ref.assert_close(out, _reference(q, k, v, causal))


def _naive_jnp(q, k, v, causal, eps=1e-6):
  phi_q, phi_k = attention.elu_plus_one(q), attention.elu_plus_one(k)
  scores = jnp.einsum("...thf,...shf->...hts", phi_q, phi_k)
  if causal:
    scores = scores * jnp.tril(jnp.ones((q.shape[-3], k.shape[-3])))
  num = jnp.einsum("...hts,...shd->...thd", scores, v)
  den = jnp.swapaxes(scores.sum(-1), -1, -2)[..., None]
  return num / (den + eps)


@pytest.mark.parametrize("causal", [False, True])
def test_gradients_match_naive_implementation(causal):
  q, k, v = ref.qkv(3, (2, 21, 2, 4))
  w = np.random.default_rng(9).standard_normal((2, 21, 2, 4)).astype(np.float32)
  loss = lambda f: lambda q, k, v: jnp.sum(w * jnp.tanh(f(q, k, v)))
  fast = loss(lambda q, k, v: attention.linear_attention(q, k, v, causal=causal, chunk_size=4))
  naive = loss(lambda q, k, v: _naive_jnp(q, k, v, causal))
  grads = jax.jit(jax.grad(fast, argnums=(0, 1, 2)))(q, k, v)
  expected = jax.jit(jax.grad(naive, argnums=(0, 1, 2)))(q, k, v)
  for g, e in zip(grads, expected, strict=True):
    ref.assert_close(g, e, rtol=1e-4, atol=1e-5)


def test_jit_vmap_and_leading_batch_dimensions():
  q, k, v = ref.qkv(4, (3, 2, 19, 2, 4))
  f = jax.jit(lambda q, k, v: attention.linear_attention(q, k, v, causal=True, chunk_size=5))
  expected = _reference(q, k, v, True)
  ref.assert_close(f(q, k, v), expected)  # two leading batch dimensions
  ref.assert_close(jax.vmap(f)(q, k, v), expected)  # vmap over the first
  ref.assert_close(f(q[0, 0], k[0, 0], v[0, 0]), expected[0, 0])  # rank 3, no batch


def test_custom_feature_map_and_eps():
  q, k, v = ref.qkv(5, (1, 12, 1, 3))
  out = attention.linear_attention(q, k, v, causal=True, feature_map=jnp.exp, chunk_size=5,
                                   eps=0.1)
  expected = ref.kernel_attention(np.exp(ref.f64(q)), np.exp(ref.f64(k)), v, causal=True,
                                  eps=0.1)
  ref.assert_close(out, expected)


@pytest.mark.parametrize("causal", [False, True])
def test_kernelized_attention_without_normalisation(causal):
  phi_q, phi_k, v = ref.qkv(6, (2, 15, 2, 6), dv=3)
  out = attention.kernelized_attention(phi_q, phi_k, v, causal=causal, chunk_size=4,
                                       normalize=False)
  ref.assert_close(out, ref.kernel_attention(phi_q, phi_k, v, causal=causal, normalize=False),
                   atol=1e-4)


def test_bf16_inputs_accumulate_in_float32():
  q, k, v = ref.qkv(7, (1, 300, 2, 8))
  low = [x.astype(jnp.bfloat16) for x in (q, k, v)]
  out = attention.linear_attention(*low, causal=True)
  assert out.dtype == jnp.bfloat16
  expected = _reference(*low, True)  # the same bf16 inputs, in float64
  np.testing.assert_allclose(np.asarray(out, np.float32), expected, atol=2e-2, rtol=2e-2)


def test_causal_memory_is_linear_in_length():
  def temp_bytes(t):
    q = jnp.zeros((1, t, 2, 16))
    loss = lambda q, k, v: jnp.sum(attention.linear_attention(q, k, v, causal=True))
    compiled = jax.jit(jax.grad(loss, argnums=(0, 1, 2))).lower(q, q, q).compile()
    analysis = compiled.memory_analysis()
    if analysis is None:
      pytest.skip("memory_analysis is not available on this backend")
    return analysis.temp_size_in_bytes

  small, large = temp_bytes(512), temp_bytes(2048)
  assert large < 6 * small  # 4x the length: linear gives ~4x, quadratic 16x
  assert large < 2048 * 2048 * 4  # far below one T x T float32 matrix
