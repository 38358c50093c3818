"""Benchmark: seconds per RL iteration of `experiments.llm_rl` for one member, after compilation.

    python -m benchmarks.bench_llm_rl
    python -m benchmarks.bench_llm_rl --repeats=10

One iteration = sampling (`research.models.decoding.generate` with the KV cache, every completion
run to the full budget: fixed shapes), scoring, the policy and reference forward passes,
advantages, and `num_minibatches` Adam updates. Rows: the issue's setting (16 prompts × 8
samples, completions up to 16 tokens, 4 minibatch updates; no dynamic-sampling pool), the same
with the pool of 2 × 16 prompts that every arm of the sweep samples, and the default config's own
setting. The load average is printed: other jobs may share the 2 cores, so these are upper bounds.
"""

from __future__ import annotations

import argparse
import os

import jax

from configs import llm_rl as llm_rl_config
from experiments import llm_rl


def _config(**overrides):
  c = llm_rl_config.get_config()
  c.eval_problems, c.eval_samples = c.iterations_per_chunk, 1   # one held-out row per iteration
  for k, v in overrides.items():
    setattr(c, k, v)
  return c


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--repeats", type=int, default=5)
  p.add_argument("--arm", type=int, default=9, help="arm index (default dapo_dynamic_sampling)")
  args = p.parse_args()
  settings = [
    ("16 prompts × 8, ≤ 16 tokens, 4 minibatches (the issue's setting)",
     _config(prompts_per_iteration=16, max_new_tokens=16, pool_factor=1)),
    ("the same, sampling a pool of 2 × 16 prompts (dynamic sampling)",
     _config(prompts_per_iteration=16, max_new_tokens=16, pool_factor=2)),
    ("the default config (8 prompts × 8, ≤ 8 tokens, pool 2 × 8, 32 held-out rows)",
     llm_rl_config.get_config()),
  ]
  print(f"jax {jax.__version__}, {jax.devices()[0].platform}, load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
  print("| setting | compile + first (s) | s per iteration (median) |")
  print("| --- | --- | --- |")
  for name, c in settings:
    c.arm = args.arm
    compile_s, seconds = llm_rl.iteration_seconds(c, repeats=args.repeats)
    print(f"| {name} | {compile_s:.1f} | {seconds:.3f} |", flush=True)


if __name__ == "__main__":
  main()
