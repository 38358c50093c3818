"""PASCAL VOC detection metrics: box IoU, average precision (AP) and mean AP.

The conventions are those of the VOC devkit (docs/SPEC.md §6); each function's docstring names them.
`voc_map` is vectorised: a jit-compiled core on padded static shapes, with no Python loop over
detections, ground truths or classes.
"""

import functools
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from research import checks

_METHODS = ("all_points", "11_point")


class MAPResult(NamedTuple):
  """The result of `voc_map`: mean AP, AP per class, and every detection's place on its curve.

  Per-detection fields are in the **input order** of the detections. `det_order` lists the input
  indices sorted by class (ascending), then score (descending, stable); within one class this is
  the ranking that draws the precision/recall curve, so class `c`'s curve is
  `det_recall[o], det_precision[o]` with `o = det_order[det_labels[det_order] == c]`, and
  `voc_ap` of that curve gives `ap_per_class[c]`. A detection is a true positive (`det_tp`), a
  false positive (`det_fp`), or ignored (neither: it matched a difficult ground truth).

  Attributes:
    map: scalar, mean of `ap_per_class` over the classes with at least one non-difficult ground
      truth (NaN when no class has one).
    ap_per_class: [C] average precision per class; NaN for a class without non-difficult ground
      truth.
    num_gt_per_class: [C] int, non-difficult ground truths per class (`npos`, the recall
      denominator).
    det_order: [D] int, input indices sorted by (class ascending, score descending, input index).
    det_tp: [D] bool, the detection is a true positive.
    det_fp: [D] bool, the detection is a false positive.
    det_precision: [D] float, `cumTP / (cumTP + cumFP)` over its class's detections ranked up to and
      including it (0 while both counts are 0, which only happens before the first counted one).
    det_recall: [D] float, `cumTP / npos` of its class (NaN when the class has `npos = 0`).
    det_gt: [D] int, index into the ground-truth arrays of the detection's best ground truth (the
      one its IoU was compared against), -1 when its image has no ground truth of its class.
    det_iou: [D] float, the IoU with `det_gt` (0 when `det_gt` is -1).
  """
  map: chex.Array
  ap_per_class: chex.Array
  num_gt_per_class: chex.Array
  det_order: chex.Array
  det_tp: chex.Array
  det_fp: chex.Array
  det_precision: chex.Array
  det_recall: chex.Array
  det_gt: chex.Array
  det_iou: chex.Array


def _pair_iou(a: chex.Array, b: chex.Array, off) -> chex.Array:
  """IoU of boxes `a[..., 4]` and `b[..., 4]` (broadcast), `off` added to sides; 0 if no union."""
  iw = jnp.maximum(jnp.minimum(a[..., 2], b[..., 2]) - jnp.maximum(a[..., 0], b[..., 0]) + off, 0.)
  ih = jnp.maximum(jnp.minimum(a[..., 3], b[..., 3]) - jnp.maximum(a[..., 1], b[..., 1]) + off, 0.)
  inter = iw * ih
  area_a = (a[..., 2] - a[..., 0] + off) * (a[..., 3] - a[..., 1] + off)
  area_b = (b[..., 2] - b[..., 0] + off) * (b[..., 3] - b[..., 1] + off)
  union = area_a + area_b - inter
  positive = union > 0
  return jnp.where(positive, inter / jnp.where(positive, union, 1.), 0.)


def _float_dtype():
  return jnp.dtype(jnp.result_type(float))  # float32, or float64 under jax_enable_x64


def _check_boxes(name: str, boxes, xp=np):
  """Checks [N, 4] boxes; `xp` is np for concrete inputs (values checked too), jnp when traced."""
  boxes = xp.asarray(boxes)
  if boxes.ndim != 2 or boxes.shape[-1] != 4:
    raise ValueError(f"{name} must have shape [N, 4] ([x1, y1, x2, y2] rows), got {boxes.shape}.")
  boxes = boxes.astype(_float_dtype())
  if xp is np:
    finite = np.isfinite(boxes).all(axis=1)
    if not finite.all():
      raise ValueError(f"{name} must be finite; row {int(np.argmin(finite))} is not.")
    bad = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
    if bad.any():
      i = int(np.argmax(bad))
      raise ValueError(f"{name} must satisfy x1 <= x2 and y1 <= y2; row {i} is "
                       f"{boxes[i].tolist()}.")
  return boxes


