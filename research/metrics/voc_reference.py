"""A plain per-detection NumPy reference of VOC mAP (the devkit's loop), and synthetic problems.

`voc_map_reference` follows the VOC devkit's `voc_eval` line by line (one Python loop over the
ranked detections of each class, float64), with the rules of docs/SPEC.md §6. It is the oracle of
the tests and the baseline of the `voc_map` experiment's speed table; it is written for clarity,
not speed. Random problems to feed it: `research.tasks.detections.synthetic_problem`.
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
