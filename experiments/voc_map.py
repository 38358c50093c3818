"""The VOC AP definitions on Padilla's worked example, and `voc_map`'s speed on a synthetic set.

A one-chunk, one-member experiment. `make` reads the worked example's JSON (host I/O, before
anything is compiled) and draws the fixed synthetic benchmark set with a seeded NumPy generator;
`step` evaluates the worked example with `research.metrics.voc_map` under `jit` (both AP
methods, every detection's TP/FP, precision and recall). The measurement phase (`measure`, on the
host; stored in `measurements.json`) times `voc_map` against the per-detection NumPy loop on the
synthetic set (best of a few repeats each, compilation excluded) and compares their APs; `report`
checks the worked example against the published APs and that loop, and formats the timings.

See 'The PASCAL Visual Object Classes (VOC) Challenge' by Everingham, Van Gool, Williams, Winn,
Zisserman (http://host.robots.ox.ac.uk/pascal/VOC/pubs/everingham10.pdf), and 'A Survey on
Performance Metrics for Object-Detection Algorithms' by Padilla, Netto, da Silva
(https://github.com/rafaelpadilla/Object-Detection-Metrics) for the worked example.
"""

from __future__ import annotations

import fractions
import json
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np

from research import metrics
from research.metrics import voc_reference
from research.runtime import ConfigError, Experiment, Plot, Report, Series, Table, require
from research.runtime.timing import time_calls
from research.tasks import detections

METHODS = ("all_points", "11_point")
METHOD_NAMES = {"all_points": "all-point (VOC2010+)", "11_point": "11-point (VOC2007)"}
PUBLISHED_FIELDS = {"all_points": "ap_all_points", "11_point": "ap_11_point"}
# Per-detection outputs of `voc_map` kept in the state (input order; the same for both methods).
DETECTION_FIELDS = ("det_order", "det_tp", "det_fp", "det_precision", "det_recall", "det_gt",
                    "det_iou")


def load_padilla(path) -> tuple[dict, dict]:
  """Reads Padilla's worked example: the JSON as a dict, and `voc_map`'s array arguments.

  Images are numbered in sorted order of their names; detections and ground truths keep the
  file's order (which breaks score ties).

  Raises:
    ConfigError: the file is missing or not the expected JSON.
  """
  path = pathlib.Path(path)
  if not path.is_file():
    raise ConfigError(f"config.fixture: no such file {path}")
  try:
    data = json.loads(path.read_text())
    gts, dets = data["ground_truths"], data["detections"]
    images = sorted({g["image"] for g in gts} | {d["image"] for d in dets})
    problem = dict(
        det_boxes=np.array([d["xyxy"] for d in dets], np.float32).reshape(-1, 4),
        det_scores=np.array([d["score"] for d in dets], np.float32),
        det_labels=np.zeros(len(dets), np.int32),
        det_image_ids=np.array([images.index(d["image"]) for d in dets], np.int32),
        gt_boxes=np.array([g["xyxy"] for g in gts], np.float32).reshape(-1, 4),
        gt_labels=np.zeros(len(gts), np.int32),
        gt_image_ids=np.array([images.index(g["image"]) for g in gts], np.int32))
    float(data["iou_threshold"])
    for field in PUBLISHED_FIELDS.values():
      published_ap(data, field)
  except (KeyError, TypeError, ValueError) as e:
    raise ConfigError(f"config.fixture: {path} is not a worked example in the expected format "
                      f"({type(e).__name__}: {e})") from None
  return data, problem


def published_ap(data: dict, field: str) -> tuple[float, str, float]:
  """The published AP `'356/1449 = 0.245687 (README prints 24.56%)'` -> (exact, fraction,
  printed)."""
  text = data["published"][field]
  fraction = text.split("=")[0].strip()
  printed = float(text.split("prints ")[1].split("%")[0]) / 100
  return float(fractions.Fraction(fraction)), fraction, printed