def box_iou(boxes_a: chex.Array, boxes_b: chex.Array, *,
            pixel_inclusive: bool = False) -> chex.Array:
  """Intersection over union of every pair of boxes.

  .. math::
    \\mathrm{IoU}(a, b) = \\frac{|a \\cap b|}{|a| + |b| - |a \\cap b|},
    \\quad |[x_1, y_1, x_2, y_2]| = (x_2 - x_1 + \\delta)(y_2 - y_1 + \\delta)

  with `δ = 0` for continuous coordinates (default) and `δ = 1` for the VOC devkit's
  pixel-inclusive convention (a box covers pixels `x1..x2` inclusive). The IoU of two empty boxes
  (zero union) is 0. Value checks run only on concrete inputs (not under `jit`).

  See 'The PASCAL Visual Object Classes (VOC) Challenge' by Everingham, Van Gool, Williams, Winn,
  Zisserman (http://host.robots.ox.ac.uk/pascal/VOC/pubs/everingham10.pdf).

  Args:
    boxes_a: [N, 4] boxes `[x1, y1, x2, y2]` with `x1 <= x2`, `y1 <= y2`.
    boxes_b: [M, 4] boxes, same format.
    pixel_inclusive: add 1 to widths and heights (VOC devkit convention).

  Returns:
    [N, M] IoUs in [0, 1].
  """
  xp = np if checks.is_concrete(boxes_a) and checks.is_concrete(boxes_b) else jnp
  boxes_a = _check_boxes("boxes_a", boxes_a, xp)
  boxes_b = _check_boxes("boxes_b", boxes_b, xp)
  return _pair_iou(boxes_a[:, None, :], boxes_b[None, :, :], 1. if pixel_inclusive else 0.)


def voc_ap(recall: chex.Array, precision: chex.Array, *, method: str = "all_points") -> chex.Array:
  """Average precision of one ranked precision/recall curve (VOC devkit `voc_ap`).

  .. math::
    \\text{all\\_points (VOC2010+):}\\quad AP = \\sum_k (r_k - r_{k-1})\\, \\hat p_k,
    \\quad \\hat p_k = \\max_{j \\ge k} p_j,\\ r_0 = 0

    \\text{11\\_point (VOC2007):}\\quad AP = \\frac{1}{11} \\sum_{t \\in \\{0, 0.1, \\dots, 1\\}}
    \\max \\{ p_k : r_k \\ge t \\}\\quad (\\max \\emptyset = 0)

  All-point is the area under the monotone (right-to-left running maximum) envelope, computed as
  the devkit does with the sentinels `r = 0, 1` and `p = 0`. In 11-point, `r_k ≥ t` is tested as
  `10 r_k ≥ t_int − 320 ε` (ε the dtype's machine epsilon) so that a recall of exactly `t` that
  went through a float division still counts; `voc_map` does not go through here and compares
  integers exactly.

  See 'The PASCAL Visual Object Classes (VOC) Challenge' by Everingham, Van Gool, Williams, Winn,
  Zisserman (http://host.robots.ox.ac.uk/pascal/VOC/pubs/everingham10.pdf).

  Args:
    recall: [K] non-decreasing recall after each ranked detection.
    precision: [K] precision after each ranked detection.
    method: "all_points" or "11_point".

  Returns:
    Scalar average precision (0 for an empty curve).
  """
  checks.choice(method, "method", _METHODS)
  xp = np if checks.is_concrete(recall) and checks.is_concrete(precision) else jnp
  recall, precision = xp.asarray(recall), xp.asarray(precision)
  if recall.ndim != 1:
    raise ValueError(f"recall must have rank 1 ([K]), got shape {recall.shape}.")
  if precision.shape != recall.shape:
    raise ValueError(f"precision must have the shape of recall {recall.shape}, got "
                     f"{precision.shape}.")
  # Padding with (last recall, precision 0) changes neither AP and bounds recompiles.
  size = _bucket(recall.shape[0])
  recall = _pad(recall.astype(_float_dtype()), size, recall[-1] if recall.shape[0] else 0, xp)
  return _voc_ap_padded(recall, _pad(precision.astype(_float_dtype()), size, 0, xp), method=method)


