"""Random detection problems for VOC mAP: ground-truth boxes per image and detections jittered
from them plus clutter, with tied scores and difficult boxes (the `voc_map` experiment's speed
table and the metric's tests).
"""

import numpy as np


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