def check_config(config) -> None:
  """Raises ConfigError (one line) for a config this experiment cannot run.

  Reads the config only; the fixture file is read (and checked) by `make`.
  """
  require(config.num_seeds == 1, f"config.num_seeds must be 1 (the experiment is deterministic), "
          f"got {config.num_seeds}")
  for field in ("synthetic_images", "synthetic_classes", "gt_per_image", "det_per_image",
                "timing_repeats", "reference_repeats"):
    require(int(config[field]) >= 1, f"config.{field} must be ≥ 1, got {config[field]}")
  require(0.0 <= config.iou_threshold <= 1.0,
          f"config.iou_threshold must be in [0, 1], got {config.iou_threshold}")
  require(0.0 <= config.difficult_fraction <= 1.0,
          f"config.difficult_fraction must be in [0, 1], got {config.difficult_fraction}")
  require(config.image_size >= 8, f"config.image_size must be ≥ 8, got {config.image_size}")
  require(config.synthetic_seed >= 0,
          f"config.synthetic_seed must be ≥ 0 (a NumPy seed), got {config.synthetic_seed}")
  require(config.time_target_s > 0, f"config.time_target_s must be > 0, got {config.time_target_s}")
  require(config.speedup_target > 0,
          f"config.speedup_target must be > 0, got {config.speedup_target}")


def make(config) -> Experiment:
  check_config(config)
  data, padilla = load_padilla(config.fixture)
  threshold = float(data["iou_threshold"])
  num_classes = int(config.synthetic_classes)
  synthetic = detections.synthetic_problem(
      np.random.default_rng(int(config.synthetic_seed)), num_images=int(config.synthetic_images),
      num_classes=num_classes, gt_per_image=int(config.gt_per_image),
      det_per_image=int(config.det_per_image), image_size=int(config.image_size),
      difficult_fraction=float(config.difficult_fraction))

  @jax.jit
  def evaluate(problem):
    """Both APs and the per-detection results of the worked example (arrays traced: no checks)."""
    out = {}
    for method in METHODS:
      result = metrics.voc_map(**problem, num_classes=1, iou_threshold=threshold, method=method,
                               pixel_inclusive=True)
      out[f"ap_{method}"] = result.map
    out.update({name: getattr(result, name) for name in DETECTION_FIELDS})
    return out

  padilla_jnp = {k: jnp.asarray(v) for k, v in padilla.items()}
  result_shape = jax.eval_shape(evaluate, padilla_jnp)

  def init(key, hparams):
    del key, hparams
    return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), result_shape)

  def step(state):
    del state
    out = evaluate(padilla_jnp)
    return out, {f"padilla/ap_{m}": out[f"ap_{m}"] for m in METHODS}

  def measure(final, info):
    del final, info
    return measure_speed(config, synthetic, num_classes)

  def report(final, history, info):
    del history
    result = {k: np.asarray(v[0]) for k, v in final.items()}
    tables, plots, notes = _padilla_report(data, padilla, result, threshold)
    speed_table, speed_notes = _speed_report(config, info.measurements)
    return Report([tables[0], speed_table, *tables[1:]], plots, "\n\n".join([notes, speed_notes]))

  return Experiment(init=init, step=step, num_chunks=1, report=report, updates_per_chunk=1,
                    check_config=check_config, measure=measure)


