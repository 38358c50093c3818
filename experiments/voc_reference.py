"""A plain per-detection NumPy reference of VOC mAP (the devkit's loop), and synthetic problems.

`voc_map_reference` follows the VOC devkit's `voc_eval` line by line (one Python loop over the
ranked detections of each class, float64), with the rules of docs/SPEC.md §6. It is the oracle of
the tests and the baseline of the speed benchmark; it is written for clarity, not speed.
(`tests/metrics/reference.py` re-exports this module for the tests.)
"""

from typing import NamedTuple

import numpy as np


class ReferenceResult(NamedTuple):
  map: float
  ap_per_class: np.ndarray   # [C], NaN for a class without non-difficult GT
  num_gt_per_class: np.ndarray  # [C]
  det_tp: np.ndarray         # [D] bool, input order
  det_fp: np.ndarray         # [D] bool, input order
  det_precision: np.ndarray  # [D] precision after this detection in its class's ranking
  det_recall: np.ndarray     # [D]


def iou_one_to_many(box, boxes, pixel_inclusive=False):
  """IoU of one box [4] with boxes [M, 4], float64."""
  off = 1.0 if pixel_inclusive else 0.0
  iw = np.maximum(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]) + off, 0.0)
  ih = np.maximum(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]) + off, 0.0)
  inter = iw * ih
  area = (box[2] - box[0] + off) * (box[3] - box[1] + off)
  areas = (boxes[:, 2] - boxes[:, 0] + off) * (boxes[:, 3] - boxes[:, 1] + off)
  union = area + areas - inter
  return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def ap_from_counts(tp, fp, npos, method):
  """AP of one class from its ranked 0/1 TP and FP flags (devkit `voc_ap`)."""
  cum_tp, cum_fp = np.cumsum(tp), np.cumsum(fp)
  rec = cum_tp / npos
  prec = cum_tp / np.maximum(cum_tp + cum_fp, np.finfo(np.float64).eps)
  if method == "11_point":
    ap = 0.0
    for k in range(11):  # r >= k/10, exactly in integers
      reached = 10 * cum_tp >= k * npos
      ap += (prec[reached].max() if reached.any() else 0.0) / 11
    return ap, rec, prec
  mrec = np.concatenate([[0.0], rec, [1.0]])
  mpre = np.concatenate([[0.0], prec, [0.0]])
  for i in range(len(mpre) - 2, -1, -1):
    mpre[i] = max(mpre[i], mpre[i + 1])
  i = np.where(mrec[1:] != mrec[:-1])[0]
  return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1])), rec, prec


