"""Multi-query associative recall (MQAR), generated on the fly from a key inside jit.

A sequence of `T` tokens starts with `n` key-value pairs, then holds `q` queries at random places
in the rest (token 0 elsewhere); each query is a key seen before:

    k_1 v_1 k_2 v_2 … k_n v_n   0 0 k_a 0 0 … k_b 0 0 …
                                     ^ query: predict v_a

With `answers_in_input=True` each query key is followed by its value, as in Zoology's generator
(`… k_a v_a …`). That format has a shortcut on small problems: a model that only knows which
values of the sequence have not been asked yet (they appear after earlier queries) can guess
among the remaining ones and scores `H_n / n` (75 % at 2 pairs, 52 % at 4, 34 % at 8) without
recall; the default leaves the answers out, so without recall the best guess scores `1/n`.

The model is trained as a language model (`targets[t] = inputs[t + 1]`), and the loss and the
accuracy count only the query positions (`mask`): predicting the value that followed the queried
key earlier in the sequence. Keys are distinct within a sequence and drawn from
`[1, V/2)`, values (repeats allowed) from `[V/2, V)`; token 0 is the filler. Queries ask distinct
keys (a random `q` of the `n`, in random order) and sit in distinct, random two-token slots
`2n + 2s, 2n + 2s + 1` of the tail, uniformly (Zoology draws the gaps from a power law).

`num_pairs` may be a traced integer per sequence (a batch that mixes pair counts, as Zoology's
training mixture does): shapes depend only on `seq_len` and `max_pairs`.

See 'Zoology: Measuring and Improving Recall in Efficient Language Models' by Arora, Eyuboglu,
Timalsina, Johnson, Poli, Zou, Rudra, Ré (https://arxiv.org/abs/2312.04927).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class MQARBatch(NamedTuple):
  """A batch of MQAR sequences: `inputs, targets: int32 [B, T]`, `mask: bool [B, T]`."""
  inputs: jax.Array
  targets: jax.Array
  mask: jax.Array


def check_mqar(*, vocab_size: int, seq_len: int, max_pairs: int, num_queries: int | None) -> int:
  """Validates static MQAR sizes; returns the number of queries `q` (default: `max_pairs`)."""
  num_queries = max_pairs if num_queries is None else num_queries
  if vocab_size < 4 or vocab_size % 2:
    raise ValueError(f"vocab_size must be an even number >= 4, got {vocab_size}.")
  if not 1 <= max_pairs <= vocab_size // 2 - 1:
    raise ValueError(f"num_pairs must be in [1, vocab_size/2 - 1 = {vocab_size // 2 - 1}] "
                     f"(distinct keys), got {max_pairs}.")
  if not 1 <= num_queries <= max_pairs:
    raise ValueError(f"num_queries must be in [1, num_pairs = {max_pairs}], got {num_queries}.")
  if seq_len < 2 * max_pairs + 2 * num_queries:
    raise ValueError(f"seq_len = {seq_len} is too short for {max_pairs} pairs and {num_queries} "
                     f"queries (needs >= {2 * max_pairs + 2 * num_queries}).")
  return num_queries


def mqar_batch(key: jax.Array, batch_size: int, *, vocab_size: int, seq_len: int,
               num_pairs, max_pairs: int | None = None, num_queries: int | None = None,
               answers_in_input: bool = False) -> MQARBatch:
  r"""A batch of MQAR sequences (one random draw for the whole batch).

  .. math::
    x = (k_1, v_1, \dots, k_n, v_n, 0, \dots, k_{a}, 0, \dots), \qquad
    \texttt{targets}_t = v(x_t) \text{ where } \texttt{mask}_t = [x_t \text{ is a query key}].

  Args:
    key: a PRNG key.
    batch_size: `B`.
    vocab_size: `V` (even): keys in `[1, V/2)`, values in `[V/2, V)`, 0 the filler.
    seq_len: `T`.
    num_pairs: `n`: a Python int, or an int array `[B]` (or scalar) of pair counts
      `<= max_pairs` for a mixture; each sequence then asks `min(num_queries, n)` queries.
    max_pairs: the largest `n` (static; default `num_pairs`, which must then be an int).
    num_queries: `q <= max_pairs` queries per sequence (static; default `max_pairs`: every key).
    answers_in_input: put each query's value after it in `inputs` (Zoology's format; see the
      module doc for the shortcut it opens), else filler 0.

  Returns:
    `MQARBatch(inputs [B, T], targets [B, T], mask [B, T])`; `targets` is 0 and `mask` False
    off the query positions (and at the last position).
  """
  if max_pairs is None:
    if not isinstance(num_pairs, int):
      raise ValueError("max_pairs is required when num_pairs is an array.")
    max_pairs = num_pairs
  queries = check_mqar(vocab_size=vocab_size, seq_len=seq_len, max_pairs=max_pairs,
                       num_queries=num_queries)
  half = vocab_size // 2
  num_keys = half - 1
  slots = (seq_len - 2) // 2  # two-token query slots after the shortest prefix (n = 1)
  sizes = (num_keys, max_pairs, max_pairs, slots)
  # One flat uniform draw for the whole batch: XLA:CPU compiles each random site slowly.
  noise = jax.random.uniform(key, (batch_size * sum(sizes),)).reshape(batch_size, sum(sizes))
  n = jnp.broadcast_to(jnp.asarray(num_pairs, jnp.int32), (batch_size,))
  example = lambda u, n: _example(u, n, sizes=sizes, half=half, seq_len=seq_len,
                                  max_queries=queries, answers=bool(answers_in_input))
  inputs, targets, mask = jax.vmap(example)(noise, n)
  return MQARBatch(inputs, targets, mask)


def _example(u, n, *, sizes, half, seq_len, max_queries, answers):
  num_keys, max_pairs, _, slots = sizes
  cuts = [0, num_keys, num_keys + max_pairs, num_keys + 2 * max_pairs, sum(sizes)]
  u_keys, u_values, u_order, u_slots = (u[a:b] for a, b in zip(cuts[:-1], cuts[1:],
                                                                    strict=True))
  keys = jnp.argsort(u_keys)[:max_pairs] + 1  # distinct, uniform
  values = half + jnp.floor(u_values * half).astype(jnp.int32).clip(0, half - 1)
  pair = jnp.arange(max_pairs)
  real = pair < n
  # Queries: the first q of a random order of the n real pairs.
  order = jnp.argsort(jnp.where(real, u_order, 2.0))
  q = jnp.minimum(n, max_queries)
  # Slots: the tail after 2n tokens has (T - 2n) // 2 two-token slots; pick q at random.
  free = (seq_len - 2 * n) // 2
  slot = jnp.argsort(jnp.where(jnp.arange(slots) < free, u_slots, 2.0))[:max_queries]
  query_pos = 2 * n + 2 * slot  # [max_queries]
  is_query = jnp.arange(max_queries) < q
  query_pair = order[:max_queries]

  x = jnp.zeros((seq_len,), jnp.int32)
  kv_pos = jnp.where(real, 2 * pair, seq_len)  # out of range: dropped
  x = x.at[kv_pos].set(keys, mode="drop").at[kv_pos + 1].set(values, mode="drop")
  q_pos = jnp.where(is_query, query_pos, seq_len)
  x = x.at[q_pos].set(keys[query_pair], mode="drop")
  if answers:
    x = x.at[q_pos + 1].set(values[query_pair], mode="drop")
  mask = jnp.zeros((seq_len,), bool).at[q_pos].set(True, mode="drop")
  targets = jnp.zeros((seq_len,), jnp.int32).at[q_pos].set(values[query_pair], mode="drop")
  return x, targets, mask
