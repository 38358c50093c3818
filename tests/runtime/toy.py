"""A small experiment for runtime tests: each member estimates the mean of N(mu, 1) online.

`step` draws `draws_per_chunk` samples from the member's key and updates a running mean, so the
result has a closed form to check (the running mean of the member's own samples).
"""

import jax
import jax.numpy as jnp
import numpy as np

from research.runtime import Experiment, Report, Table, summarize


def make(num_chunks=4, draws_per_chunk=32, mu=1.0, poison_chunk=-1, check_config=None,
         on_init=None):
  """`on_init()` is called (on the host) each time `init` is executed, not when it is traced."""
  def init(key, hparams):
    if on_init is not None:
      jax.debug.callback(on_init)
    return {"key": key, "total": jnp.zeros(()), "count": jnp.zeros(()), "mu": hparams["mu"],
            "chunk": jnp.zeros((), jnp.int32)}

  def step(state):
    key, sub = jax.random.split(state["key"])
    x = state["mu"] + jax.random.normal(sub, (draws_per_chunk,))
    total, count = state["total"] + x.sum(), state["count"] + draws_per_chunk
    estimate = total / count
    estimate = jnp.where(state["chunk"] == poison_chunk, jnp.nan, estimate)
    new = {**state, "key": key, "total": total, "count": count, "chunk": state["chunk"] + 1}
    return new, {"estimate": estimate, "samples": x[:3]}

  def report(final, history, info):
    rows = []
    for p in range(len(info.members.points)):
      sel = info.members.point_index == p
      s = summarize(final["estimate"][sel])
      rows.append([info.members.point_label(p), s.mean, s.ci_low, s.ci_high])
    return Report(tables=[Table("estimates", ["point", "mean", "lo", "hi"], rows)])

  def finalize(state):
    return {"estimate": state["total"] / state["count"]}

  return Experiment(init=init, step=step, num_chunks=num_chunks, report=report,
                    hparams={"mu": mu}, updates_per_chunk=draws_per_chunk, finalize=finalize,
                    check_config=check_config)


def config(**overrides):
  from research.runtime import base_config

  c = base_config("toy")
  c.num_seeds = 3
  c.tensorboard = False
  c.update(overrides)
  return c


def reference_estimate(seed, seed_index, mu, chunks, draws_per_chunk=32):
  key = jax.random.fold_in(jax.random.key(seed), seed_index)
  xs = []
  for _ in range(chunks):
    key, sub = jax.random.split(key)
    xs.append(np.asarray(mu + jax.random.normal(sub, (draws_per_chunk,))))
  return float(np.concatenate(xs).mean())
