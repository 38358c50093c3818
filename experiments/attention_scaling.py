"""Forward+backward time and peak memory of every attention variant vs sequence length.

A one-chunk, one-member benchmark experiment. `step` checks on device, at a short length, that
what is timed computes the right thing (`softmax_attention` against
`jax.nn.dot_product_attention`, chunked causal linear attention against its naive masked
formula). The measurement phase (`measure`, on the host after the chunk; stored in the work
directory's `measurements.json`) compiles `value_and_grad` of `⟨attention(q, k, v), g⟩` with
respect to `q, k, v` for every variant, causal and not, at every length; reads the compiled
program's memory analysis (peak = arguments + outputs + temporaries − aliased: XLA's buffer
assignment, before running anything) and its cost analysis (executed FLOPs); runs it (best of a
few repeats after a warm-up call, compilation excluded); and measures the CPU's matmul rate in
the same run as the practical ceiling. `report` only formats what was stored: times, memory,
achieved GFLOP/s, speed-ups against `jax.nn.dot_product_attention` and the crossover lengths.
Softmax attention is not run above
`config.softmax_max_len` (its time is extrapolated ∝ T² from the longest run, and marked so);
its memory is still read from the compiled program.

See 'Transformers are RNNs' by Katharopoulos et al. (https://arxiv.org/abs/2006.16236),
'Rethinking Attention with Performers' by Choromanski et al. (https://arxiv.org/abs/2009.14794)
and 'The Devil in Linear Transformer' by Qin et al. (https://arxiv.org/abs/2210.10340).
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from research import attention
from research.runtime import Experiment, Plot, Report, Series, Table, require
from research.runtime.timing import machine_load, time_calls

VARIANTS = ("dot_product_attention", "softmax", "linear", "performer", "norm", "diag")
SOFTMAX_VARIANTS = ("dot_product_attention", "softmax")
LABELS = {"dot_product_attention": "jax.nn.dot_product_attention", "softmax": "softmax_attention",
          "linear": "linear_attention", "performer": "performer_attention",
          "norm": "norm_attention", "diag": "diag_attention"}
BASELINE = "dot_product_attention"
MIB = 2.0**20


def attention_fn(variant: str, *, causal: bool, chunk_size: int, block_size: int,
                 performer_kind: str):
  """`(q, k, v, projection) -> out` for a variant (`projection` is used by the Performer only)."""
  if variant == "dot_product_attention":
    return lambda q, k, v, w: jax.nn.dot_product_attention(q, k, v, is_causal=causal)
  if variant == "softmax":
    return lambda q, k, v, w: attention.softmax_attention(q, k, v, causal=causal)
  if variant == "linear":
    return lambda q, k, v, w: attention.linear_attention(q, k, v, causal=causal,
                                                         chunk_size=chunk_size)
  if variant == "performer":
    return lambda q, k, v, w: attention.performer_attention(
        q, k, v, w, causal=causal, kind=performer_kind, chunk_size=chunk_size)
  if variant == "norm":
    return lambda q, k, v, w: attention.norm_attention(q, k, v, causal=causal,
                                                       chunk_size=chunk_size)
  if variant == "diag":
    return lambda q, k, v, w: attention.diag_attention(q, k, v, block_size=block_size,
                                                       causal=causal)
  raise ValueError(f"unknown variant {variant!r}; known: {VARIANTS}")


def forward_backward(fn):
  """`(q, k, v, g, projection) -> (⟨fn(q, k, v), g⟩, (dq, dk, dv))`: one forward+backward pass."""

  def loss(q, k, v, g, w):
    return jnp.sum(fn(q, k, v, w) * g)

  return jax.value_and_grad(loss, argnums=(0, 1, 2))


def peak_bytes(memory) -> int:
  """Peak memory of a compiled program from its `memory_analysis()`.

  `arguments + outputs + temporaries − aliased` (XLA's buffer assignment). On XLA:CPU the
  `peak_memory_in_bytes` field counts arguments and outputs only, so it is not used.
  """
  return int(memory.argument_size_in_bytes + memory.output_size_in_bytes
             + memory.temp_size_in_bytes - memory.alias_size_in_bytes)


def crossover_length(lengths, baseline, other) -> float:
  """The length from which `other` stays below `baseline` (log-log interpolation).

  Returns `lengths[0]` when `other` is below at every length (the crossing, if any, is shorter
  than the lengths measured), `inf` when it is not below at the longest length, else the
  length where the interpolated log-log lines cross for the last time.
  """
  lengths = np.asarray(lengths, np.float64)
  gap = np.log(np.asarray(other, np.float64)) - np.log(np.asarray(baseline, np.float64))
  if gap[-1] >= 0:
    return float("inf")
  above = np.flatnonzero(gap >= 0)
  if len(above) == 0:
    return float(lengths[0])
  i = int(above[-1])
  x0, x1 = np.log(lengths[i]), np.log(lengths[i + 1])
  g0, g1 = gap[i], gap[i + 1]
  return float(np.exp(x0 + (x1 - x0) * g0 / (g0 - g1)))


def loglog_slope(lengths, values) -> float:
  """Least-squares slope of log(values) against log(lengths)."""
  if len(lengths) < 2:
    return float("nan")
  return float(np.polyfit(np.log(lengths), np.log(values), 1)[0])


def check_config(config) -> None:
  """Raises ConfigError (one line) for a config this benchmark cannot run (reads it only)."""
  require(config.num_seeds == 1, f"config.num_seeds must be 1 (a benchmark), got "
          f"{config.num_seeds}")
  lengths = tuple(int(t) for t in config.seq_lens)
  require(len(lengths) >= 1 and all(t >= 1 for t in lengths) and list(lengths) == sorted(
      set(lengths)), f"config.seq_lens must be increasing positive lengths, got {lengths}")
  variants = tuple(config.variants)
  unknown = [v for v in variants if v not in VARIANTS]
  require(not unknown and variants, f"config.variants: unknown {unknown}; known: {VARIANTS}")
  require(BASELINE in variants, f"config.variants must include '{BASELINE}' (the baseline)")
  modes = tuple(bool(c) for c in config.causal)
  require(len(modes) >= 1, "config.causal must list at least one of False, True")
  for field in ("batch", "heads", "head_dim", "num_features", "chunk_size", "block_size",
                "repeats", "matmul_size", "matmul_repeats", "check_len"):
    require(int(config[field]) >= 1, f"config.{field} must be ≥ 1, got {config[field]}")
  require(int(config.softmax_max_len) >= lengths[0],
          f"config.softmax_max_len ({config.softmax_max_len}) must be ≥ the shortest length "
          f"{lengths[0]} (softmax times are extrapolated from the longest run)")
  require(config.performer_kind in ("positive", "trig"),
          f"config.performer_kind must be 'positive' or 'trig', got '{config.performer_kind}'")
  require(config.single_run_s >= 0, f"config.single_run_s must be ≥ 0, got {config.single_run_s}")
  for field in ("slope_from_len", "target_len"):
    require(int(config[field]) >= 1, f"config.{field} must be ≥ 1, got {config[field]}")
  for field in ("causal_speedup_target", "noncausal_speedup_target", "linear_memory_slope_max"):
    require(config[field] > 0, f"config.{field} must be > 0, got {config[field]}")
  require(config.input_seed >= 0,
          f"config.input_seed must be ≥ 0 (a NumPy seed), got {config.input_seed}")


def make(config) -> Experiment:
  check_config(config)
  lengths = tuple(int(t) for t in config.seq_lens)
  variants = tuple(config.variants)
  modes = tuple(bool(c) for c in config.causal)
  heads, head_dim = int(config.heads), int(config.head_dim)
  check_len, chunk = int(config.check_len), int(config.chunk_size)

  def init(key, hparams):
    del hparams
    zero = jnp.zeros((), jnp.float32)
    return {"key": key, "softmax_vs_dpa": zero, "softmax_vs_dpa_causal": zero,
            "causal_linear_vs_naive": zero}

  def step(state):
    x = jax.random.normal(state["key"], (3, 1, check_len, heads, head_dim))
    q, k, v = x[0], x[1], x[2]
    checks = {}
    for causal, name in ((False, "softmax_vs_dpa"), (True, "softmax_vs_dpa_causal")):
      ours = attention.softmax_attention(q, k, v, causal=causal)
      ref = jax.nn.dot_product_attention(q, k, v, is_causal=causal)
      checks[name] = jnp.max(jnp.abs(ours - ref))
    fq, fk = attention.elu_plus_one(q), attention.elu_plus_one(k)
    scores = jnp.einsum("bthd,bshd->bhts", fq, fk) * jnp.tril(jnp.ones((check_len,) * 2))
    naive = jnp.einsum("bhts,bshd->bthd", scores, v) / (scores.sum(-1)[..., None].swapaxes(1, 2)
                                                        + 1e-6)
    chunked = attention.linear_attention(q, k, v, causal=True, chunk_size=chunk)
    checks["causal_linear_vs_naive"] = jnp.max(jnp.abs(chunked - naive))
    return {**state, **checks}, checks

  def measure(final, info):
    del final, info
    rate, matmul_s = matmul_rate(int(config.matmul_size), int(config.matmul_repeats))
    rows = [{"variant": variant, "causal": causal, "T": t, **row}
            for (variant, causal, t), row in _measure(config, lengths, variants, modes).items()]
    return {"matmul_gflops": rate, "matmul_seconds": matmul_s, "rows": rows,
            "devices": f"{jax.device_count()} {jax.default_backend().upper()} device(s)",
            "load": machine_load()}

  def report(final, history, info):
    del history
    checks = {k: float(np.asarray(v)[0]) for k, v in final.items() if k != "key"}
    return _report(config, lengths, variants, modes, checks, info)

  return Experiment(init=init, step=step, num_chunks=1, report=report, updates_per_chunk=1,
                    check_config=check_config, measure=measure)


def _best_time(fn, args, repeats: int, single_run_s: float) -> tuple[float, int]:
  """Best wall time of the compiled `fn(*args)`: a warm-up call, timed too, then `repeats` more
  unless the warm-up took longer than `single_run_s`. Returns (seconds, runs)."""
  t = time_calls(lambda: fn(*args), repeats=repeats, statistic=min, stop_after=single_run_s)
  return min(t.first, t.seconds), 1 + t.runs


def matmul_rate(size: int, repeats: int) -> tuple[float, float]:
  """The CPU's float32 matmul rate (GFLOP/s, 2n³ FLOPs per n×n product), best of `repeats`."""
  rng = np.random.default_rng(0)
  a = jnp.asarray(rng.standard_normal((size, size), np.float32))
  b = jnp.asarray(rng.standard_normal((size, size), np.float32))
  product = jax.jit(jnp.matmul).lower(a, b).compile()
  seconds, _ = _best_time(product, (a, b), repeats, float("inf"))
  return 2.0 * size**3 / seconds / 1e9, seconds


def _measure(config, lengths, variants, modes):
  """Compiles (memory, FLOPs) and times every variant × mode × length. Returns a dict of rows."""
  batch, heads, dim = int(config.batch), int(config.heads), int(config.head_dim)
  rng = np.random.default_rng(int(config.input_seed))
  projection = attention.gaussian_orthogonal_random_matrix(
      jax.random.key(int(config.input_seed)), int(config.num_features), dim)
  results = {}
  for t in lengths:
    x = rng.standard_normal((4, batch, t, heads, dim), np.float32)
    q, k, v, g = (jnp.asarray(a) for a in x)
    for causal in modes:
      for variant in variants:
        fn = attention_fn(variant, causal=causal, chunk_size=int(config.chunk_size),
                          block_size=int(config.block_size),
                          performer_kind=str(config.performer_kind))
        start = time.perf_counter()
        compiled = jax.jit(forward_backward(fn)).lower(q, k, v, g, projection).compile()
        compile_s = time.perf_counter() - start
        memory = compiled.memory_analysis()
        cost = compiled.cost_analysis() or {}
        if isinstance(cost, (list, tuple)):  # older jax returned one dict per device
          cost = cost[0] if cost else {}
        row = {"peak": peak_bytes(memory), "temp": int(memory.temp_size_in_bytes),
               "flops": float(cost.get("flops", float("nan"))), "compile_s": compile_s,
               "time": float("nan"), "runs": 0, "extrapolated": False}
        if variant not in SOFTMAX_VARIANTS or t <= int(config.softmax_max_len):
          row["time"], row["runs"] = _best_time(compiled, (q, k, v, g, projection),
                                                int(config.repeats),
                                                float(config.single_run_s))
        results[(variant, causal, t)] = row
        del compiled
  # Softmax beyond the cap: ∝ T² from its longest run.
  for (variant, causal, t), row in results.items():
    if np.isnan(row["time"]):
      measured = [s for s in lengths if not np.isnan(results[(variant, causal, s)]["time"])]
      last = measured[-1]
      row["time"] = results[(variant, causal, last)]["time"] * (t / last) ** 2
      row["extrapolated"] = True
      row["from"] = last
  return results


def _fmt_time(row) -> str:
  return ("~" if row["extrapolated"] else "") + f"{row['time']:.3g}"


def _fmt_ratio(value, extrapolated=False) -> str:
  return ("~" if extrapolated else "") + (f"{value:.3g}×" if np.isfinite(value) else "—")


def _fmt_length(value, lengths) -> str:
  if np.isinf(value):
    return f"> {lengths[-1]:,}"
  if value <= lengths[0]:
    return f"≤ {lengths[0]:,} (below at every T)"
  return f"≈ {value:,.0f}"


def _report(config, lengths, variants, modes, checks, info):
  measured = info.measurements
  rate, matmul_s = measured["matmul_gflops"], measured["matmul_seconds"]
  results = {(r["variant"], r["causal"], r["T"]): r for r in measured["rows"]}
  mode_name = {False: "non-causal", True: "causal"}
  shape = (f"batch {config.batch}, {config.heads} heads, head dim {config.head_dim}, float32; "
           f"forward + backward (value_and_grad of ⟨out, g⟩ for q, k, v)")
  cap = int(config.softmax_max_len)
  extrapolated_any = any(r["extrapolated"] for r in results.values())

  # --- Long table: everything. ---------------------------------------------------------
  rows = []
  for causal in modes:
    for variant in variants:
      for t in lengths:
        row = results[(variant, causal, t)]
        base = results[(BASELINE, causal, t)]
        gflops = row["flops"] / row["time"] / 1e9 if not row["extrapolated"] else float("nan")
        rows.append([LABELS[variant], mode_name[causal], t, _fmt_time(row),
                     f"{row['peak'] / MIB:.1f}", f"{row['flops'] / 1e9:.3g}",
                     f"{gflops:.3g}" if np.isfinite(gflops) else "—",
                     f"{gflops / rate:.0%}" if np.isfinite(gflops) else "—",
                     "1×" if variant == BASELINE else _fmt_ratio(
                         base["time"] / row["time"], base["extrapolated"] or row["extrapolated"]),
                     f"{base['peak'] / row['peak']:.3g}×", f"{row['compile_s']:.2f}",
                     row["runs"]])
  long_table = Table(
      "Forward+backward time and peak memory, every variant and length",
      ["variant", "mask", "T", "time (s)", "peak memory (MiB)", "GFLOP executed", "GFLOP/s",
       "of matmul rate", "speed-up vs dot_product_attention", "memory saving vs dpa",
       "compile (s)", "runs"], rows,
      f"{shape}. Time: best of the runs after compilation ('~': softmax not run above "
      f"T = {cap:,}; extrapolated ∝ T² from its longest run). Peak memory: the compiled "
      "program's memory analysis (arguments + outputs + temporaries − aliased). GFLOP: XLA's "
      f"cost analysis of the compiled program (softmax computes the full T×T scores even when "
      f"causal). Matmul rate measured in this run: {rate:.1f} GFLOP/s "
      f"({config.matmul_size}² float32).", timed=True)

  # --- Pivots: time, memory, speed-up. ------------------------------------------------------
  def pivot(name, value, caption, timed=False):
    pivot_rows = []
    for causal in modes:
      for variant in variants:
        pivot_rows.append([LABELS[variant], mode_name[causal],
                           *[value(results[(variant, causal, t)], causal, t) for t in lengths]])
    return Table(name, ["variant", "mask", *[f"T = {t:,}" for t in lengths]], pivot_rows,
                 caption, timed)

  time_table = pivot("Time (s) vs T", lambda r, c, t: _fmt_time(r),
                     f"{shape}. '~': extrapolated ∝ T² from T = {cap:,}.", timed=True)
  memory_table = pivot("Peak memory (MiB) vs T", lambda r, c, t: f"{r['peak'] / MIB:.1f}",
                       "From the compiled program's memory analysis (softmax too, at every T: "
                       "compiled, not run, above the cap).")

  def speedup(r, c, t):
    base = results[(BASELINE, c, t)]
    if r is base:
      return "1×"
    return _fmt_ratio(base["time"] / r["time"], base["extrapolated"] or r["extrapolated"])

  speed_table = pivot("Speed-up vs jax.nn.dot_product_attention (same mask)", speedup,
                      "dot_product_attention's time ÷ this variant's; '~': softmax extrapolated.",
                      timed=True)

  # --- Crossovers, memory growth, GFLOP/s at the longest measured length. --------------------
  cross_rows = []
  linear_slopes = {}
  fit = [t for t in lengths if t >= int(config.slope_from_len)] or list(lengths)
  for causal in modes:
    base_t = [results[(BASELINE, causal, t)]["time"] for t in lengths]
    base_m = [results[(BASELINE, causal, t)]["peak"] for t in lengths]
    for variant in variants:
      times = [results[(variant, causal, t)]["time"] for t in lengths]
      mems = [results[(variant, causal, t)]["peak"] for t in lengths]
      slope_t = loglog_slope(fit, [results[(variant, causal, t)]["time"] for t in fit])
      slope_m = loglog_slope(fit, [results[(variant, causal, t)]["peak"] for t in fit])
      if variant not in SOFTMAX_VARIANTS:
        linear_slopes[(variant, causal)] = slope_m
      quadratic = variant in SOFTMAX_VARIANTS  # no crossover with itself
      cross_t = "—" if quadratic else _fmt_length(crossover_length(lengths, base_t, times),
                                                 lengths)
      cross_m = "—" if quadratic else _fmt_length(crossover_length(lengths, base_m, mems),
                                                 lengths)
      cross_rows.append([LABELS[variant], mode_name[causal], cross_t, cross_m,
                         f"{slope_t:.2f}", f"{slope_m:.2f}",
                         f"{mems[-1] / mems[0]:.3g}× for {lengths[-1] // lengths[0]}× T"])
  cross_table = Table(
      "Crossover lengths against jax.nn.dot_product_attention, and growth with T",
      ["variant", "mask", "faster than softmax from T", "less memory than softmax from T",
       f"time ∝ T^slope (T ≥ {fit[0]:,})", f"memory ∝ T^slope (T ≥ {fit[0]:,})",
       "memory growth"], cross_rows,
      "Crossovers interpolate log time (log memory) linearly in log T between the measured "
      "lengths: the length from which the variant stays faster (smaller) than "
      "dot_product_attention with the same mask. "
      "Slopes are least-squares fits on log-log axes: 1 is linear, 2 quadratic."
      + (" Softmax slopes above the cap use extrapolated times (slope 2 by construction)."
         if extrapolated_any else ""), timed=True)

  # --- The config's targets. ------------------------------------------------------------
  t_target = int(config.target_len) if int(config.target_len) in lengths else lengths[-1]
  target_rows = []
  for causal, goal in ((True, float(config.causal_speedup_target)),
                       (False, float(config.noncausal_speedup_target))):
    if causal not in modes or "linear" not in variants:
      continue
    lin = results[("linear", causal, t_target)]
    base = results[(BASELINE, causal, t_target)]
    ratio = base["time"] / lin["time"]
    ours_sm = results.get(("softmax", causal, t_target))
    ours_text = "" if ours_sm is None else (
        "; vs softmax_attention "
        + _fmt_ratio(ours_sm["time"] / lin["time"], ours_sm["extrapolated"]))
    target_rows.append([f"{mode_name[causal]} linear_attention fwd+bwd at T = {t_target:,}",
                        f"{lin['time']:.3g} s vs {_fmt_time(base)} s: "
                        f"{_fmt_ratio(ratio, base['extrapolated'])}{ours_text}",
                        f"≥ {goal:g}×", "yes" if ratio >= goal else "NO"])
  limit = float(config.linear_memory_slope_max)
  for (variant, causal), slope in linear_slopes.items():
    target_rows.append([f"{mode_name[causal]} {LABELS[variant]}: peak memory vs T",
                        f"∝ T^{slope:.2f} (T ≥ {fit[0]:,})", f"linear (slope ≤ {limit:g})",
                        "yes" if slope <= limit else "NO"])
  fastest = max(((v, c) for v in variants for c in modes if v not in SOFTMAX_VARIANTS),
                key=lambda vc: results[(vc[0], vc[1], lengths[-1])]["flops"]
                / results[(vc[0], vc[1], lengths[-1])]["time"], default=None)
  best_rate_text = ""
  if fastest is not None:
    r = results[(fastest[0], fastest[1], lengths[-1])]
    best = r["flops"] / r["time"] / 1e9
    best_rate_text = (f"; best linear variant at T = {lengths[-1]:,}: {LABELS[fastest[0]]} "
                      f"({mode_name[fastest[1]]}) {best:.3g} GFLOP/s = {best / rate:.0%}")
  measured_sm = [(c, t) for c in modes for t in lengths
                 if not results[(BASELINE, c, t)]["extrapolated"]]
  if measured_sm:
    c, t = measured_sm[-1]
    r = results[(BASELINE, c, t)]
    sm_rate = r["flops"] / r["time"] / 1e9
    best_rate_text += (f"; dot_product_attention ({mode_name[c]}, T = {t:,}) {sm_rate:.3g} "
                       f"GFLOP/s = {sm_rate / rate:.0%}")
  target_rows.append(["matmul rate (the CPU's practical ceiling)",
                      f"{rate:.1f} GFLOP/s ({config.matmul_size}² in {matmul_s * 1e3:.0f} ms)"
                      + best_rate_text, "—", "—"])
  extrap_note = ""
  if any(results[(BASELINE, c, t_target)]["extrapolated"] for c in modes):
    extrap_note = (f" dot_product_attention at T = {t_target:,} is extrapolated ∝ T² from "
                   f"T = {cap:,} (not run; a run takes tens of seconds and GBs of memory).")
  target_table = Table(
      "Speed and memory targets", ["target", "measured", "asked", "met"], target_rows,
      f"{shape}; {measured['devices']}, {measured['load']} when measured: times vary by tens "
      "of percent with the load."
      + extrap_note, timed=True)

  check_table = Table(
      "Correctness of what is timed (on device, T = "
      f"{config.check_len})", ["check", "max |difference|"],
      [["softmax_attention vs jax.nn.dot_product_attention (non-causal)",
        f"{checks['softmax_vs_dpa']:.1e}"],
       ["softmax_attention vs jax.nn.dot_product_attention (causal)",
        f"{checks['softmax_vs_dpa_causal']:.1e}"],
       ["chunked causal linear_attention vs the naive masked formula",
        f"{checks['causal_linear_vs_naive']:.1e}"]], "float32.")

  plots = []
  for causal in modes:
    for what, key, unit, scale in (("time", "time", "seconds", 1.0),
                                   ("memory", "peak", "MiB", 1 / MIB)):
      series = []
      for variant in variants:
        rs = [results[(variant, causal, t)] for t in lengths]
        run = [t for t, r in zip(lengths, rs, strict=True) if not r["extrapolated"]]
        series.append(Series(LABELS[variant], run,
                             [results[(variant, causal, t)][key] * scale for t in run]))
        extra = [t for t, r in zip(lengths, rs, strict=True) if r["extrapolated"]]
        if extra and key == "time":
          xs = [run[-1], *extra]
          series.append(Series(f"{LABELS[variant]} (extrapolated ∝ T²)", xs,
                               [results[(variant, causal, t)][key] for t in xs]))
      plots.append(Plot(f"{what}_{mode_name[causal].replace('-', '')}",
                        f"Forward+backward {what} vs T ({mode_name[causal]})",
                        "sequence length T", f"{what} ({unit})", series, logx=True, logy=True))

  summary = _summary(config, results, lengths, modes, rate, t_target, linear_slopes, limit)
  summary += (f"\n\nMeasurement phase {info.measure_seconds:.0f} s (compilation included), "
              f"after the on-device checks ({info.compile_seconds:.1f} s compile).")
  tables = [target_table, time_table, memory_table, speed_table, cross_table, check_table,
            long_table]
  return Report(tables, plots, summary)


def _summary(config, results, lengths, modes, rate, t_target, linear_slopes, limit) -> str:
  parts = []
  for causal in modes:
    if ("linear", causal, t_target) not in results:
      continue
    lin = results[("linear", causal, t_target)]
    base = results[(BASELINE, causal, t_target)]
    parts.append(f"{'causal' if causal else 'non-causal'} linear attention {lin['time']:.3g} s "
                 f"vs dot_product_attention {_fmt_time(base)} s "
                 f"({_fmt_ratio(base['time'] / lin['time'], base['extrapolated'])})")
  linear = all(s <= limit for s in linear_slopes.values())
  worst = max(linear_slopes.values(), default=float("nan"))
  return (f"**Speed.** At T = {t_target:,} ({config.heads} heads, head dim {config.head_dim}, "
          f"batch {config.batch}), forward+backward: " + "; ".join(parts)
          + ". Peak memory of every linear variant grows "
          + ("linearly" if linear else "FASTER THAN LINEARLY") + " "
          f"in T (largest log-log slope {worst:.2f}). Matmul ceiling measured in the same run: "
          f"{rate:.1f} GFLOP/s.")

