"""Random numbers for compiled training steps: one threefry draw per update, handed out.

Each random-number-generation site in a compiled step is its own kernel for XLA to compile; a
threefry site costs ~0.7 s of compile time on a 2-core CPU, ~2.5 s when vmapped over
per-environment keys. A training update therefore draws all its random bits with ONE threefry
call (`draw_bits`) and hands them out: uniforms for actions and minibatch shuffles
(`uniform_from_bits`, then the samplers below, which take `u ~ U[0, 1)` instead of a key), the
next update's key, and the keys of the environments' own draws, which use `ENV_RNG`, a light
counter-based generator keyed by those bits (`env_keys`).

PureJaxRL splits a key per use instead; the results are equally random, the compile times are
not (see benchmarks/bench_ppo.py).
"""

from __future__ import annotations

import math

import chex
import jax
import jax.extend
import jax.numpy as jnp
import numpy as np

# The training stream is threefry, drawn ONCE per update (`draw_bits`); the state stores its key
# as raw uint32 data `[2]`, so checkpoints hold plain arrays. Environment keys (one per
# environment and step, for `step_env` and the resets) use `ENV_RNG`, a light counter-based
# generator keyed by threefry bits: threefry vmapped over per-environment keys lowers on XLA:CPU
# to a rolled `while` loop that costs ~2.5 s of compile time per call site, this one to a few
# fused integer ops. (JAX's built-in Philox is as cheap but its `mulhi` fails to lower when the
# seeds are sharded over several devices.)
RNG_WORDS = 2
_GOLDEN = np.uint32(0x9E3779B9)


def _fmix32(h):
  """MurmurHash3's 32-bit finaliser (a bijection with full avalanche)."""
  h = h ^ (h >> 16)
  h = h * np.uint32(0x85EBCA6B)
  h = h ^ (h >> 13)
  h = h * np.uint32(0xC2B2AE35)
  return h ^ (h >> 16)


def _hash_words(key, n: int, stream: int = 0):
  """`n` uint32 words of the stream `stream` of `key` (`[2]`): two keyed rounds of fmix32."""
  i = jnp.arange(n, dtype=jnp.uint32) + np.uint32(stream) * np.uint32(0x632BE5AB)
  x = _fmix32(i * _GOLDEN + key[0])
  return _fmix32(x ^ key[1] ^ np.uint32(0x5BD1E995))