def _padilla_report(data, problem, result, threshold):
  """The worked example's AP table, per-detection table and precision/recall plot."""
  ids = [d["id"] for d in data["detections"]]
  references = {m: voc_reference.voc_map_reference(**problem, num_classes=1,
                                                   iou_threshold=threshold, method=m,
                                                   pixel_inclusive=True) for m in METHODS}
  ap_rows, deviations = [], []
  for m in METHODS:
    exact, fraction, printed = published_ap(data, PUBLISHED_FIELDS[m])
    ours = float(result[f"ap_{m}"])
    deviations.append(abs(ours - exact))
    ap_rows.append([METHOD_NAMES[m], f"{ours:.6f}", f"{references[m].map:.6f}",
                    f"{fraction} = {exact:.6f}", f"{100 * printed:.2f} %",
                    f"{abs(ours - exact):.1e}"])
  reference = references["all_points"]
  same_flags = bool(np.array_equal(result["det_tp"], reference.det_tp)
                    and np.array_equal(result["det_fp"], reference.det_fp))
  curve_gap = float(max(np.max(np.abs(result["det_precision"] - reference.det_precision)),
                        np.max(np.abs(result["det_recall"] - reference.det_recall))))
  ap_table = Table(
      "Padilla's worked example: AP",
      ["AP", "voc_map (JAX)", "NumPy per-detection loop", "published (exact)",
       "published (README)", "|voc_map − published|"], ap_rows,
      f"{len(data['detections'])} detections and {len(data['ground_truths'])} ground truths of "
      f"one class in {len(set(problem['gt_image_ids'].tolist()))} images; IoU ≥ {threshold}, "
      "pixel-inclusive areas ((x2 − x1 + 1)(y2 − y1 + 1)), score ties keep the file order. "
      "The README truncates to 0.01 %.")

  order = result["det_order"]
  tp = result["det_tp"][order]
  fp = result["det_fp"][order]
  cum_tp, cum_fp = np.cumsum(tp), np.cumsum(fp)
  det_rows = []
  for rank, d in enumerate(order):
    det = data["detections"][d]
    det_rows.append([rank + 1, det["id"], det["image"], f"{det['score']:.2f}",
                     f"{result['det_iou'][d]:.3f}", "TP" if tp[rank] else "FP",
                     int(cum_tp[rank]), int(cum_fp[rank]),
                     f"{result['det_precision'][d]:.4f}", f"{result['det_recall'][d]:.4f}"])
  det_table = Table(
      "Padilla's worked example: every detection, ranked",
      ["rank", "detection", "image", "confidence", "IoU with its best GT", "TP/FP", "cum TP",
       "cum FP", "precision", "recall"], det_rows,
      "Ranked by confidence (stable). A detection is TP when its best ground truth of the same "
      f"image has IoU ≥ {threshold} and is not yet matched. TP/FP flags identical to the NumPy "
      f"loop: {'yes' if same_flags else 'NO'}; max |Δ| of precision and recall: "
      f"{curve_gap:.1e}.")

  recall = result["det_recall"][order]
  precision = result["det_precision"][order]
  envelope = np.maximum.accumulate(precision[::-1])[::-1]
  # The envelope as a staircase: p̂_k on (r_{k-1}, r_k]; the all-point AP is the area under it.
  previous = np.concatenate([[0.0], recall[:-1]])
  step = recall > previous  # a false positive adds no width
  stairs_x = np.stack([previous[step], recall[step]], axis=1).ravel()
  stairs_y = np.repeat(envelope[step], 2)
  plot = Plot("padilla_precision_recall", "Padilla's worked example: precision vs recall",
              "recall", "precision",
              [Series("precision after each ranked detection", recall, precision),
               Series("monotone envelope (all-point AP = area under it)", stairs_x, stairs_y)])
  ok = max(deviations) < 1e-6 and same_flags
  ids_tp = " ".join(ids[i] for i in order if result["det_tp"][i])
  notes = (f"**Worked example.** voc_map gives AP = {float(result['ap_all_points']):.6f} "
           f"(all-point) and {float(result['ap_11_point']):.6f} (11-point), "
           f"{'equal to' if ok else 'NOT equal to'} the published 356/1449 and 62/231 to "
           f"{max(deviations):.0e}; true positives in rank order: {ids_tp}.")
  return [ap_table, det_table], [plot], notes


