"""NumPy float64 references for the attention tests (naive, quadratic, masked formulas)."""
import numpy as np


def f64(x):
  return np.asarray(x, dtype=np.float64)


def elu_plus_one(x):
  x = f64(x)
  return np.where(x > 0, x + 1.0, np.exp(np.minimum(x, 0.0)))


def elu(x):
  return elu_plus_one(x) - 1.0


def causal_mask(t, s=None):
  return np.tril(np.ones((t, t if s is None else s), dtype=bool))


def block_mask(t, block_size, causal):
  blocks = np.arange(t) // block_size
  mask = blocks[:, None] == blocks[None, :]
  return mask & causal_mask(t) if causal else mask


def softmax_attention(q, k, v, mask=None):
  """`softmax(q kᵀ/√D) v` per head; `mask [T, S]` (True = keep)."""
  q, k, v = f64(q), f64(k), f64(v)
  logits = np.einsum("...thd,...shd->...hts", q, k) / np.sqrt(q.shape[-1])
  if mask is not None:
    logits = np.where(mask, logits, -np.inf)
  logits = logits - logits.max(axis=-1, keepdims=True)
  weights = np.exp(logits)
  weights /= weights.sum(axis=-1, keepdims=True)
  return np.einsum("...hts,...shd->...thd", weights, v)


def kernel_attention(phi_q, phi_k, v, *, causal, eps=1e-6, normalize=True):
  """`Σ_j (φ_iᵀφ_j) v_j / (Σ_j φ_iᵀφ_j + eps)` with the masked T×S score matrix."""
  phi_q, phi_k, v = f64(phi_q), f64(phi_k), f64(v)
  scores = np.einsum("...thf,...shf->...hts", phi_q, phi_k)
  if causal:
    scores = scores * causal_mask(phi_q.shape[-3], phi_k.shape[-3])
  num = np.einsum("...hts,...shd->...thd", scores, v)
  if not normalize:
    return num
  den = np.swapaxes(scores.sum(-1), -1, -2)[..., None]
  return num / (den + eps)


def rms_norm(x, eps=1e-6):
  x = f64(x)
  return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)


def layer_norm(x, eps=1e-6):
  x = f64(x)
  c = x - x.mean(-1, keepdims=True)
  return c / np.sqrt(np.mean(c * c, axis=-1, keepdims=True) + eps)


def simple_rms_norm_heads(x, eps=1e-6):
  """SimpleRMSNorm over all heads concatenated: `x / (‖x‖₂ (H·Dv)^{-1/2} + eps)`."""
  x = f64(x)
  flat = x.reshape(x.shape[:-2] + (-1,))
  norm = np.linalg.norm(flat, axis=-1, keepdims=True) / np.sqrt(flat.shape[-1])
  return (flat / (norm + eps)).reshape(x.shape)


def assert_close(actual, expected, rtol=1e-4, atol=1e-5):
  np.testing.assert_allclose(f64(actual), f64(expected), rtol=rtol, atol=atol)


def qkv(seed, shape, dv=None, s=None):
  """Random float32 `q [..., T, H, D]`, `k [..., S, H, D]`, `v [..., S, H, Dv]` (NumPy RNG, so
  that tests do not compile random-number programs)."""
  rng = np.random.default_rng(seed)
  *batch, t, h, d = shape
  s = t if s is None else s
  dv = d if dv is None else dv
  draw = lambda *shape: rng.standard_normal(shape).astype(np.float32)
  return draw(*batch, t, h, d), draw(*batch, s, h, d), draw(*batch, s, h, dv)
