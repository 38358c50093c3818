"""Pieces of one RL iteration on a language model that are not losses: groups of completions,
token log-probabilities and entropies from logits, the cost of dynamic sampling with a fixed-shape
pool, minibatch index plans, and a policy loss whose aggregation mode is a traced weight vector
(so arms that differ only in aggregation share one compiled program).

All functions are pure, fixed-shape and work under `jit` and `vmap`.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from research.llm_rl._common import check_group_size, safe_div
from research.llm_rl.dapo import select_groups
from research.llm_rl.losses import AGGREGATION_MODES, policy_loss


def repeat_groups(x, *, group_size) -> jax.Array:
  """Repeats every row `G` times, consecutively: prompts `[N, ...]` to a batch `[N · G, ...]`.

  Row `k · G + j` is copy `j` of prompt `k`, the layout the group functions expect.
  """
  return jnp.repeat(jnp.asarray(x), group_size, axis=0)


def token_logprobs(logits, targets, *, temperature=1.0):
  """Log-probabilities of `targets` and the entropy of each predictive distribution.

  .. math:: \\log \\pi(y_t) = \\text{log\\_softmax}(z_t / \\tau)_{y_t}, \\qquad
    H_t = -\\sum_v \\pi_v \\log \\pi_v

  Args:
    logits: `[..., V]` (e.g. `[B, T, V]`).
    targets: int `[...]` (e.g. `[B, T]`).
    temperature: `τ` (1: the policy's own distribution).

  Returns:
    `(logp [...], entropy [...])`, float.
  """
  chex.assert_equal_shape_prefix([logits, targets], targets.ndim)
  logp_all = jax.nn.log_softmax(logits / temperature, axis=-1)
  logp = jnp.take_along_axis(logp_all, targets[..., None].astype(jnp.int32), axis=-1)[..., 0]
  entropy = -jnp.sum(jnp.exp(logp_all) * logp_all, axis=-1)
  return logp, entropy


def dynamic_sampling_selection(rewards, *, group_size, num_groups):
  """DAPO dynamic sampling from a fixed pool: which groups to keep and what they cost.

  The pool's `P` groups are taken as generated in order; keeping the first `N = num_groups`
  informative groups (`select_groups`) costs the groups up to and including the `N`-th
  informative one, `K = min(pos_N + 1, P)` groups (all `P` if fewer than `N` are informative),
  i.e. what sampling group by group until the batch is full would have spent. Samples per kept
  prompt are `K · G / min(N, #informative)`.

  See 'DAPO: An Open-Source LLM Reinforcement Learning System at Scale' by Q. Yu et al.
  (https://arxiv.org/abs/2503.14476), §3.2.

  Args:
    rewards: the pool's sequence rewards `[P · G]` (the accuracy, not shaped rewards).
    group_size: `G` (static).
    num_groups: `N ≤ P` (static).

  Returns:
    `(indices int32[N], valid bool[N], groups_spent int32, num_kept int32)`: group indices
    (informative ones first, in pool order), which of them are informative, `K`, and
    `min(N, #informative)`.
  """
  chex.assert_rank(rewards, 1)
  group_size = check_group_size(group_size, rewards.shape[0])
  indices, valid, num_informative = select_groups(
    rewards, group_size=group_size, num_groups=num_groups
  )
  pool = rewards.shape[0] // group_size
  # Position (in the pool) of the N-th informative group: the last kept index when the batch is
  # full, else the whole pool was spent.
  spent = jnp.where(num_informative >= num_groups, indices[num_groups - 1] + 1, pool)
  kept = jnp.minimum(num_informative, num_groups)
  return indices, valid, spent.astype(jnp.int32), kept.astype(jnp.int32)


def minibatch_plan(key, batch_size: int, *, num_minibatches: int, epochs: int = 1) -> jax.Array:
  """Row indices of every minibatch update: `epochs` shuffled passes over `batch_size` rows.

  Returns:
    `int32[epochs · num_minibatches, batch_size // num_minibatches]`; each epoch is a fresh
    permutation split into equal minibatches.
  """
  if batch_size % num_minibatches:
    raise ValueError(f"batch_size {batch_size} is not a multiple of num_minibatches "
                     f"{num_minibatches}")
  keys = jax.random.split(key, epochs)
  perms = jax.vmap(lambda k: jax.random.permutation(k, batch_size))(keys)
  return perms.reshape(epochs * num_minibatches, batch_size // num_minibatches).astype(jnp.int32)


def mixed_policy_loss(logp, old_logp, advantages, mask, *, aggregation_weights, **kwargs):
  """`policy_loss` under a convex mix of the three aggregation modes, the mix a traced array.

  .. math:: \\mathcal{L} = \\sum_k w_k \\, \\mathcal{L}_{\\text{mode}_k}, \\qquad
    k \\in (\\text{token-mean}, \\text{seq-mean-token-mean}, \\text{seq-mean-token-sum-norm})

  With a one-hot `w` this is exactly `policy_loss(aggregation=mode_k)`, loss and gradient, so a
  sweep can vmap arms that differ in aggregation. The per-token work is done three times (cheap
  elementwise operations). Metrics are those of `policy_loss` (the clip fractions, ratio and KL
  metrics do not depend on the aggregation), with `loss`, `pg_loss` and `kl_loss` mixed by `w`.

  Args:
    logp, old_logp, advantages, mask: as `policy_loss`.
    aggregation_weights: `[3]` weights in `AGGREGATION_MODES` order.
    **kwargs: the other keyword arguments of `policy_loss` (not `aggregation`).

  Returns:
    `(loss, metrics)`.
  """
  chex.assert_shape(aggregation_weights, (len(AGGREGATION_MODES),))
  if "aggregation" in kwargs:
    raise TypeError("mixed_policy_loss takes aggregation_weights, not aggregation")
  loss, metrics = 0.0, None
  mixed = {}
  for k, mode in enumerate(AGGREGATION_MODES):
    loss_k, metrics_k = policy_loss(logp, old_logp, advantages, mask, aggregation=mode, **kwargs)
    w = aggregation_weights[k]
    loss = loss + w * loss_k
    for name in ("loss", "pg_loss", "kl_loss"):
      mixed[name] = mixed.get(name, 0.0) + w * metrics_k[name]
    metrics = metrics_k if metrics is None else metrics
  return loss, {**metrics, **mixed}


def masked_sum_count(values, mask):
  """`(Σ m x, Σ m)` of a masked set: partial sums that average correctly across batches."""
  mask = jnp.asarray(mask).astype(jnp.result_type(float))
  return jnp.where(mask > 0, values * mask, 0).sum(), mask.sum()


def ratio_of_sums(num, den) -> jax.Array:
  """`num / den` where `den > 0`, else 0 (to finish a `masked_sum_count` average)."""
  return safe_div(jnp.asarray(num), jnp.asarray(den))