@functools.partial(jax.jit, static_argnames="method")
def _voc_ap_padded(recall: chex.Array, precision: chex.Array, *, method: str) -> chex.Array:
  dtype = recall.dtype
  if method == "11_point":
    tol = 320 * jnp.finfo(dtype).eps
    grid = jnp.arange(11, dtype=dtype)
    reached = 10 * recall[:, None] >= grid[None, :] - tol
    best = jnp.max(jnp.where(reached, precision[:, None], 0.), axis=0, initial=0.)
    return jnp.sum(best) / 11
  mrec = jnp.concatenate([jnp.zeros(1, dtype), recall, jnp.ones(1, dtype)])
  mpre = jnp.concatenate([jnp.zeros(1, dtype), precision, jnp.zeros(1, dtype)])
  envelope = _segmented_scan(jnp.maximum, mpre, (), reverse=True)
  return jnp.sum((mrec[1:] - mrec[:-1]) * envelope[1:])


def _segmented_scan(op, x: chex.Array, segments, *, reverse: bool = False) -> chex.Array:
  """Inclusive scan of `op` along axis 0 within runs of equal `segments` (a tuple of [N] keys).

  `reverse=False` gives `op(x[start..k])`, `reverse=True` gives `op(x[k..end])`, for the run
  containing `k` (runs must be contiguous). A Hillis-Steele doubling scan in a `fori_loop`:
  log2(N) steps of O(N) work, exact, and cheap to compile (`lax.associative_scan` costs about a
  second of compilation per call site on the CPU, `jnp.cumsum` half a second at N = 50k).
  """
  n = x.shape[0]
  index = jnp.arange(n)
  step_sign = 1 if reverse else -1

  def body(step, y):
    other = index + step_sign * 2 ** step
    inside = (other >= 0) & (other < n)
    other = jnp.clip(other, 0, n - 1)
    for key in segments:
      inside &= key[other] == key
    inside = inside.reshape((n,) + (1,) * (x.ndim - 1))
    return jnp.where(inside, op(y, y[other]), y)

  return lax.fori_loop(0, max(n - 1, 1).bit_length(), body, x)