def voc_map_reference(det_boxes, det_scores, det_labels, det_image_ids, gt_boxes, gt_labels,
                      gt_image_ids, gt_difficult=None, *, num_classes, iou_threshold=0.5,
                      method="all_points", pixel_inclusive=False):
  """VOC mAP with a Python loop over ranked detections, per class (the devkit's algorithm)."""
  det_boxes = np.asarray(det_boxes, np.float64).reshape(-1, 4)
  det_scores = np.asarray(det_scores, np.float64)
  det_labels, det_image_ids = np.asarray(det_labels), np.asarray(det_image_ids)
  gt_boxes = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
  gt_labels, gt_image_ids = np.asarray(gt_labels), np.asarray(gt_image_ids)
  num_det = len(det_scores)
  if gt_difficult is None:
    gt_difficult = np.zeros(len(gt_labels), bool)
  gt_difficult = np.asarray(gt_difficult, bool)
  ap = np.full(num_classes, np.nan)
  npos_all = np.zeros(num_classes, np.int64)
  det_tp, det_fp = np.zeros(num_det, bool), np.zeros(num_det, bool)
  det_precision, det_recall = np.zeros(num_det), np.zeros(num_det)
  for c in range(num_classes):
    gts = np.flatnonzero(gt_labels == c)
    # Per image: its GTs of class c, in input order, and their matched flags.
    by_image = {}
    for g in gts:
      by_image.setdefault(gt_image_ids[g], []).append(g)
    matched = {g: False for g in gts}
    npos = int(np.sum(~gt_difficult[gts]))
    npos_all[c] = npos
    dets = np.flatnonzero(det_labels == c)
    dets = dets[np.argsort(-det_scores[dets], kind="stable")]
    tp, fp = np.zeros(len(dets)), np.zeros(len(dets))
    for k, d in enumerate(dets):
      candidates = by_image.get(det_image_ids[d], [])
      if not candidates:
        fp[k] = 1
        continue
      ious = iou_one_to_many(det_boxes[d], gt_boxes[candidates], pixel_inclusive)
      j = int(np.argmax(ious))  # first on ties
      g = candidates[j]
      if ious[j] >= iou_threshold:
        if gt_difficult[g]:
          continue  # ignored
        if matched[g]:
          fp[k] = 1
        else:
          tp[k] = 1
          matched[g] = True
      else:
        fp[k] = 1
    if npos > 0:
      ap[c], rec, prec = ap_from_counts(tp, fp, npos, method)
      det_recall[dets] = rec
    else:
      det_recall[dets] = np.nan
      cum_tp, cum_fp = np.cumsum(tp), np.cumsum(fp)
      prec = cum_tp / np.maximum(cum_tp + cum_fp, np.finfo(np.float64).eps)
    det_precision[dets] = prec
    det_tp[dets], det_fp[dets] = tp > 0, fp > 0
  valid = npos_all > 0
  mean_ap = float(np.mean(ap[valid])) if valid.any() else float("nan")
  return ReferenceResult(mean_ap, ap, npos_all, det_tp, det_fp, det_precision, det_recall)


def synthetic_problem(rng, *, num_images, num_classes, gt_per_image, det_per_image,
                      image_size=64, difficult_fraction=0.1, integer_coordinates=True):
  """A random detection problem: GTs per image, detections jittered from them plus clutter.

  About half of the detections are GT boxes moved by a few pixels (some duplicates), the rest
  random boxes; scores are drawn from a few values so that ties occur. Integer coordinates keep
  IoUs exact rationals, so float32 and float64 implementations agree at the threshold.

  Returns:
    A dict of the keyword arguments of `voc_map` except `num_classes` and the options.
  """
  num_gt = num_images * gt_per_image
  num_det = num_images * det_per_image

  def random_boxes(n):
    xy = rng.uniform(0, image_size * 0.8, (n, 2))
    wh = rng.uniform(1, image_size * 0.4, (n, 2))
    boxes = np.concatenate([xy, xy + wh], axis=1)
    return np.round(boxes) if integer_coordinates else boxes

  gt_boxes = random_boxes(num_gt)
  gt_labels = rng.integers(0, num_classes, num_gt)
  gt_image_ids = np.repeat(np.arange(num_images), gt_per_image)
  gt_difficult = rng.random(num_gt) < difficult_fraction
  # Half of the detections jitter a GT box (same image and class), the rest are clutter.
  source = rng.integers(0, num_gt, num_det)
  from_gt = rng.random(num_det) < 0.5
  if integer_coordinates:
    jitter = rng.integers(-3, 4, (num_det, 4))
  else:
    jitter = rng.normal(0, 2, (num_det, 4))
  det_boxes = np.where(from_gt[:, None], gt_boxes[source] + jitter, random_boxes(num_det))
  det_boxes = np.concatenate([np.minimum(det_boxes[:, :2], det_boxes[:, 2:]),
                              np.maximum(det_boxes[:, :2], det_boxes[:, 2:])], axis=1)
  det_labels = np.where(from_gt, gt_labels[source], rng.integers(0, num_classes, num_det))
  det_image_ids = np.where(from_gt, gt_image_ids[source], rng.integers(0, num_images, num_det))
  det_scores = np.round(rng.random(num_det), 2)
  return dict(det_boxes=det_boxes, det_scores=det_scores, det_labels=det_labels,
              det_image_ids=det_image_ids, gt_boxes=gt_boxes, gt_labels=gt_labels,
              gt_image_ids=gt_image_ids, gt_difficult=gt_difficult)
