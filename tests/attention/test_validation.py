"""Clear ValueErrors naming the offending argument."""
import jax
import numpy as np
import pytest

from research import attention

Q = np.zeros((2, 8, 2, 4), np.float32)
W = np.zeros((6, 4), np.float32)


@pytest.mark.parametrize("fn", [
  attention.softmax_attention,
  attention.linear_attention,
  attention.norm_attention,
  lambda q, k, v: attention.diag_attention(q, k, v, block_size=2),
  lambda q, k, v: attention.performer_attention(q, k, v, W),
])
def test_shape_errors(fn):
  with pytest.raises(ValueError, match="q must have rank >= 3"):
    fn(Q[0, :, 0], Q, Q)
  with pytest.raises(ValueError, match="v must have rank >= 3"):
    fn(Q, Q, Q[0, 0])
  with pytest.raises(ValueError, match="leading"):
    fn(Q, Q[:1], Q[:1])
  with pytest.raises(ValueError, match="k and v must have the same sequence length"):
    fn(Q, Q, Q[:, :5])
  with pytest.raises(ValueError, match="number of heads"):
    fn(Q, Q[:, :, :1], Q[:, :, :1])
  with pytest.raises(ValueError, match="q and k must have the same feature size"):
    fn(Q, Q[..., :3], Q)


@pytest.mark.parametrize("fn", [
  lambda q, k, v: attention.softmax_attention(q, k, v, causal=True),
  lambda q, k, v: attention.linear_attention(q, k, v, causal=True),
  lambda q, k, v: attention.diag_attention(q, k, v, block_size=2),
])
def test_causal_and_block_attention_need_equal_lengths(fn):
  with pytest.raises(ValueError, match="same sequence length"):
    fn(Q[:, :5], Q, Q)


def test_size_and_choice_errors():
  with pytest.raises(ValueError, match="chunk_size"):
    attention.linear_attention(Q, Q, Q, causal=True, chunk_size=0)
  with pytest.raises(ValueError, match="chunk_size"):
    attention.norm_attention(Q, Q, Q, chunk_size=-3)
  with pytest.raises(ValueError, match="chunk_size"):
    attention.performer_attention(Q, Q, Q, W, chunk_size=2.5)
  with pytest.raises(ValueError, match="block_size"):
    attention.diag_attention(Q, Q, Q, block_size=0)
  with pytest.raises(ValueError, match="num_features"):
    attention.gaussian_orthogonal_random_matrix(jax.random.key(0), 0, 4)
  with pytest.raises(ValueError, match="dim"):
    attention.gaussian_orthogonal_random_matrix(jax.random.key(0), 4, 0)
  with pytest.raises(ValueError, match="scaling"):
    attention.gaussian_orthogonal_random_matrix(jax.random.key(0), 4, 4, scaling="unit")
  with pytest.raises(ValueError, match="kind"):
    attention.favor_features(Q, W, kind="relu", is_query=True)
  with pytest.raises(ValueError, match="kind"):
    attention.performer_attention(Q, Q, Q, W, kind="cos")
  with pytest.raises(ValueError, match="norm"):
    attention.norm_attention(Q, Q, Q, norm="batch")
  with pytest.raises(ValueError, match="scores"):
    attention.diag_attention(Q, Q, Q, block_size=2, scores="sigmoid")
  with pytest.raises(ValueError, match="projection"):
    attention.performer_attention(Q, Q, Q, W[:, :3])
  with pytest.raises(ValueError, match="projection"):
    attention.favor_features(Q, W[0], is_query=True)
  with pytest.raises(ValueError, match="x must have rank >= 3"):
    attention.favor_features(Q[0, 0], W, is_query=True)
  with pytest.raises(ValueError, match="num_layers"):
    attention.transnormer_layer_kinds(0)


def test_layer_errors():
  x = np.zeros((1, 8, 6), np.float32)
  with pytest.raises(ValueError, match="kind"):
    attention.MultiHeadAttention(2, 4, kind="local").init(jax.random.key(0), x)
  with pytest.raises(ValueError, match="variant"):
    attention.TransNormerBlock(2, 4, variant="t3").init(jax.random.key(0), x)
  with pytest.raises(ValueError, match="attention"):
    attention.TransNormerBlock(2, 4, attention="softmax").init(jax.random.key(0), x)
