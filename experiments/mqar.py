"""MQAR (Zoology): recall accuracy of softmax, linear, Performer, TransNormer LMs vs pairs, width.

Every model of the grid `kinds × widths` (a `TransformerLM`; kinds: softmax, linear (elu + 1),
performer (FAVOR+), TransNormer T1 and T2 (diag attention below, norm attention above); all with
the same short causal convolution over `q, k, v` by default, as Zoology's models have) is trained
on the same stream of MQAR batches (a mixture of the evaluated pair counts, generated inside jit
from the member's key), and evaluated at the end on a fixed set per pair count. The models differ
in shapes, so they cannot share a vmap axis: the state holds one parameter tree per model, and
one chunk is a `lax.scan` of updates whose body updates every model on the same batch; the
runtime vmaps the whole thing over seeds. One compiled program, paired comparisons.

Report: accuracy (query positions only) mean ± 95% Student-t CI over seeds per kind × width ×
pairs, plots of accuracy vs pairs (one per width) and vs width (at the largest pair count),
training curves, parameter counts, the training throughput per kind (tokens/s of one model's
update, timed on the host after the run), and the sampling speed of
`research.models.decoding.generate`.

See 'Zoology: Measuring and Improving Recall in Efficient Language Models' by Arora et al.
(https://arxiv.org/abs/2312.04927).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from research.models import decoding
from research.models.transformer import TransformerLM, init_lm, param_count
from research.runtime import (
  Experiment,
  Plot,
  Report,
  Series,
  Table,
  format_pm,
  percent_pm,
  require,
  summarize,
)
from research.runtime.timing import machine_load, time_calls
from research.tasks.mqar import check_mqar, mqar_batch

KINDS = {  # name -> (attention, TransNormer variant)
  "softmax": ("softmax", "t2"),
  "linear": ("linear", "t2"),
  "performer": ("performer", "t2"),
  "t1": ("transnormer", "t1"),
  "t2": ("transnormer", "t2"),
}
LABELS = {"softmax": "softmax", "linear": "linear (elu+1)", "performer": "Performer (FAVOR+)",
          "t1": "TransNormer T1", "t2": "TransNormer T2"}


def build_model(config, kind: str, width: int) -> TransformerLM:
  attention, variant = KINDS[kind]
  return TransformerLM(
    vocab_size=int(config.vocab_size), num_layers=int(config.num_layers), width=int(width),
    num_heads=int(config.num_heads), attention=attention, variant=variant,
    max_len=int(config.seq_len), mlp=config.mlp, mlp_ratio=int(config.mlp_ratio),
    tie_embeddings=bool(config.tie_embeddings), block_size=int(config.block_size),
    num_features=int(config.num_features), chunk_size=int(config.chunk_size),
    conv_size=int(config.conv_size))


def masked_loss_and_accuracy(logits, targets, mask):
  """Cross-entropy and accuracy over the query positions (`mask`) only."""
  losses = optax.softmax_cross_entropy_with_integer_labels(logits, targets)
  count = jnp.maximum(mask.sum(), 1)
  correct = (jnp.argmax(logits, -1) == targets) & mask
  return jnp.where(mask, losses, 0).sum() / count, correct.sum() / count


def check_config(config) -> None:
  """Raises ConfigError (one line) for a config this experiment cannot run (reads it only).

  `make` also builds every model abstractly (`jax.eval_shape`), which reports whatever the
  model itself refuses; the fields below are the ones it can check from the config alone.
  """
  kinds = tuple(config.kinds)
  widths = tuple(int(w) for w in config.widths)
  pairs = tuple(int(p) for p in config.pairs)
  require(len(kinds) >= 1 and all(k in KINDS for k in kinds),
          f"config.kinds must be a non-empty subset of {tuple(KINDS)}, got {kinds}")
  require(all(k in KINDS for k in config.sampling_kinds),
          f"config.sampling_kinds must be a subset of {tuple(KINDS)}, got "
          f"{tuple(config.sampling_kinds)}")
  require(config.num_heads >= 1, f"config.num_heads must be >= 1, got {config.num_heads}")
  require(not tuple(config.sampling_kinds) or 64 % int(config.num_heads) == 0,
          f"config.num_heads ({config.num_heads}) must divide 64 (the width of the sampling-speed "
          "model) when config.sampling_kinds is not empty")
  require(len(widths) >= 1 and all(w >= 1 and w % int(config.num_heads) == 0 for w in widths),
          f"config.widths must be multiples of num_heads = {config.num_heads}, got {widths}")
  require(len(pairs) >= 1 and pairs == tuple(sorted(set(pairs))),
          f"config.pairs must be increasing, got {pairs}")
  require(pairs[0] >= 1, f"config.pairs must be counts >= 1, got {pairs}")
  try:
    check_mqar(vocab_size=int(config.vocab_size), seq_len=int(config.seq_len),
               max_pairs=max(pairs), num_queries=None)
  except ValueError as e:
    require(False, f"config: {e}")
  require(config.num_layers >= 1, f"config.num_layers must be >= 1, got {config.num_layers}")
  require(config.mlp in ("mlp", "glu"), f"config.mlp must be 'mlp' or 'glu', got '{config.mlp}'")
  require(config.mlp_ratio >= 1, f"config.mlp_ratio must be >= 1, got {config.mlp_ratio}")
  require(config.conv_size >= 0,
          f"config.conv_size must be >= 0 (0: no short convolution), got {config.conv_size}")
  for field in ("block_size", "num_features", "chunk_size"):
    require(config[field] >= 1, f"config.{field} must be >= 1, got {config[field]}")
  require(config.num_chunks >= 1 and config.updates_per_chunk >= 1,
          "config.num_chunks and config.updates_per_chunk must be >= 1")
  require(config.batch_size >= 1 and config.learning_rate > 0,
          "config.batch_size must be >= 1 and config.learning_rate > 0")
  require(0.0 <= config.warmup_fraction <= 1.0,
          f"config.warmup_fraction must be in [0, 1], got {config.warmup_fraction}")
  require(config.weight_decay >= 0, f"config.weight_decay must be >= 0, got {config.weight_decay}")
  require(config.grad_clip > 0,
          f"config.grad_clip must be > 0 (the clip has no off value), got {config.grad_clip}")
  require(config.eval_size >= 1, f"config.eval_size must be >= 1, got {config.eval_size}")


def make(config) -> Experiment:
  check_config(config)
  kinds = tuple(config.kinds)
  widths = tuple(int(w) for w in config.widths)
  pairs = tuple(int(p) for p in config.pairs)
  names = [f"{k}_w{w}" for k in kinds for w in widths]
  models = {f"{k}_w{w}": build_model(config, k, w) for k in kinds for w in widths}
  for model in models.values():  # the model's own checks (layers, mlp, conv, ...), as one line
    try:
      jax.eval_shape(functools.partial(init_lm, model), jax.random.key(0))
    except ValueError as e:
      require(False, f"config: {e}")
  total_updates = int(config.num_chunks) * int(config.updates_per_chunk)
  schedule = optax.warmup_cosine_decay_schedule(
    0.0, float(config.learning_rate), max(1, int(config.warmup_fraction * total_updates)),
    total_updates, end_value=0.1 * float(config.learning_rate))
  optimizer = optax.chain(optax.clip_by_global_norm(float(config.grad_clip)),
                          optax.adamw(schedule, weight_decay=float(config.weight_decay)))
  pair_counts = jnp.asarray(pairs, jnp.int32)
  batch_size, seq_len, vocab = int(config.batch_size), int(config.seq_len), int(config.vocab_size)
  task = functools.partial(mqar_batch, vocab_size=vocab, seq_len=seq_len, max_pairs=max(pairs),
                           answers_in_input=bool(config.answers_in_input))

  def train_batch(key):
    k_n, k_data = jax.random.split(key)
    n = pair_counts[jax.random.randint(k_n, (batch_size,), 0, len(pairs))]
    return task(k_data, batch_size, num_pairs=n)

  def loss_fn(params, rest, model, batch):
    logits = model.apply({**rest, "params": params}, batch.inputs)
    return masked_loss_and_accuracy(logits, batch.targets, batch.mask)

  def init(key, hparams):
    del hparams
    keys = jax.random.split(key, len(names) + 1)
    state = {"key": keys[0], "models": {}}
    for name, k in zip(names, keys[1:], strict=True):
      variables = init_lm(models[name], k)
      state["models"][name] = {"variables": variables,
                               "opt_state": optimizer.init(variables["params"])}
    return state

  def update(carry, key):
    batch = train_batch(key)
    new, metrics = {}, {}
    for name in names:
      variables, opt_state = carry[name]["variables"], carry[name]["opt_state"]
      rest = {c: v for c, v in variables.items() if c != "params"}
      (loss, acc), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        variables["params"], rest, models[name], batch)
      change, opt_state = optimizer.update(grads, opt_state, variables["params"])
      params = optax.apply_updates(variables["params"], change)
      new[name] = {"variables": {**rest, "params": params}, "opt_state": opt_state}
      metrics[f"{name}/loss"], metrics[f"{name}/accuracy"] = loss, acc
    return new, metrics

  def step(state):
    key, k_chunk = jax.random.split(state["key"])
    trained, metrics = jax.lax.scan(update, state["models"],
                                    jax.random.split(k_chunk, int(config.updates_per_chunk)))
    return {"key": key, "models": trained}, jax.tree.map(jnp.mean, metrics)

  eval_key = jax.random.key(int(config.eval_seed))
  eval_sets = [task(jax.random.fold_in(eval_key, n), int(config.eval_size), num_pairs=n)
               for n in pairs]

  def finalize(state):
    out = {}
    for name in names:
      variables = state["models"][name]["variables"]
      out[name] = jnp.stack([
        masked_loss_and_accuracy(models[name].apply(variables, b.inputs), b.targets, b.mask)[1]
        for b in eval_sets])
    return out

  def measure(final, info):
    del final, info
    return measure_speed(config, kinds, widths, models, optimizer, train_batch, loss_fn)

  def report(final, history, info):
    return _report(config, final, history, info, kinds, widths, pairs, models)

  return Experiment(init=init, step=step, num_chunks=int(config.num_chunks), report=report,
                    updates_per_chunk=int(config.updates_per_chunk), finalize=finalize,
                    log_members=False, check_config=check_config, measure=measure)


def training_throughput(model, optimizer, train_batch, loss_fn, *, updates: int = 20) -> float:
  """Tokens per second of one model's training updates (a `lax.scan` of `updates`, one seed)."""
  variables = init_lm(model, jax.random.key(0))
  rest = {c: v for c, v in variables.items() if c != "params"}

  @jax.jit
  def run(params, opt_state, key):
    def body(carry, key):
      params, opt_state = carry
      batch = train_batch(key)
      grads, _ = jax.grad(loss_fn, has_aux=True)(params, rest, model, batch)
      change, opt_state = optimizer.update(grads, opt_state, params)
      return (optax.apply_updates(params, change), opt_state), None
    return jax.lax.scan(body, (params, opt_state), jax.random.split(key, updates))[0]

  params = variables["params"]
  opt_state = optimizer.init(params)
  seconds = time_calls(lambda: run(params, opt_state, jax.random.key(1)), repeats=3).seconds
  batch = train_batch(jax.random.key(0))
  return updates * batch.inputs.size / seconds