def _env_rng_bits(key, bit_width, shape):
  n = math.prod(shape)
  words = _hash_words(key, n * max(1, bit_width // 32))
  if bit_width == 64:
    words = words.reshape(n, 2).astype(jnp.uint64)
    return ((words[:, 0] << 32) | words[:, 1]).reshape(shape)
  dtype = {8: jnp.uint8, 16: jnp.uint16, 32: jnp.uint32}[bit_width]
  return words.astype(dtype).reshape(shape)


def _env_rng_split(key, shape):
  return _hash_words(key, math.prod(shape) * RNG_WORDS, stream=1).reshape((*shape, RNG_WORDS))


def _env_rng_fold_in(key, data):
  d = _fmix32(jnp.asarray(data, jnp.uint32) + _GOLDEN)
  return jnp.stack([_fmix32(key[0] ^ d), _fmix32(key[1] + d * np.uint32(0x27D4EB2F))])


def _env_rng_seed(seed):
  s = jnp.asarray(seed).astype(jnp.uint32)
  return jnp.stack([_fmix32(s), _fmix32(s ^ np.uint32(0xA5A5A5A5))])


ENV_RNG = jax.extend.random.define_prng_impl(
    key_shape=(RNG_WORDS,), seed=_env_rng_seed, split=_env_rng_split,
    random_bits=_env_rng_bits, fold_in=_env_rng_fold_in, name="fmix32x2", tag="fm")


def rng_from_key(key) -> jax.Array:
  """Raw threefry key data (uint32 `[2]`) of the runtime's per-member key."""
  return jax.random.key_data(key).reshape(RNG_WORDS).astype(jnp.uint32)


def as_key(data):
  """Typed threefry keys from raw data `[..., 2]`."""
  return jax.random.wrap_key_data(jnp.asarray(data, jnp.uint32), impl="threefry2x32")


def env_keys(data):
  """Typed `ENV_RNG` keys from raw bits `[..., 2]`, for `step_env` and `reset_env`."""
  return jax.random.wrap_key_data(jnp.asarray(data, jnp.uint32), impl=ENV_RNG)


def draw_bits(rng, sizes: dict[str, tuple[int, ...]]):
  """One random draw split into named uint32 arrays, plus the next key data.

  Args:
    rng: raw key data `[2]` (see `as_key`).
    sizes: name -> shape of the uint32 array wanted. A shape ending in `RNG_WORDS` can be turned
      into keys with `as_key`.

  Returns:
    `(next_rng, {name: bits})`.
  """
  counts = {k: math.prod(s) for k, s in sizes.items()}
  bits = jax.random.bits(as_key(rng), (RNG_WORDS + sum(counts.values()),), jnp.uint32)
  out, offset = {}, RNG_WORDS
  for name, shape in sizes.items():
    out[name] = bits[offset:offset + counts[name]].reshape(shape)
    offset += counts[name]
  return bits[:RNG_WORDS], out


def permutation_from_bits(bits) -> jax.Array:
  """A uniformly random permutation of `n = len(bits)` from `n` random uint32 words.

  Sorts the words with each one's index packed into its low `⌈log₂ n⌉` bits (so the keys are
  distinct) and reads the indices back: one sort of a plain uint32 array, about 5× faster on
  XLA:CPU than `argsort` (a sort with a payload and a comparator call per comparison). Ties in
  the remaining high bits are broken by index; with `n = 512` some pair ties with probability
  ≈ n² / 2^24 ≈ 1.6% per permutation, which does not matter for shuffling minibatches.
  """
  n = bits.shape[-1]
  shift = max(1, int(n - 1).bit_length())
  if shift > 24:
    raise ValueError(f"permutation_from_bits: bits must have at most 2^24 entries, got {n}")
  mask = np.uint32((1 << shift) - 1)
  keys = (bits & ~mask) | jnp.arange(n, dtype=jnp.uint32)
  return (jnp.sort(keys, axis=-1) & mask).astype(jnp.int32)


def uniform_from_bits(bits) -> jax.Array:
  """Uniform float32 numbers in `[0, 1)` from uint32 random bits (as `jax.random.uniform`).

  u = float32 with exponent 0 and the 23 high bits as mantissa, minus 1
  """
  bits = jnp.asarray(bits, jnp.uint32)
  one = jnp.asarray(0x3F800000, jnp.uint32)
  return jax.lax.bitcast_convert_type((bits >> 9) | one, jnp.float32) - 1.0


def categorical_from_uniform(u, logits) -> jax.Array:
  """Samples from `softmax(logits)` by inverse CDF with one uniform `u ∈ [0, 1)`.

      a = #{i < A − 1 : cdf_i ≤ u},   cdf_i = Σ_{j≤i} π_j

  Args:
    u: `[...]` uniforms.
    logits: `[..., A]` logits.

  Returns:
    `[...]` int32 actions.
  """
  chex.assert_equal_shape_prefix([u, logits], jnp.ndim(u))
  probs = jax.nn.softmax(logits, axis=-1)
  cdf = jnp.cumsum(probs, axis=-1)[..., :-1]
  return jnp.sum(cdf <= u[..., None], axis=-1).astype(jnp.int32)


def epsilon_greedy_from_uniform(u, q, epsilon) -> jax.Array:
  """An ε-greedy action from one uniform `u ∈ [0, 1)`: random if `u < ε`, else greedy.

      a = ⌊(u / ε) · A⌋ if u < ε, else argmax_a q[a] (ties to the lowest index)

  Given `u < ε`, `u / ε` is uniform on `[0, 1)`, so the random branch is uniform over actions.
  Greedy ties go to the lowest index: for network outputs (DQN) ties have probability zero, and
  one uniform per action keeps the draw at one threefry site. For tables that start at equal
  values use `research.rl.epsilon_greedy`, which shares the greedy mass among tied actions.

  Args:
    u: `[...]` uniforms.
    q: `[..., A]` action values.
    epsilon: the exploration rate, scalar (may be traced).

  Returns:
    `[...]` int32 actions.
  """
  chex.assert_equal_shape_prefix([u, q], jnp.ndim(u))
  num_actions = q.shape[-1]
  explore = u < epsilon
  random_action = jnp.floor(u / jnp.maximum(epsilon, 1e-12) * num_actions).astype(jnp.int32)
  random_action = jnp.clip(random_action, 0, num_actions - 1)
  return jnp.where(explore, random_action, jnp.argmax(q, axis=-1).astype(jnp.int32))