def _best_gt(det_boxes, det_labels, det_image_ids, gt_boxes, gt_labels, gt_image_ids, offset):
  """Each detection's best ground truth among those of its image and class (first on ties).

  GTs and detections are sorted together by (label, image, GT-before-detection), stably; the GTs
  that a detection competes for are then one contiguous run `[lo, lo + n)` before it. A loop over
  the slot `j < max n` (a `while_loop`, its bound is data) compares every detection with the j-th
  GT of its run at once: O(D · max GTs per image and class) work, never a D × G matrix.
  """
  num_det, num_gt = det_labels.shape[0], gt_labels.shape[0]  # both >= 1 after padding
  total = num_gt + num_det
  labels = jnp.concatenate([gt_labels, det_labels])
  images = jnp.concatenate([gt_image_ids, det_image_ids])
  is_det = jnp.concatenate([jnp.zeros(num_gt, jnp.int32), jnp.ones(num_det, jnp.int32)])
  sorted_labels, sorted_images, sorted_is_det, source = lax.sort(
      (labels, images, is_det, jnp.arange(total, dtype=jnp.int32)), num_keys=3, is_stable=True)
  position = jnp.arange(total, dtype=jnp.int32)
  # Running max within each (label, image) run of [-position, GT end]: -(run start) and the end
  # of the run's GTs seen so far (GTs come first, so at a detection, all of its run's GTs).
  scanned = _segmented_scan(
      jnp.maximum, jnp.stack([-position, jnp.where(sorted_is_det == 0, position + 1, 0)], axis=1),
      (sorted_labels, sorted_images))
  det_position = jnp.zeros(total, jnp.int32).at[source].set(position)[num_gt:]
  lo = -scanned[det_position, 0]
  count = jnp.maximum(scanned[det_position, 1] - lo, 0)

  def body(j, carry):
    best_iou, best_gt = carry
    valid = j < count
    g = jnp.where(valid, source[jnp.minimum(lo + j, total - 1)], 0)
    iou = _pair_iou(det_boxes, gt_boxes[g], offset)
    better = valid & (iou > best_iou)  # strict: the first GT (input order) wins ties
    return jnp.where(better, iou, best_iou), jnp.where(better, g, best_gt)

  init = (jnp.full(num_det, -1., det_boxes.dtype), jnp.full(num_det, -1, jnp.int32))
  best_iou, best_gt = lax.fori_loop(0, jnp.max(count), body, init)
  return jnp.where(best_gt >= 0, best_iou, 0.), best_gt


@functools.partial(jax.jit, static_argnames="num_classes")
def _voc_map_padded(det_boxes, det_scores, det_labels, det_image_ids, gt_boxes, gt_labels,
                  gt_image_ids, gt_difficult, iou_threshold, offset, *, num_classes):
  """`voc_map` on validated arrays padded to size buckets, both AP methods; padded rows
  (labels >= C) drop out. Jitted here (unlike the rest of the library) because `voc_map` checks
  and pads concrete inputs on the host: the buckets bound the compilations of eager callers.

  Options are traced, not static (`offset` is the pixel-inclusive 1 or 0), and both methods are
  computed (a few ms), so one compilation per shape serves every option.
  """
  num_det = det_labels.shape[0]
  dtype = det_boxes.dtype
  det_iou, det_gt = _best_gt(det_boxes, det_labels, det_image_ids, gt_boxes, gt_labels,
                             gt_image_ids, offset)
  npos = jax.ops.segment_sum((~gt_difficult).astype(jnp.int32), gt_labels, num_classes)

  # Rank per class: score descending, stable (-0.0 is made +0.0 so that it ties with 0.0).
  scores = jnp.where(det_scores == 0, jnp.zeros_like(det_scores), det_scores)
  label, _, order = lax.sort((det_labels, -scores, jnp.arange(num_det, dtype=jnp.int32)),
                             num_keys=2, is_stable=True)
  rank = jnp.arange(num_det, dtype=jnp.int32)
  gt = det_gt[order]
  has_gt = gt >= 0
  gt_safe = jnp.where(has_gt, gt, 0)
  above = has_gt & (det_iou[order] >= iou_threshold)
  difficult = gt_difficult[gt_safe]
  ignored = above & difficult
  candidate = above & ~difficult
  # Sequential "already matched -> duplicate" rule, in parallel: a GT is matched by the first
  # (best-ranked) candidate that chose it, so exactly that candidate is the true positive.
  first = jnp.full(gt_labels.shape[0], num_det, jnp.int32).at[gt_safe].min(
      jnp.where(candidate, rank, num_det))
  tp = candidate & (first[gt_safe] == rank)
  fp = ~tp & ~ignored

  # Cumulative counts within each class's run of the ranking.
  cum = _segmented_scan(jnp.add, jnp.stack([tp, fp], axis=1).astype(jnp.int32), (label,))
  cum_tp, cum_fp = cum[:, 0], cum[:, 1]
  class_npos = npos[jnp.minimum(label, num_classes - 1)]
  recall = jnp.where(class_npos > 0, cum_tp / jnp.maximum(class_npos, 1), jnp.nan).astype(dtype)
  counted = cum_tp + cum_fp
  precision = jnp.where(counted > 0, cum_tp / jnp.maximum(counted, 1), 0.).astype(dtype)

  # All-point: recall steps by 1/npos exactly at true positives, where the envelope is taken.
  envelope = _segmented_scan(jnp.maximum, precision, (label,), reverse=True)
  ap_all_points = jax.ops.segment_sum(jnp.where(tp, envelope, 0.), label, num_classes)
  ap_all_points = ap_all_points / jnp.maximum(npos, 1)
  # 11-point: r_k >= t/10  <=>  10 cumTP_k >= t npos, in integers.
  grid = jnp.arange(11, dtype=jnp.int32)
  reached = 10 * cum_tp[:, None] >= grid[None, :] * class_npos[:, None]
  best = jax.ops.segment_max(jnp.where(reached, precision[:, None], 0.), label, num_classes)
  ap_11_point = jnp.sum(jnp.maximum(best, 0.), axis=1) / 11

  def class_mean(ap):
    ap = jnp.where(npos > 0, ap, jnp.nan).astype(dtype)
    num_valid = jnp.sum(npos > 0)
    total = jnp.sum(jnp.where(npos > 0, ap, 0.))
    return jnp.where(num_valid > 0, total / jnp.maximum(num_valid, 1), jnp.nan).astype(dtype), ap

  def unsort(x):
    return jnp.zeros_like(x).at[order].set(x)

  per_detection = MAPResult(
      map=None, ap_per_class=None, num_gt_per_class=npos, det_order=order, det_tp=unsort(tp),
      det_fp=unsort(fp), det_precision=unsort(precision), det_recall=unsort(recall),
      det_gt=det_gt, det_iou=det_iou)
  return {"all_points": class_mean(ap_all_points), "11_point": class_mean(ap_11_point)}, \
      per_detection


