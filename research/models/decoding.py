"""Incremental decoding and sampling for `research.models.transformer.TransformerLM`.

Sampling a sequence of `N` tokens costs one full pass over the prompt (`prefill`) and `N` one-token
steps (`decode_step`, a `lax.scan`): O(length) steps, each O(1) for linear/performer/norm layers
(the recurrent state `S = Σ φ(k) vᵀ`, `z = Σ φ(k)`), O(block) for diag layers and O(position) for
softmax layers (the KV cache). Greedy, temperature and top-k sampling; every sampled token comes
with its log-probability under the model (temperature 1), the policy's `log π(y_t | y_<t)`.

All functions are pure (the model is a static argument, `variables` the dict of `model.init`) and
run under `jit` and `vmap` (e.g. over a leading seed axis of `variables` and `key`); shapes are
fixed: a prompt has one length `P` per call, and `max_new_tokens` is static.

Example:
  >>> model = TransformerLM(vocab_size=16, num_layers=2, width=32, attention="linear")
  >>> variables = model.init(jax.random.key(0), jnp.zeros((1, 4), jnp.int32))
  >>> out = jax.jit(functools.partial(generate, model, max_new_tokens=8))(
  ...     variables, jax.random.key(1), jnp.zeros((3, 4), jnp.int32))
  >>> out.tokens.shape, out.logprobs.shape
  ((3, 8), (3, 8))
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from research.models.transformer import TransformerLM, empty_caches


class Cache(NamedTuple):
  """Decoding state: the next position and one cache per layer (see `transformer.empty_caches`)."""
  position: jax.Array   # int32 scalar: the position the next token will take
  layers: tuple         # per layer: {"k", "v"} (softmax, diag) or {"s"[, "z"][, "c"]}, + "conv"


class Generation(NamedTuple):
  """Sampled continuations.

  Attributes:
    tokens: `int32 [B, N]`, the sampled tokens; after the first `eos_id` every token is `eos_id`.
    logprobs: `float32 [B, N]`, `log softmax(logits)[token]` (temperature 1, no top-k: the
      model's own probability), 0 where `mask` is False.
    mask: `bool [B, N]`, True for generated tokens up to and including the first `eos_id`.
    lengths: `int32 [B]`, `mask.sum(-1)`.
  """
  tokens: jax.Array
  logprobs: jax.Array
  mask: jax.Array
  lengths: jax.Array


def init_cache(model: TransformerLM, variables, batch_size: int, max_len: int) -> Cache:
  """The empty cache for `batch_size` rows and sequences of up to `max_len` positions.

  `variables` is accepted for symmetry (no parameter is read: the shapes follow the model).
  """
  del variables
  layers = empty_caches(model, batch_size, max_len)
  return Cache(jnp.zeros((), jnp.int32), layers)


def decode_step(model: TransformerLM, variables, tokens: jax.Array,
                cache: Cache) -> tuple[jax.Array, Cache]:
  """Feeds one token per row at `cache.position`: returns the next-token logits `[B, V]`.

  Args:
    model: the language model.
    variables: its variables (`model.init`'s dict).
    tokens: `int [B]`, the token at position `cache.position`.
    cache: the state after positions `0..cache.position-1`.

  Returns:
    `(logits [B, V] float32, cache)`: the logits of the token at `cache.position + 1`.
  """
  logits, layers = model.apply(variables, jnp.asarray(tokens, jnp.int32), cache.layers,
                               cache.position, method=TransformerLM.decode)
  return logits, Cache(cache.position + 1, layers)


def prefill(model: TransformerLM, variables, prompt: jax.Array,
            max_len: int) -> tuple[jax.Array, Cache]:
  """Runs the full causal pass over `prompt [B, P]` (P >= 1) and builds the cache.

  Args:
    model: the language model.
    variables: its variables.
    prompt: `int [B, P]`.
    max_len: cache length (the longest sequence to be decoded, prompt included; softmax layers
      keep `max_len` key/value slots).

  Returns:
    `(logits [B, V], cache)`: the logits after the last prompt token, and the cache at position P.
  """
  prompt = jnp.asarray(prompt, jnp.int32)
  if prompt.ndim != 2 or prompt.shape[1] < 1:
    raise ValueError(f"prompt must be [B, P] with P >= 1, got shape {prompt.shape}.")
  if max_len > model.max_len:
    raise ValueError(f"max_len = {max_len} exceeds the model's max_len = {model.max_len}.")
  logits, layers = model.apply(variables, prompt, max_len, method=TransformerLM.prefill)
  return logits[:, -1], Cache(jnp.asarray(prompt.shape[1], jnp.int32), layers)


def _sample(gumbel, logits, *, temperature, top_k, greedy):
  """One token per row from `logits [B, V]` by the Gumbel-max trick, given `gumbel [B, V]`.

  `argmax(logits / T + g)` with `g ~ Gumbel(0, 1)` is a draw from `softmax(logits / T)`; over the
  top k (exactly k tokens, from `lax.top_k`) it is a draw from the renormalised top-k softmax.
  """
  if greedy:
    return jnp.argmax(logits, axis=-1).astype(jnp.int32)
  scaled = logits / temperature
  if top_k is None:
    return jnp.argmax(scaled + gumbel, axis=-1).astype(jnp.int32)
  values, indices = lax.top_k(scaled, top_k)
  choice = jnp.argmax(values + gumbel[:, :top_k], axis=-1)
  return jnp.take_along_axis(indices, choice[:, None], axis=-1)[:, 0].astype(jnp.int32)


def generate(model: TransformerLM, variables, key: jax.Array, prompt: jax.Array, *,
             max_new_tokens: int, temperature: Any = 1.0, top_k: int | None = None,
             greedy: bool = False, eos_id: int | None = None) -> Generation:
  r"""Samples `max_new_tokens` tokens after `prompt` with the cache (one `lax.scan`).

  .. math::
    y_t \sim \mathrm{softmax}(\ell_t / \tau) \text{ restricted to the top } k, \qquad
    \texttt{logprobs}_t = \log \mathrm{softmax}(\ell_t)[y_t],

  with `ℓ_t` the logits given the prompt and `y_<t`; greedy takes `argmax ℓ_t`.

  Args:
    model: the language model (static).
    variables: its variables.
    key: a PRNG key (one Gumbel draw `[N, B, V]` for all steps: the Gumbel-max trick).
    prompt: `int [B, P]`, P >= 1 (`P + max_new_tokens <= model.max_len`).
    max_new_tokens: `N`, static.
    temperature: `τ > 0` (may be a traced scalar).
    top_k: sample among the `k` most likely tokens only (static), or None for all.
    greedy: take the argmax (ignores `temperature` and `top_k`).
    eos_id: if set, a row stops at its first `eos_id`: later tokens are `eos_id`, masked out.

  Returns:
    A `Generation` with `tokens, logprobs, mask [B, N]` and `lengths [B]`.
  """
  prompt = jnp.asarray(prompt, jnp.int32)
  if max_new_tokens < 1:
    raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}.")
  if top_k is not None and not 1 <= top_k <= model.vocab_size:
    raise ValueError(f"top_k must be in [1, vocab_size], got {top_k}.")
  total = prompt.shape[1] + max_new_tokens
  logits, cache = prefill(model, variables, prompt, total)
  batch = prompt.shape[0]

  def body(carry, gumbel):
    logits, cache, done = carry
    token = _sample(gumbel, logits, temperature=temperature, top_k=top_k, greedy=greedy)
    logp = jnp.take_along_axis(jax.nn.log_softmax(logits, axis=-1), token[:, None], axis=-1)[:, 0]
    valid = ~done
    if eos_id is not None:
      token = jnp.where(done, eos_id, token)
      done = done | (token == eos_id)
    logp = jnp.where(valid, logp, 0.0)
    logits, cache = decode_step(model, variables, token, cache)
    return (logits, cache, done), (token, logp, valid)

  # The last step's decode is not needed but keeps the loop uniform (1/N of the work).
  # All the sampling noise in one draw (one random program to compile, not one per step).
  shape = (max_new_tokens, batch, model.vocab_size)
  # Drawn flat: XLA:CPU compiles rank-3 random draws very slowly.
  gumbel = (jnp.zeros(shape) if greedy
            else jax.random.gumbel(key, (math.prod(shape),)).reshape(shape))
  carry = (logits, cache, jnp.zeros((batch,), bool))
  _, (tokens, logprobs, mask) = lax.scan(body, carry, gumbel)
  tokens, logprobs, mask = (jnp.swapaxes(x, 0, 1) for x in (tokens, logprobs, mask))
  return Generation(tokens, logprobs, mask, mask.sum(-1).astype(jnp.int32))


def sequence_logprobs(model: TransformerLM, variables, tokens: jax.Array) -> jax.Array:
  """`log p(tokens[:, t+1] | tokens[:, :t+1])` for every `t`, by one full causal pass.

  Args:
    model: the language model.
    variables: its variables.
    tokens: `int [B, T]`, T >= 2.

  Returns:
    `float32 [B, T-1]`.
  """
  tokens = jnp.asarray(tokens, jnp.int32)
  logits = model.apply(variables, tokens[:, :-1])
  logp = jax.nn.log_softmax(logits, axis=-1)
  return jnp.take_along_axis(logp, tokens[:, 1:, None], axis=-1)[..., 0]
