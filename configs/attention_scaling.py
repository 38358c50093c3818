"""Attention scaling: forward+backward time and peak memory vs sequence length, every variant.

`jax.nn.dot_product_attention` and `softmax_attention` (quadratic), `linear_attention`
(Katharopoulos et al., https://arxiv.org/abs/2006.16236), `performer_attention` (FAVOR+,
Choromanski et al., https://arxiv.org/abs/2009.14794), `norm_attention` and `diag_attention`
(TransNormer, Qin et al., https://arxiv.org/abs/2210.10340), causal and non-causal, at
T = 256 … 16,384 (4 heads, head dim 64, batch 1, float32), side by side in one run. Peak memory is
read from each compiled program's memory analysis; achieved GFLOP/s (XLA's cost analysis ÷ time)
is compared with a matmul rate measured in the same run; crossover lengths against softmax are
interpolated. Softmax is not run above `softmax_max_len` (extrapolated ∝ T², marked '~').

    python launch.py --config=configs/attention_scaling.py
    python launch.py --config=configs/attention_scaling.py --config.softmax_max_len=8192

Expected (the issue's targets, at T = 16,384 on a 2-core CPU): causal linear attention
forward+backward ≥ 50× faster than `jax.nn.dot_product_attention` with a causal mask, non-causal
≥ 100×; peak memory ∝ T for every linear variant (log-log slope ≈ 1) and ∝ T² for softmax.
Measured (quiet 2-core CPU): causal 0.40 s vs ~33.8 s (~85×), non-causal 0.16 s vs ~32.9 s
(~205×); memory slopes 1.00 (linear variants) and 1.95 (softmax: 16.5 GB at 16,384). At load ≈ 6
from other jobs every time was 2–4× longer (causal ~119×, non-causal ~207×). Runtime: 83 s with a
warm compilation cache on the quiet machine, 8.5 min cold (84 programs compiled) under load.
"""

from research.runtime import base_config, select_variant


def get_config(arg=None):
  c = base_config("attention_scaling")
  c.num_seeds = 1                   # a benchmark: one member
  c.checkpoint_every = 0
  c.seq_lens = (256, 512, 1024, 2048, 4096, 8192, 16384)  # sequence lengths T
  c.variants = ("dot_product_attention", "softmax", "linear", "performer", "norm", "diag")
  c.causal = (False, True)          # masks to benchmark
  c.batch = 1
  c.heads = 4
  c.head_dim = 64
  c.num_features = 256              # Performer's random features m
  c.performer_kind = "positive"     # "positive" (FAVOR+) | "trig"
  c.chunk_size = 64                 # chunk of the causal linear kernels
  c.block_size = 64                 # diag_attention's block
  c.softmax_max_len = 4096          # softmax variants are not run above this (extrapolated ∝ T²)
  c.repeats = 4                     # timed runs after the warm-up call (best is reported) ...
  c.single_run_s = 2.0              # ... unless the warm-up call took longer than this
  c.matmul_size = 2048              # n of the n×n float32 matmul that measures the ceiling
  c.matmul_repeats = 5
  c.slope_from_len = 1024           # fit the log-log slopes on T ≥ this
  c.target_len = 16384              # the targets are checked at this T
  c.causal_speedup_target = 50.0    # causal linear vs dot_product_attention (causal)
  c.noncausal_speedup_target = 100.0
  c.linear_memory_slope_max = 1.15  # "memory linear in T": log-log slope at most this
  c.check_len = 256                 # length of the on-device correctness checks
  c.input_seed = 0                  # inputs (NumPy) and the Performer projection

  def smoke(c):                     # every variant, causal (the chunked kernels), one length
    c.seq_lens = (64,)
    c.causal = (True,)
    c.softmax_max_len = 64
    c.repeats = 1
    c.matmul_size = 256
    c.matmul_repeats = 2
    c.slope_from_len = 64
    c.check_len = 64
    c.num_features = 64

  return select_variant(arg, {"smoke": smoke}, c)
