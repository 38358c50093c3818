"""Speed of the tabular slice, side by side in one run (prints markdown tables).

    python -m benchmarks.bench_tabular [--states 2000] [--actions 10] [--repeats 3]

1. Value iteration on a random MDP (2,000 states, 10 actions, γ = 0.9, tol 1e-6): the jitted
   `research.rl.value_iteration` against the same algorithm in NumPy, both as a vectorised
   NumPy loop (one matrix-vector product per sweep) and as a plain per-state Python loop
   (timed on a few sweeps and scaled to the same number of sweeps).
2. The chunked launcher against the same training as one fused `lax.scan` (Sarsa on the grid
   world): `runtime.run` with its chunk loop, metrics, progress and checkpoints, vs one jit.
"""

from __future__ import annotations

import argparse
import pathlib
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np

from research import rl, runtime


def numpy_value_iteration(p, r, discount, tol, max_iterations=10_000):
  """Value iteration in NumPy: v ← max_a (R + γ P v) until ‖Δv‖∞ < tol (as research.rl)."""
  v = np.zeros(p.shape[0], p.dtype)
  for k in range(1, max_iterations + 1):
    v_new = (r + discount * (p @ v)).max(axis=1)
    done = np.max(np.abs(v_new - v)) < tol
    v = v_new
    if done:
      return v, k
  return v, max_iterations


def python_loop_sweep(p, r, discount, v):
  """One sweep of the textbook loop: for each state, for each action, a dot product."""
  v_new = np.empty_like(v)
  for s in range(p.shape[0]):
    v_new[s] = max(r[s, a] + discount * float(p[s, a] @ v) for a in range(p.shape[1]))
  return v_new


def _best_of(fn, repeats):
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    out = fn()
    times.append(time.perf_counter() - t)
  return min(times), out


def bench_value_iteration(states, actions, repeats):
  mdp = rl.random_mdp(jax.random.key(0), states, actions, discount=0.9)
  p, r = np.asarray(mdp.transitions), np.asarray(mdp.rewards)
  solve = jax.jit(lambda m: rl.value_iteration(m, tol=1e-6))
  t = time.perf_counter()
  jax.block_until_ready(solve(mdp))
  compile_s = time.perf_counter() - t
  jax_s, result = _best_of(lambda: jax.block_until_ready(solve(mdp)), repeats)
  np_s, (v_np, k_np) = _best_of(lambda: numpy_value_iteration(p, r, 0.9, 1e-6), repeats)
  sweeps = 2
  t = time.perf_counter()
  v = np.zeros(states, p.dtype)
  for _ in range(sweeps):
    v = python_loop_sweep(p, r, 0.9, v)
  loop_s = (time.perf_counter() - t) / sweeps * int(result.iterations)
  agree = float(np.max(np.abs(np.asarray(result.values) - v_np)))
  rows = [
      ["research.rl.value_iteration (jit)", int(result.iterations), f"{jax_s * 1e3:.1f}", "1.0"],
      ["NumPy, vectorised sweep", k_np, f"{np_s * 1e3:.1f}", f"{np_s / jax_s:.1f}"],
      ["NumPy, per-state Python loop (extrapolated)", int(result.iterations),
       f"{loop_s * 1e3:.0f}", f"{loop_s / jax_s:.0f}"],
  ]
  return runtime.Table(
      "Value iteration speed", ["implementation", "sweeps", "time (ms)", "slower than jit ×"],
      rows, f"Random MDP, {states} states × {actions} actions, γ = 0.9, tol = 1e-6, float32, "
      f"best of {repeats}; compile {compile_s:.2f} s (excluded); max |v_jax − v_numpy| = "
      f"{agree:.1e}.")


def bench_launcher(repeats, config_argument="configs/gridworld_td.py"):
  from experiments import load_experiment
  from research.runtime import cli

  config = cli.load_config(config_argument)
  experiment = load_experiment(config.experiment).make(config)
  members = runtime.build_members(num_seeds=config.num_seeds, defaults=dict(experiment.hparams),
                                  sweep=config.sweep)

  def fused(keys, hparams):
    def one(key, h):
      state = experiment.init(key, h)
      return jax.lax.scan(lambda s, _: experiment.step(s), state, None,
                          length=experiment.num_chunks)
    return jax.vmap(one)(keys, hparams)

  keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(config.seed), i))(
      jnp.asarray(members.seed_index, jnp.uint32))
  hparams = {k: jnp.asarray(v) for k, v in members.hparams.items()}
  compiled = jax.jit(fused).lower(keys, hparams).compile()
  fused_s, _ = _best_of(lambda: jax.block_until_ready(compiled(keys, hparams)), repeats)
  launcher_s = []
  for _ in range(repeats):
    with tempfile.TemporaryDirectory() as d:
      result = runtime.run(experiment, config, pathlib.Path(d), progress=False,
                           echo=lambda *_: None)
      launcher_s.append(result.info.run_seconds)
  best = min(launcher_s)
  rows = [["one fused lax.scan (jit)", f"{fused_s:.3f}", "—"],
          ["runtime.run, chunked", f"{best:.3f}", f"{100 * (best / fused_s - 1):+.1f}%"]]
  return runtime.Table(
      "Launcher overhead", ["how", "time (s)", "overhead"], rows,
      f"{config_argument}, {members.num_members} members × "
      f"{experiment.num_chunks} chunks; the launcher writes metrics.jsonl and TensorBoard every "
      f"chunk and checkpoints every {config.checkpoint_every}; compilation excluded; best of "
      f"{repeats}.")


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--states", type=int, default=2000)
  parser.add_argument("--actions", type=int, default=10)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--launcher_config", default="configs/gridworld_td.py",
                      help="the config[:variant] whose launcher overhead is measured")
  args = parser.parse_args()
  print(f"devices: {jax.devices()}\n")
  for bench in [lambda: bench_value_iteration(args.states, args.actions, args.repeats),
                lambda: bench_launcher(args.repeats, args.launcher_config)]:
    print(runtime.markdown_table(bench()) + "\n", flush=True)


if __name__ == "__main__":
  main()
