"""Random Erasing on scikit-learn's digits: a small CNN's clean and occluded test accuracy.

Each member (a seed at one erasing probability `p`) trains `SmallCNN` with Adam; a chunk is a
`lax.scan` of `updates_per_chunk` minibatch updates, each minibatch erased image by image
(`vmap` of `random_erasing` with per-image keys; with probability `p` a rectangle gets uniform
noise). Metrics per chunk: the mean training loss and the clean test accuracy. At the end
(`finalize`, on device) every member is evaluated on the clean test split and on the fixed
occluded copies of it. Seed `i` gets the same key in every arm, so both arms of a seed start from
the same weights and see the same minibatches: their difference is paired.

See 'Random Erasing Data Augmentation' by Zhong, Zheng, Kang, Li, Yang
(https://arxiv.org/abs/1708.04896).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from research import augment, tasks
from research.models.cnn import SmallCNN
from research.runtime import (
    Experiment,
    Plot,
    Report,
    Series,
    Table,
    percent_pm,
    require,
    summarize,
)

NUM_CLASSES = 10
FILLS = {"random": "random", "black": 0.0}
HPARAMS = ("erasing_probability",)


def load_digits_split(test_fraction: float, seed: int):
  """scikit-learn's 8×8 digits in [0, 1], split once, stratified by class (host-side).

  Returns:
    `(train_images [N, 8, 8, 1] float32, train_labels [N] int32, test_images, test_labels)`.
  """
  from sklearn.datasets import load_digits
  from sklearn.model_selection import train_test_split

  digits = load_digits()
  images = (digits.images / 16.0).astype(np.float32)[..., None]
  labels = digits.target.astype(np.int32)
  train, test = train_test_split(np.arange(len(labels)), test_size=test_fraction,
                                 stratify=labels, random_state=seed)
  return images[train], labels[train], images[test], labels[test]


def accuracy(model, params, images, labels, *, batch: int = 512):
  """Top-1 accuracy of `model` on `images` (evaluated in batches of `batch` by a `lax.map`)."""
  num = images.shape[0]
  pad = -num % batch
  images = jnp.pad(images, ((0, pad),) + ((0, 0),) * (images.ndim - 1))
  logits = jax.lax.map(lambda x: model.apply(params, x),
                       images.reshape(-1, batch, *images.shape[1:]))
  predicted = jnp.argmax(logits.reshape(-1, logits.shape[-1])[:num], axis=-1)
  return jnp.mean(predicted == labels)


def check_config(config) -> None:
  """Raises ConfigError (one line) for a config this experiment cannot run (reads it only)."""
  require(config.num_chunks >= 1, f"config.num_chunks must be ≥ 1, got {config.num_chunks}")
  require(config.updates_per_chunk >= 1, "config.updates_per_chunk must be ≥ 1")
  require(config.batch_size >= 1, f"config.batch_size must be ≥ 1, got {config.batch_size}")
  require(config.learning_rate > 0, f"config.learning_rate must be > 0, got "
          f"{config.learning_rate}")
  require(0.0 < config.test_fraction < 1.0, "config.test_fraction must be in (0, 1)")
  require(config.split_seed >= 0,
          f"config.split_seed must be ≥ 0 (a scikit-learn seed), got {config.split_seed}")
  # The sweepable hyperparameter (HPARAMS); the runtime applies this check to every sweep point.
  require(0.0 <= config.erasing_probability <= 1.0,
          f"config.erasing_probability must be in [0, 1], got {config.erasing_probability}")
  scale = tuple(float(s) for s in config.erasing_scale)
  require(len(scale) == 2 and 0.0 < scale[0] <= scale[1] <= 1.0,
          f"config.erasing_scale must be (s_l, s_h) with 0 < s_l ≤ s_h ≤ 1, got {scale}")
  require(0.0 < config.erasing_ratio <= 1.0,
          f"config.erasing_ratio (r_1) must be in (0, 1], got {config.erasing_ratio}")
  fractions = tuple(float(f) for f in config.occlusion_fractions)
  require(len(fractions) >= 1 and all(0.0 <= f <= 1.0 for f in fractions),
          f"config.occlusion_fractions must be values in [0, 1], got {fractions}")
  ratio = tuple(float(r) for r in config.occlusion_ratio)
  require(len(ratio) == 2 and 0.0 < ratio[0] <= ratio[1],
          f"config.occlusion_ratio must be (r_1, r_2) with 0 < r_1 ≤ r_2, got {ratio}")
  require(config.occlusion_fill in FILLS,
          f"config.occlusion_fill must be one of {sorted(FILLS)}, got '{config.occlusion_fill}'")
  require(all(int(f) >= 1 for f in config.features) and config.hidden >= 0,
          "config.features must be positive and config.hidden ≥ 0")


def make(config) -> Experiment:
  check_config(config)
  scale = tuple(float(s) for s in config.erasing_scale)
  fractions = tuple(float(f) for f in config.occlusion_fractions)
  train_x, train_y, test_x, test_y = load_digits_split(float(config.test_fraction),
                                                       int(config.split_seed))
  height, width = train_x.shape[1:3]
  ratio = tuple(float(r) for r in config.occlusion_ratio)
  shapes = [tasks.occlusion_shapes(height, width, f, ratio=ratio) for f in fractions]
  occlusion_key = jax.random.key(int(config.occlusion_seed))
  occluded = jnp.stack([
      tasks.occlusion_set(jax.random.fold_in(occlusion_key, i), test_x, area_fraction=f,
                          ratio=ratio, value=FILLS[config.occlusion_fill], value_range=(0.0, 1.0))
      for i, f in enumerate(fractions)])
  train_x, train_y = jnp.asarray(train_x), jnp.asarray(train_y)
  test_x, test_y = jnp.asarray(test_x), jnp.asarray(test_y)

  model = SmallCNN(NUM_CLASSES, features=tuple(int(f) for f in config.features),
                   hidden=int(config.hidden))
  optimizer = optax.adam(float(config.learning_rate))
  batch, updates = int(config.batch_size), int(config.updates_per_chunk)
  erasing_ratio = (float(config.erasing_ratio), 1.0 / float(config.erasing_ratio))

  def loss_fn(params, images, labels):
    logits = model.apply(params, images)
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

  def init(key, hparams):
    k_params, k_train = jax.random.split(key)
    params = model.init(k_params, jnp.zeros((1, height, width, 1)))
    return {"params": params, "opt_state": optimizer.init(params), "key": k_train,
            "hp": {k: jnp.asarray(hparams[k], jnp.float32) for k in HPARAMS}}

  def step(state):
    p = state["hp"]["erasing_probability"]

    def update(carry, key):
      params, opt_state = carry
      k_batch, k_erase = jax.random.split(key)
      index = jax.random.randint(k_batch, (batch,), 0, train_x.shape[0])
      images = jax.vmap(lambda k, x: augment.random_erasing(
          k, x, probability=p, scale=scale, ratio=erasing_ratio, value="random"))(
              jax.random.split(k_erase, batch), train_x[index])
      loss, grads = jax.value_and_grad(loss_fn)(params, images, train_y[index])
      change, opt_state = optimizer.update(grads, opt_state, params)
      return (optax.apply_updates(params, change), opt_state), loss

    key, k_chunk = jax.random.split(state["key"])
    (params, opt_state), losses = jax.lax.scan(
        update, (state["params"], state["opt_state"]), jax.random.split(k_chunk, updates))
    new_state = {**state, "params": params, "opt_state": opt_state, "key": key}
    return new_state, {"train_loss": losses.mean(),
                       "test_accuracy": accuracy(model, params, test_x, test_y)}

  def finalize(state):
    params = state["params"]
    return {"test_accuracy": accuracy(model, params, test_x, test_y),
            "occluded_accuracy": jax.vmap(lambda x: accuracy(model, params, x, test_y))(occluded)}

  def report(final, history, info):
    return _report(config, final, history, info, fractions, shapes, height * width,
                   len(train_y), len(test_y))

  return Experiment(init=init, step=step, num_chunks=int(config.num_chunks), report=report,
                    hparams={k: float(config[k]) for k in HPARAMS},
                    updates_per_chunk=updates, finalize=finalize, check_config=check_config)


def _report(config, final, history, info, fractions, shapes, pixels, num_train, num_test):
  members = info.members
  points = range(len(members.points))
  probs = [float(members.of_point(members.hparams["erasing_probability"], p)[0])
           for p in points]
  names = [f"p = {q:g}" + (" (no erasing)" if q == 0 else "") for q in probs]
  occluded = np.asarray(final["occluded_accuracy"])  # [members, levels]
  acc = [members.of_point(occluded, p) for p in points]  # each [seeds, levels]
  baseline = 0
  others = [p for p in points if p != baseline]

  rows = []
  for level, (fraction, level_shapes) in enumerate(zip(fractions, shapes, strict=True)):
    area = level_shapes[0][0] * level_shapes[0][1]
    shape_text = ", ".join(f"{h}×{w}" for h, w in level_shapes) if area else "none"
    row = [f"{fraction:.0%}", f"{area}/{pixels} = {area / pixels:.1%} ({shape_text})"]
    row += [percent_pm(a[:, level], 2) for a in acc]
    for p in others:
      row.append(percent_pm(acc[p][:, level] - acc[baseline][:, level], 2))
    rows.append(row)
  diff_columns = [f"Δ {names[p].split(' (')[0]} − {names[baseline].split(' (')[0]} (paired)"
                  for p in others]
  fill = ("uniform noise in [0, 1]" if config.occlusion_fill == "random" else "black (0)")
  occlusion_table = Table(
      "Test accuracy (%) under occlusion, mean ± 95% Student-t CI over seeds",
      ["occlusion (asked)", "occluded pixels (patch shapes)", *names, *diff_columns], rows,
      f"SmallCNN on scikit-learn digits (8×8; {num_train} train / {num_test} test images, "
      f"stratified split seed {config.split_seed}), Adam (lr {config.learning_rate}), "
      f"{config.num_chunks * config.updates_per_chunk:,} updates of {config.batch_size} images, "
      f"{members.num_seeds} seeds per arm. Each test image gets one patch of {fill}, its shape "
      "drawn among those listed and its position uniform (fixed key "
      f"{config.occlusion_seed}). Random Erasing: s ∈ [{config.erasing_scale[0]}, "
      f"{config.erasing_scale[1]}], r ∈ [{config.erasing_ratio}, {1 / config.erasing_ratio:.2f}], "
      "uniform noise fill. Δ pairs seed i of both arms (same initialisation and minibatches). "
      "95% CIs are Student-t intervals of the mean (of Δ: of the per-seed differences).")

  loss = history["train_loss"]  # [chunks, members]
  clean_curve = history["test_accuracy"]
  mid = max(len(clean_curve) // 2 - 1, 0)
  train_rows = []
  for p in points:
    train_rows.append([names[p], f"{members.of_point(loss[-1], p).mean():.4f}",
                       percent_pm(members.of_point(final["test_accuracy"], p), 2),
                       percent_pm(members.of_point(clean_curve[mid], p), 2)])
  train_table = Table(
      "Training", ["arm", "train loss (last chunk, on erased images)", "clean test accuracy (%)",
                   f"clean test accuracy (%) after {(mid + 1) * config.updates_per_chunk:,} "
                   "updates"], train_rows,
      "The training loss is measured on the (erased) training minibatches, so it is higher with "
      f"erasing. {info.run_seconds:.1f} s of training after {info.compile_seconds:.1f} s of "
      f"compilation, {members.num_members} members on {info.num_devices} device(s).")

  actual = np.array([s[0][0] * s[0][1] / pixels for s in shapes])
  plots = [Plot(
      "accuracy_vs_occlusion", "Test accuracy vs occluded area (mean, 95% Student-t CI over seeds)",
      "occluded fraction of the image", "test accuracy (%)",
      [Series.over_seeds(names[p], actual, 100 * acc[p])
       for p in points])]
  updates = np.arange(1, len(clean_curve) + 1) * config.updates_per_chunk
  curves = [np.stack([members.of_point(c, p) for c in clean_curve], axis=1) for p in points]
  plots.append(Plot(
      "clean_accuracy", "Clean test accuracy during training (mean, IQR over seeds)", "updates",
      "test accuracy (%)",
      [Series(names[p], updates, 100 * curves[p].mean(axis=0),
              *(100 * np.quantile(curves[p], [0.25, 0.75], axis=0))) for p in points]))
  clean = [members.of_point(final["test_accuracy"], p) for p in points]
  return Report([occlusion_table, train_table], plots,
                _summary(probs, clean, acc, actual, baseline, others, members.num_seeds))


def _summary(probs, clean, acc, actual, baseline, others, num_seeds) -> str:
  """A README-ready paragraph: does erasing help on occluded digits, and by how much."""
  if not others:
    return (f"One arm only (p = {probs[baseline]:g}): sweep `erasing_probability` (e.g. "
            "'0.0,0.5') to compare with and without Random Erasing.")
  lines = []
  for p in others:
    diff = acc[p] - acc[baseline]
    summaries = [summarize(diff[:, i]) for i in range(diff.shape[1])]
    helped = [f"{actual[i]:.0%}" for i, s in enumerate(summaries) if s.ci_low > 0]
    hurt = [f"{actual[i]:.0%}" for i, s in enumerate(summaries) if s.ci_high < 0]
    verdict = (f"raises test accuracy significantly (95% Student-t CI of the paired difference "
               f"above 0) at occluded areas {', '.join(helped)}" if helped else
               "does not raise test accuracy significantly at any occlusion level")
    if hurt:
      verdict += f", and lowers it significantly at {', '.join(hurt)}"
    lines.append(
        f"**Random Erasing (p = {probs[p]:g}) vs none, {num_seeds} paired seeds.** Erasing "
        f"{verdict}. With {actual[-1]:.0%} of the image occluded: "
        f"{100 * acc[baseline][:, -1].mean():.1f} % → {100 * acc[p][:, -1].mean():.1f} % "
        f"(Δ = {percent_pm(diff[:, -1], 2)} points); clean test images: "
        f"{100 * clean[baseline].mean():.1f} % → {100 * clean[p].mean():.1f} % "
        f"(Δ = {percent_pm(clean[p] - clean[baseline], 2)} points).")
  return "\n\n".join(lines)
