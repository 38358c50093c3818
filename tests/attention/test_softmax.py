"""softmax_attention: equal to jax.nn.dot_product_attention and to a NumPy float64 reference."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research import attention
from tests.attention import _reference as ref


@pytest.mark.parametrize("causal", [False, True])
def test_equals_jax_nn_dot_product_attention(causal):
  q, k, v = ref.qkv(0, (2, 13, 3, 8))
  expected = jax.nn.dot_product_attention(q, k, v, is_causal=causal)
  ref.assert_close(attention.softmax_attention(q, k, v, causal=causal), expected,
                   rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("causal", [False, True])
def test_equals_numpy_reference(causal):
  q, k, v = ref.qkv(1, (2, 3, 11, 2, 5), dv=7)  # two leading batch dimensions, Dv != D
  mask = ref.causal_mask(11) if causal else None
  out = attention.softmax_attention(q, k, v, causal=causal)
  assert out.shape == (2, 3, 11, 2, 7)
  ref.assert_close(out, ref.softmax_attention(q, k, v, mask))


def test_cross_attention_different_lengths():
  q, k, v = ref.qkv(2, (9, 2, 4), s=5)
  ref.assert_close(attention.softmax_attention(q, k, v), ref.softmax_attention(q, k, v))


def test_jit_and_vmap():
  q, k, v = ref.qkv(3, (4, 10, 2, 4))
  f = jax.jit(lambda q, k, v: attention.softmax_attention(q, k, v, causal=True))
  batched = jax.vmap(f)(q, k, v)
  ref.assert_close(batched, ref.softmax_attention(q, k, v, ref.causal_mask(10)))


def test_bf16_inputs_give_bf16_output():
  q, k, v = ref.qkv(4, (1, 16, 2, 8))
  out = attention.softmax_attention(*(x.astype(jnp.bfloat16) for x in (q, k, v)), causal=True)
  assert out.dtype == jnp.bfloat16
  np.testing.assert_allclose(np.asarray(out, np.float32),
                             ref.softmax_attention(q, k, v, ref.causal_mask(16)), atol=5e-2)
