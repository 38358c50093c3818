"""Sampling speed of `research.models.decoding.generate` (a benchmark, not a test).

    python -m benchmarks.bench_decoding

Samples 128 sequences of 32 new tokens after an 8-token prompt from a 2-layer, width-64
`TransformerLM` (vocab 64, 4 heads) for every attention kind, after compilation, and prints
compile time and the median of several timed runs. Also the full forward pass used for scoring
(`sequence_logprobs`) on the same 128 × 40 tokens.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from research.models import decoding
from research.models.transformer import TransformerLM, init_lm, param_count
from research.runtime.timing import time_calls

KINDS = ("softmax", "linear", "performer", "norm", "diag", "transnormer")


def time_call(fn, *args, repeats: int = 7):
  """(compile + first run seconds, median seconds of `repeats` further runs)."""
  timing = time_calls(lambda: fn(*args), repeats=repeats)
  return timing.first, timing.seconds


def bench(kind: str, *, batch: int = 128, prompt_len: int = 8, new_tokens: int = 32,
          width: int = 64, num_layers: int = 2, vocab: int = 64) -> dict:
  model = TransformerLM(vocab_size=vocab, num_layers=num_layers, width=width, num_heads=4,
                        attention=kind, max_len=prompt_len + new_tokens, block_size=16,
                        num_features=64)
  variables = init_lm(model, jax.random.key(0))
  prompt = jax.random.randint(jax.random.key(1), (batch, prompt_len), 0, vocab)
  sample = jax.jit(functools.partial(decoding.generate, model, max_new_tokens=new_tokens))
  compile_s, sample_s = time_call(sample, variables, jax.random.key(2), prompt)
  tokens = jnp.concatenate([prompt, sample(variables, jax.random.key(2), prompt).tokens], 1)
  score = jax.jit(functools.partial(decoding.sequence_logprobs, model))
  _, score_s = time_call(score, variables, tokens)
  return {"kind": kind, "params": param_count(variables), "compile_s": compile_s,
          "sample_s": sample_s, "tokens_per_s": batch * new_tokens / sample_s,
          "score_s": score_s}


def main(kinds=KINDS):
  print(f"jax {jax.__version__}, backend {jax.default_backend()}, devices {jax.device_count()}")
  print("128 sequences × 32 new tokens after an 8-token prompt, 2 layers, width 64, vocab 64")
  print("| attention | params | compile + 1st (s) | generate (s) | tokens/s | score (s) |")
  print("| --- | --- | --- | --- | --- | --- |")
  for kind in kinds:
    r = bench(kind)
    print(f"| {r['kind']} | {r['params']:,} | {r['compile_s']:.2f} | {r['sample_s']:.4f} | "
          f"{r['tokens_per_s']:,.0f} | {r['score_s']:.4f} |")


if __name__ == "__main__":
  import sys

  main(tuple(sys.argv[1:]) or KINDS)