def sampling_seconds(kind: str, config) -> tuple[float, float]:
  """Seconds to sample 128 sequences of 32 new tokens (8-token prompt), 2 layers, width 64:
  (compile + first call, median of later calls)."""
  attention, variant = KINDS[kind]
  model = TransformerLM(vocab_size=int(config.vocab_size), num_layers=2, width=64,
                        num_heads=int(config.num_heads), attention=attention, variant=variant,
                        max_len=40, block_size=int(config.block_size),
                        num_features=int(config.num_features))
  variables = init_lm(model, jax.random.key(0))
  prompt = jax.random.randint(jax.random.key(1), (128, 8), 0, int(config.vocab_size))
  sample = jax.jit(functools.partial(decoding.generate, model, max_new_tokens=32))
  timing = time_calls(lambda: sample(variables, jax.random.key(2), prompt), repeats=7)
  return timing.first, timing.seconds


def measure_speed(config, kinds, widths, models, optimizer, train_batch, loss_fn) -> dict:
  """The measurement phase: training tokens/s of each kind at the middle width (when
  `config.measure_speed`) and sampling seconds of `config.sampling_kinds`."""
  bench_width = widths[len(widths) // 2]
  training, sampling = {}, {}
  for k in kinds:
    if config.measure_speed:
      training[k] = training_throughput(models[f"{k}_w{bench_width}"], optimizer, train_batch,
                                        loss_fn)
    if k in tuple(config.sampling_kinds):
      first, seconds = sampling_seconds(k, config)
      sampling[k] = {"first_call_seconds": first, "seconds": seconds}
  return {"bench_width": bench_width, "training_tokens_per_s": training, "sampling": sampling,
          "load": machine_load()}


def _report(config, final, history, info, kinds, widths, pairs, models):
  acc = {name: np.asarray(final[name]) for name in final}  # [seeds, pairs]
  rows = []
  for k in kinds:
    for w in widths:
      name = f"{k}_w{w}"
      rows.append([LABELS[k], w, f"{param_count(init_lm(models[name], jax.random.key(0))):,}",
                   *[percent_pm(acc[name][:, i]) for i in range(len(pairs))]])
  caption = (
    "MQAR accuracy on the query positions (%), "
    + (f"mean ± 95% Student-t CI over {info.members.num_seeds} seeds; "
       if info.members.num_seeds > 1 else "1 seed (no CI); ") +
    f"{config.eval_size} fixed evaluation sequences per pair count. Vocabulary "
    f"{config.vocab_size}, sequence length {config.seq_len}, every key queried"
    + (", each query followed by its answer (Zoology's format). " if config.answers_in_input
       else " (answers not in the input). ") +
    f"{config.num_layers}-layer LMs, {config.num_heads} head(s), {config.mlp} ×{config.mlp_ratio}, "
    f"learned positions, "
    + (f"a short causal convolution (width {config.conv_size}) over q, k, v in every layer; "
       if config.conv_size else "no short convolution; ") +
    f"TransNormer: diag attention (block {config.block_size}) below, norm "
    f"attention above; Performer: {config.num_features} positive orthogonal features. Trained "
    f"on a mixture of the pair counts {list(pairs)} (same batches for every model): "
    f"{config.num_chunks * config.updates_per_chunk:,} AdamW updates of {config.batch_size} "
    f"sequences, peak learning rate {config.learning_rate}. Reference points: guessing among "
    f"the {config.vocab_size // 2} value tokens scores {200 / config.vocab_size:.1f} %; guessing "
    "one of the n values present in the sequence, without recall, scores 1/n ("
    + ", ".join(f"{100 / p:.1f} %" for p in pairs) + ")"
    + ("; with the answers in the input, guessing among the values not yet asked scores "
       "H_n / n (" + ", ".join(f"{100 * sum(1 / i for i in range(1, p + 1)) / p:.1f} %"
                               for p in pairs) + ")" if config.answers_in_input else "")
    + "; recall scores 100 %.")
  table = Table("MQAR accuracy vs number of key-value pairs and model width",
                ["model", "width", "parameters", *[f"{p} pairs" for p in pairs]], rows, caption)

  plots = []
  for w in widths:
    plots.append(Plot(f"accuracy_vs_pairs_w{w}", f"MQAR accuracy vs pairs (width {w})",
                      "key-value pairs", "accuracy (%)",
                      [Series.over_seeds(LABELS[k], np.array(pairs), 100 * acc[f"{k}_w{w}"])
                       for k in kinds]))
  if len(widths) > 1:
    plots.append(Plot("accuracy_vs_width", f"MQAR accuracy vs width ({pairs[-1]} pairs)",
                      "model width", "accuracy (%)",
                      [Series.over_seeds(LABELS[k], np.array(widths),
                                         np.stack([100 * acc[f"{k}_w{w}"][:, -1] for w in widths],
                                                  axis=1))
                       for k in kinds], logx=True))
  steps = np.arange(1, config.num_chunks + 1) * config.updates_per_chunk
  plots.append(Plot("train_accuracy", f"Training accuracy (mixture, width {widths[-1]})",
                    "updates", "accuracy (%)",
                    [Series(LABELS[k], steps,
                            100 * np.asarray(history[f"{k}_w{widths[-1]}/accuracy"]).reshape(
                              len(steps), -1).mean(1)) for k in kinds]))

  measured = info.measurements
  bench_width = measured["bench_width"]
  speed_rows = []
  for k in kinds:
    tokens_per_s = measured["training_tokens_per_s"].get(k)
    row = [LABELS[k], "not measured" if tokens_per_s is None else f"{tokens_per_s:,.0f}"]
    sampled = measured["sampling"].get(k)
    row += (["–", "–"] if sampled is None else
            [f"{sampled['seconds']:.3f}", f"{sampled['first_call_seconds']:.1f}"])
    speed_rows.append(row)
  speed = Table(
    "Speed", ["model", f"training tokens/s (width {bench_width}, one seed)",
              "sample 128 × 32 tokens (s)", "sampling compile + 1st call (s)"], speed_rows,
    f"Training: a jitted scan of 20 AdamW updates of {config.batch_size} × {config.seq_len} "
    "tokens of one model, median of 3 (after compiling). Sampling: `decoding.generate`, 128 "
    "sequences, 8-token prompt, 32 new tokens, a 2-layer width-64 model, median of 7. Whole run: "
    f"{info.run_seconds:.0f} s of training for {len(acc)} models × "
    f"{info.members.num_seeds} seeds after {info.compile_seconds:.0f} s of compilation, on a "
    f"{measured['load']} when measured.", timed=True)
  return Report([table, _paired_table(acc, kinds, widths, pairs), speed], plots,
                _summary(acc, kinds, widths, pairs))


def _paired_table(acc, kinds, widths, pairs) -> Table:
  """The pattern's two claims as paired differences over seeds (every model of a seed shares
  its keys and batches): accuracy lost from the fewest to the most pairs at each width, and
  gained from the narrowest to the widest model at the most pairs."""
  def cell(diff):
    s = summarize(100 * diff)
    significant = s.n > 1 and (s.ci_low > 0 or s.ci_high < 0)
    return format_pm(s, 1) + (" *" if significant else "")
  rows = []
  for k in kinds:
    row = [LABELS[k]]
    row += [cell(acc[f"{k}_w{w}"][:, 0] - acc[f"{k}_w{w}"][:, -1]) for w in widths]
    if len(widths) > 1:
      row.append(cell(acc[f"{k}_w{widths[-1]}"][:, -1] - acc[f"{k}_w{widths[0]}"][:, -1]))
    rows.append(row)
  columns = ["model", *[f"{pairs[0]} − {pairs[-1]} pairs, width {w}" for w in widths]]
  if len(widths) > 1:
    columns.append(f"width {widths[-1]} − {widths[0]}, {pairs[-1]} pairs")
  return Table("MQAR: decline with pairs and recovery with width, paired over seeds", columns,
               rows, "Accuracy differences in points, mean ± 95% Student-t CI of the per-seed "
               "differences; * marks an interval that excludes 0.")


def _summary(acc, kinds, widths, pairs) -> str:
  lines = []
  for k in kinds:
    parts = [f"width {w}: " + ", ".join(f"{100 * acc[f'{k}_w{w}'][:, i].mean():.0f}"
                                        for i in range(len(pairs))) for w in widths]
    lines.append(f"- {LABELS[k]} (accuracy % at {list(pairs)} pairs) — " + "; ".join(parts))
  return "Mean accuracy per model:\n\n" + "\n".join(lines)