def _bucket(n: int) -> int:
  """`n` rounded up to one of 8 sizes per octave (at least 32): bounds recompiles and padding."""
  if n <= 32:
    return 32
  step = 1 << max(n.bit_length() - 4, 0)
  return -(-n // step) * step


def _check_vector(name: str, x, length: int, xp, *, integer: bool = False):
  x = xp.asarray(x)
  if x.ndim != 1:
    raise ValueError(f"{name} must have rank 1, got shape {x.shape}.")
  if x.shape[0] != length:
    raise ValueError(f"{name} has {x.shape[0]} entries, expected {length} (one per box).")
  if integer and not np.issubdtype(x.dtype, np.integer):
    raise ValueError(f"{name} must have an integer dtype, got {x.dtype}.")
  return x


def _check_labels(name: str, labels, num_classes: int, xp) -> None:
  if xp is np and labels.size and (labels.min() < 0 or labels.max() >= num_classes):
    bad = labels[(labels < 0) | (labels >= num_classes)][0]
    raise ValueError(f"{name} must lie in [0, num_classes={num_classes}), found {bad}.")


def _int32_image_ids(det_image_ids, gt_image_ids, xp):
  """Image ids as int32; concrete ids outside the int32 range are mapped to dense ids."""
  info = np.iinfo(np.int32)
  ids = (det_image_ids, gt_image_ids)
  if xp is np and not all(x.size == 0 or (x.min() >= info.min and x.max() <= info.max)
                          for x in ids):
    _, dense = np.unique(np.concatenate(ids), return_inverse=True)
    ids = dense[:det_image_ids.size], dense[det_image_ids.size:]
  return tuple(x.astype(np.int32) for x in ids)


def _pad(x, size: int, fill, xp):
  return xp.pad(x, [(0, size - x.shape[0])] + [(0, 0)] * (x.ndim - 1), constant_values=fill)


def _unpad(result: MAPResult, num_det: int, num_classes: int, xp) -> MAPResult:
  """Drops the padding; concrete results are sliced on the host (no compilation per size)."""
  if xp is np:
    result = jax.tree.map(np.asarray, result)
  result = MAPResult(result.map, result.ap_per_class[:num_classes],
                     result.num_gt_per_class[:num_classes], *(x[:num_det] for x in result[3:]))
  return jax.tree.map(jnp.asarray, result) if xp is np else result


def voc_map(det_boxes: chex.Array, det_scores: chex.Array, det_labels: chex.Array,
            det_image_ids: chex.Array, gt_boxes: chex.Array, gt_labels: chex.Array,
            gt_image_ids: chex.Array, gt_difficult: chex.Array | None = None, *,
            num_classes: int, iou_threshold: float = 0.5, method: str = "all_points",
            pixel_inclusive: bool = False) -> MAPResult:
  """PASCAL VOC mean average precision of a set of detections (VOC devkit rules, vectorised).

  .. math::
    \\mathrm{mAP} = \\frac{1}{|\\{c : n_c > 0\\}|} \\sum_{c : n_c > 0} AP_c,
    \\quad r_k = \\frac{\\mathrm{TP}_k}{n_c},\\quad p_k = \\frac{\\mathrm{TP}_k}
    {\\mathrm{TP}_k + \\mathrm{FP}_k}

  with `TP_k`, `FP_k` counted over the class's `k` best-scored detections, `n_c` its number of
  non-difficult ground truths, and `AP_c` from `voc_ap` (`method`). The rules (docs/SPEC.md §6):

  - Per class, detections are ranked by score, descending and **stable**: equal scores keep their
    input order (0.0 and -0.0 tie; negative scores are fine).
  - Each detection takes the ground truth (GT) of its image and class with the highest IoU,
    among all of them, matched or difficult included; the first one (input order) on ties.
  - IoU ≥ `iou_threshold` (a match at exactly the threshold counts): a difficult GT → the
    detection is ignored (neither TP nor FP); a GT already matched by a better-ranked detection
    → FP (duplicate); else TP and the GT becomes matched. Below the threshold, or no GT of its
    class in its image → FP.
  - Recall divides by the non-difficult GTs; precision before any counted detection is 0.
  - 11-point compares recall with the grid exactly in integers (`10·TP ≥ t·n_c`); all-point is the
    area under the monotone envelope `p̂_k = max_{j≥k} p_j`.
  - Classes without non-difficult GT get AP NaN and are left out of the mean (mAP is NaN when no
    class has GT). A class with GT and no detection has AP 0.
  - Boxes are continuous by default (`area = (x2−x1)(y2−y1)`); `pixel_inclusive=True` is the
    devkit's `+1` convention.

  The sequential "already matched" rule is computed in parallel: a detection's best GT does not
  depend on which GTs are matched, and a GT becomes matched only through a detection that chose it
  with IoU ≥ threshold and is not difficult, so the true positive of a GT is exactly the
  best-ranked such detection (a scatter-min of ranks per GT). A detection is compared only with
  the GTs of its image and class (one sort groups them; no D × G matrix). Numbers of detections,
  GTs and classes are padded to one of 8 sizes per octave (at least 32) before the jit-compiled
  core, which computes both AP methods and traces the threshold and the box convention, so one
  compilation serves every option. Value checks (box order, NaN scores, label range) run only on
  concrete inputs; under an outer `jit` they are skipped and `num_classes`, `method` and
  `pixel_inclusive` must be static.

  See 'The PASCAL Visual Object Classes (VOC) Challenge' by Everingham, Van Gool, Williams, Winn,
  Zisserman (http://host.robots.ox.ac.uk/pascal/VOC/pubs/everingham10.pdf).

  Args:
    det_boxes: [D, 4] detected boxes `[x1, y1, x2, y2]`.
    det_scores: [D] confidences (not NaN).
    det_labels: [D] int classes in `[0, num_classes)`.
    det_image_ids: [D] int image of each detection (any integers).
    gt_boxes: [G, 4] ground-truth boxes.
    gt_labels: [G] int classes in `[0, num_classes)`.
    gt_image_ids: [G] int image of each ground truth.
    gt_difficult: optional [G] bool (or 0/1) VOC "difficult" flags; None means none is.
    num_classes: number of classes C.
    iou_threshold: minimum IoU of a match, in [0, 1].
    method: "all_points" (VOC2010+) or "11_point" (VOC2007).
    pixel_inclusive: use the devkit's pixel-inclusive box areas.

  Returns:
    A `MAPResult`: `map`, `ap_per_class` [C], `num_gt_per_class` [C], and per detection (input
    order) TP/FP flags, precision, recall, best GT and its IoU, with the ranking `det_order`.
  """
  checks.choice(method, "method", _METHODS)
  num_classes = checks.static_int(num_classes, "num_classes")
  if checks.is_concrete(iou_threshold):
    threshold = np.asarray(iou_threshold)
    if threshold.ndim or not 0 <= float(threshold) <= 1:
      raise ValueError(f"iou_threshold must be a scalar in [0, 1], got {iou_threshold!r}.")
  arrays = (det_boxes, det_scores, det_labels, det_image_ids, gt_boxes, gt_labels, gt_image_ids,
            gt_difficult)
  # Concrete inputs are checked and padded on the host; traced ones (an outer jit) are not checked.
  xp = np if all(checks.is_concrete(x) for x in arrays) else jnp
  det_boxes = _check_boxes("det_boxes", det_boxes, xp)
  gt_boxes = _check_boxes("gt_boxes", gt_boxes, xp)
  num_det, num_gt = det_boxes.shape[0], gt_boxes.shape[0]
  det_scores = _check_vector("det_scores", det_scores, num_det, xp).astype(det_boxes.dtype)
  if xp is np and np.isnan(det_scores).any():
    raise ValueError(f"det_scores must not be NaN; entry {int(np.argmax(np.isnan(det_scores)))} "
                     "is.")
  det_labels = _check_vector("det_labels", det_labels, num_det, xp, integer=True)
  det_image_ids = _check_vector("det_image_ids", det_image_ids, num_det, xp, integer=True)
  gt_labels = _check_vector("gt_labels", gt_labels, num_gt, xp, integer=True)
  gt_image_ids = _check_vector("gt_image_ids", gt_image_ids, num_gt, xp, integer=True)
  if gt_difficult is None:
    gt_difficult = xp.zeros(num_gt, bool)
  else:
    gt_difficult = _check_vector("gt_difficult", gt_difficult, num_gt, xp)
    if xp is np and not np.isin(gt_difficult, (0, 1)).all():
      raise ValueError("gt_difficult must hold booleans (or 0/1).")
    gt_difficult = gt_difficult != 0
  _check_labels("det_labels", det_labels, num_classes, xp)
  _check_labels("gt_labels", gt_labels, num_classes, xp)
  det_image_ids, gt_image_ids = _int32_image_ids(det_image_ids, gt_image_ids, xp)

  dtype = det_boxes.dtype
  det_size, gt_size, class_size = _bucket(num_det), _bucket(num_gt), _bucket(num_classes)
  # Padded classes have no GT (NaN AP, left out of the mean); padded detections (label
  # class_size) and GTs (class_size + 1) never meet, rank last and drop out.
  aps, result = _voc_map_padded(
      _pad(det_boxes, det_size, 0, xp), _pad(det_scores, det_size, 0, xp),
      _pad(det_labels.astype(np.int32), det_size, class_size, xp),
      _pad(det_image_ids, det_size, 0, xp), _pad(gt_boxes, gt_size, 0, xp),
      _pad(gt_labels.astype(np.int32), gt_size, class_size + 1, xp),
      _pad(gt_image_ids, gt_size, 0, xp), _pad(gt_difficult, gt_size, False, xp),
      jnp.asarray(iou_threshold, dtype), jnp.asarray(1. if pixel_inclusive else 0., dtype),
      num_classes=class_size)
  mean_ap, ap_per_class = aps[method]
  result = result._replace(map=mean_ap, ap_per_class=ap_per_class)
  return _unpad(result, num_det, num_classes, xp)