def measure_speed(config, problem, num_classes) -> dict:
  """Times `voc_map` (after one compiling call) and the NumPy loop on the synthetic set, and
  compares their results (the measurement phase)."""
  threshold = float(config.iou_threshold)
  ours = {m: (lambda m=m: metrics.voc_map(**problem, num_classes=num_classes,
                                          iou_threshold=threshold, method=m)) for m in METHODS}
  start = time.perf_counter()
  results = {m: jax.block_until_ready(ours[m]()) for m in METHODS}  # compiles (one shape)
  first_call = time.perf_counter() - start
  ours_time = time_calls(ours["all_points"], repeats=int(config.timing_repeats),
                         statistic=min).seconds
  reference = {m: (lambda m=m: voc_reference.voc_map_reference(
                       **problem, num_classes=num_classes, iou_threshold=threshold, method=m))
               for m in METHODS}
  ref_results = {"all_points": None, "11_point": reference["11_point"]()}
  ref_time = float("inf")
  for _ in range(int(config.reference_repeats)):
    start = time.perf_counter()
    ref_results["all_points"] = reference["all_points"]()
    ref_time = min(ref_time, time.perf_counter() - start)
  return {
      "voc_map_seconds": ours_time, "reference_seconds": ref_time, "first_call_seconds": first_call,
      "max_ap_gap": {m: float(np.nanmax(np.abs(np.asarray(results[m].ap_per_class)
                                               - ref_results[m].ap_per_class))) for m in METHODS},
      "same_nan": all(np.array_equal(np.isnan(np.asarray(results[m].ap_per_class)),
                                     np.isnan(ref_results[m].ap_per_class)) for m in METHODS),
      "same_flags": all(np.array_equal(np.asarray(results[m].det_tp), ref_results[m].det_tp)
                        and np.array_equal(np.asarray(results[m].det_fp), ref_results[m].det_fp)
                        for m in METHODS),
      "voc_map_map": {m: float(results[m].map) for m in METHODS},
      "reference_map": {m: float(ref_results[m].map) for m in METHODS},
      "num_detections": len(problem["det_scores"]), "num_ground_truths": len(problem["gt_labels"]),
      "devices": f"{jax.device_count()} {jax.default_backend().upper()} device(s)"}


def _speed_report(config, measured):
  """The speed table and note from the measurement phase's output."""
  threshold = float(config.iou_threshold)
  num_classes = int(config.synthetic_classes)
  ours_time, ref_time = measured["voc_map_seconds"], measured["reference_seconds"]
  first_call, gaps = measured["first_call_seconds"], measured["max_ap_gap"]
  same_nan, same_flags = measured["same_nan"], measured["same_flags"]
  speedup = ref_time / ours_time
  target_time, target_speedup = float(config.time_target_s), float(config.speedup_target)
  num_det, num_gt = measured["num_detections"], measured["num_ground_truths"]
  ours_map, ref_map = measured["voc_map_map"], measured["reference_map"]
  rows = [
      ["voc_map (JAX, jit)", f"{ours_time:.3f}", f"{speedup:.1f}×",
       f"{ours_map['all_points']:.6f}", f"{ours_map['11_point']:.6f}",
       f"< {target_time} s: {'yes' if ours_time < target_time else 'NO'}; "
       f"≥ {target_speedup:g}×: {'yes' if speedup >= target_speedup else 'NO'}"],
      ["NumPy per-detection loop", f"{ref_time:.3f}", "1.0×",
       f"{ref_map['all_points']:.6f}", f"{ref_map['11_point']:.6f}", ""],
  ]
  identical = same_flags and same_nan and max(gaps.values()) < 1e-6
  table = Table(
      "Speed on a synthetic set",
      ["implementation", "time (s)", "speed-up", "mAP all-point", "mAP 11-point", "targets"],
      rows,
      f"{config.synthetic_images:,} images, {num_classes} classes, {num_gt:,} ground truths "
      f"({config.difficult_fraction:.0%} difficult), {num_det:,} detections, IoU ≥ {threshold}, "
      "integer coordinates, tied scores. Times are the best of "
      f"{config.timing_repeats} (voc_map) and {config.reference_repeats} (loop) repeats of the "
      "all-point evaluation, host inputs to host results, and exclude compilation (voc_map's "
      f"first call, compilation included: {first_call:.2f} s for both methods). Same rules; TP/FP "
      f"flags of every detection identical: {'yes' if same_flags else 'NO'}; max |ΔAP| per "
      f"class: {gaps['all_points']:.1e} (all-point), {gaps['11_point']:.1e} (11-point) "
      f"(float32 vs float64). {measured['devices']}; a busy machine makes both times longer.",
      timed=True)
  notes = (f"**Speed.** On {num_det:,} detections voc_map takes {ours_time:.3f} s after "
           f"compilation, {speedup:.1f}× faster than the per-detection NumPy loop "
           f"({ref_time:.3f} s), with {'identical' if identical else 'DIFFERENT'} TP/FP flags and "
           f"APs equal to {max(gaps.values()):.0e}.")
  return table, notes
