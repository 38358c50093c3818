"""Tests of research.metrics: box IoU, AP and VOC mAP against hand examples, Padilla's worked
example and a per-detection NumPy loop (research/metrics/voc_reference.py)."""

import fractions
import json
import pathlib

import hypothesis
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import strategies as st

from research import metrics
from research.metrics.voc_reference import voc_map_reference
from research.tasks.detections import synthetic_problem

FIXTURE = pathlib.Path(__file__).resolve().parents[2] / "data" / "padilla_example.json"
METHODS = ("all_points", "11_point")


def _assert_matches_reference(result, expected):
  np.testing.assert_allclose(result.ap_per_class, expected.ap_per_class, atol=1e-6)
  np.testing.assert_allclose(result.map, expected.map, atol=1e-6)
  np.testing.assert_array_equal(result.num_gt_per_class, expected.num_gt_per_class)
  np.testing.assert_array_equal(result.det_tp, expected.det_tp)
  np.testing.assert_array_equal(result.det_fp, expected.det_fp)
  np.testing.assert_allclose(result.det_precision, expected.det_precision, atol=1e-6)
  np.testing.assert_allclose(result.det_recall, expected.det_recall, atol=1e-6)


def _one_class(det_boxes, det_scores, gt_boxes, gt_difficult=None, **kwargs):
  """A single-image, single-class problem."""
  num_det, num_gt = len(det_scores), len(gt_boxes)
  return metrics.voc_map(
      np.asarray(det_boxes, np.float32).reshape(-1, 4), np.asarray(det_scores, np.float32),
      np.zeros(num_det, int), np.zeros(num_det, int),
      np.asarray(gt_boxes, np.float32).reshape(-1, 4), np.zeros(num_gt, int),
      np.zeros(num_gt, int), gt_difficult, num_classes=1, **kwargs)


# --- box_iou ---------------------------------------------------------------------------------


def test_box_iou_by_hand_both_conventions():
  a = np.array([[0., 0., 2., 2.], [0., 0., 1., 1.]])
  b = np.array([[1., 1., 3., 3.], [0., 0., 2., 2.], [5., 5., 6., 6.]])
  # Continuous: the overlap of the first pair is 1 x 1, the union 4 + 4 - 1.
  np.testing.assert_allclose(metrics.box_iou(a, b),
                             [[1 / 7, 1., 0.], [0., 1 / 4, 0.]], rtol=1e-6)
  # Pixel-inclusive: [0, 2] covers 3 pixels, so the first pair overlaps 2 x 2 of 9 + 9 - 4;
  # [0, 1] is 2 x 2 pixels and shares pixel (1, 1) with [1, 3]: 1 of 4 + 9 - 1.
  np.testing.assert_allclose(metrics.box_iou(a, b, pixel_inclusive=True),
                             [[4 / 14, 1., 0.], [1 / 12, 4 / 9, 0.]], rtol=1e-6)


def test_box_iou_degenerate_boxes_and_shapes():
  point = np.array([[1., 1., 1., 1.]])
  assert metrics.box_iou(point, point)[0, 0] == 0.  # empty union -> 0
  assert metrics.box_iou(point, point, pixel_inclusive=True)[0, 0] == 1.  # one pixel
  assert metrics.box_iou(np.zeros((0, 4)), np.ones((3, 4))).shape == (0, 3)
  iou = jax.jit(metrics.box_iou)(np.array([[0., 0., 2., 1.]]), np.array([[0., 0., 1., 1.]]))
  assert iou[0, 0] == 0.5


# --- voc_ap ----------------------------------------------------------------------------------


def test_voc_ap_by_hand():
  recall = np.array([0.5, 0.5, 1.0])
  precision = np.array([1.0, 0.5, 2 / 3])
  # Envelope [1, 2/3, 2/3]: 0.5 * 1 + 0.5 * 2/3.
  np.testing.assert_allclose(metrics.voc_ap(recall, precision), 0.5 + 1 / 3, rtol=1e-6)
  # t = 0 .. 0.5 reach precision 1 (6 points), t = 0.6 .. 1 only 2/3 (5 points).
  np.testing.assert_allclose(metrics.voc_ap(recall, precision, method="11_point"),
                             (6 + 5 * 2 / 3) / 11, rtol=1e-6)
  np.testing.assert_allclose(jax.jit(metrics.voc_ap)(recall, precision), 0.5 + 1 / 3, rtol=1e-6)


def test_voc_ap_edges():
  assert metrics.voc_ap(np.zeros(0), np.zeros(0)) == 0.
  assert metrics.voc_ap(np.zeros(0), np.zeros(0), method="11_point") == 0.
  # Recall 3/10 computed in float32 reaches the 0.3 grid point: 4 points of precision 1.
  recall = np.float32(3) / np.float32(10)
  np.testing.assert_allclose(
      metrics.voc_ap(np.array([recall]), np.array([1.]), method="11_point"), 4 / 11, rtol=1e-6)
  # Precision rising after a drop: the envelope lifts the earlier point.
  np.testing.assert_allclose(
      metrics.voc_ap(np.array([0.25, 0.25, 0.5]), np.array([1., 0.5, 2 / 3])),
      0.25 + 0.25 * 2 / 3, rtol=1e-6)


# --- The worked example ----------------------------------------------------------------------


def _padilla():
  data = json.loads(FIXTURE.read_text())
  images = sorted({g["image"] for g in data["ground_truths"]} | {d["image"] for d in
                                                                   data["detections"]})
  gts, dets = data["ground_truths"], data["detections"]
  problem = dict(
      det_boxes=np.array([d["xyxy"] for d in dets], np.float32),
      det_scores=np.array([d["score"] for d in dets], np.float32),
      det_labels=np.zeros(len(dets), int),
      det_image_ids=np.array([images.index(d["image"]) for d in dets]),
      gt_boxes=np.array([g["xyxy"] for g in gts], np.float32),
      gt_labels=np.zeros(len(gts), int),
      gt_image_ids=np.array([images.index(g["image"]) for g in gts]))
  return data, problem


# The README's table: the ranking (ties by file order) and each detection's TP/FP at IoU >= 0.3.
PADILLA_RANKING = "R Y J A U C M F D B H P E X N T K Q V I L S G O".split()
PADILLA_TP = set("R J B P E X G".split())


@pytest.mark.parametrize("method, field", [("all_points", "ap_all_points"),
                                           ("11_point", "ap_11_point")])
def test_padilla_worked_example(method, field):
  data, problem = _padilla()
  result = metrics.voc_map(**problem, num_classes=1, iou_threshold=data["iou_threshold"],
                           method=method, pixel_inclusive=True)
  published = data["published"][field]
  exact = float(fractions.Fraction(published.split("=")[0].strip()))
  printed = float(published.split("prints ")[1].rstrip("%)")) / 100
  np.testing.assert_allclose(result.map, exact, atol=1e-6)
  np.testing.assert_allclose(result.ap_per_class[0], exact, atol=1e-6)
  assert abs(float(result.map) - printed) < 1e-4  # the README truncates to 0.01 %
  ids = [d["id"] for d in data["detections"]]
  assert [ids[i] for i in np.asarray(result.det_order)] == PADILLA_RANKING
  assert {ids[i] for i in np.flatnonzero(result.det_tp)} == PADILLA_TP
  assert {ids[i] for i in np.flatnonzero(result.det_fp)} == set(ids) - PADILLA_TP
  np.testing.assert_allclose(result.det_recall[ids.index("G")], 7 / 15, rtol=1e-6)
  np.testing.assert_allclose(result.det_precision[ids.index("O")], 7 / 24, rtol=1e-6)
  expected = voc_map_reference(**problem, num_classes=1, iou_threshold=data["iou_threshold"],
                               method=method, pixel_inclusive=True)
  _assert_matches_reference(result, expected)


# --- Hand-made edge cases --------------------------------------------------------------------


def test_iou_exactly_at_threshold_matches():
  # IoU = 1 / 2 exactly (continuous), and 2 / 4 with pixel-inclusive areas.
  result = _one_class([[0, 0, 1, 1]], [0.9], [[0, 0, 2, 1]], iou_threshold=0.5)
  assert result.det_iou[0] == 0.5 and result.det_tp[0] and result.map == 1.
  result = _one_class([[0, 0, 1, 0]], [0.9], [[0, 0, 3, 0]], iou_threshold=0.5,
                      pixel_inclusive=True)
  assert result.det_iou[0] == 0.5 and result.det_tp[0]
  result = _one_class([[0, 0, 1, 1]], [0.9], [[0, 0, 2, 1]], iou_threshold=0.51)
  assert result.det_fp[0] and result.map == 0.


def test_best_gt_already_matched_is_a_duplicate():
  # The second detection overlaps GT 1 enough, but its best GT is GT 0, already matched.
  result = _one_class([[0, 0, 10, 10], [0, 0, 10, 9.5]], [0.9, 0.8],
                      [[0, 0, 10, 10], [0, 0, 10, 8]])
  np.testing.assert_array_equal(result.det_gt, [0, 0])
  np.testing.assert_array_equal(result.det_tp, [True, False])
  np.testing.assert_array_equal(result.det_fp, [False, True])
  np.testing.assert_allclose(result.det_recall, [0.5, 0.5])
  np.testing.assert_allclose(result.map, 0.5)


def test_equal_iou_takes_the_first_gt():
  result = _one_class([[0, 0, 2, 2], [0, 0, 2, 2]], [0.9, 0.8], [[0, 0, 2, 2], [0, 0, 2, 2]])
  np.testing.assert_array_equal(result.det_gt, [0, 0])
  np.testing.assert_array_equal(result.det_tp, [True, False])


@pytest.mark.parametrize("scores", [[0.5, 0.5], [0., -0.]])
def test_score_ties_keep_input_order(scores):
  boxes = [[0, 0, 4, 4], [0, 0, 4, 3]]  # both on the one GT; only the first ranked can match
  result = _one_class(boxes, scores, [[0, 0, 4, 4]])
  np.testing.assert_array_equal(result.det_order, [0, 1])
  np.testing.assert_array_equal(result.det_tp, [True, False])
  result = _one_class(boxes[::-1], scores, [[0, 0, 4, 4]])
  np.testing.assert_array_equal(result.det_tp, [True, False])
  np.testing.assert_allclose(result.det_precision, [1., 0.5])


def test_first_ranked_detection_on_a_difficult_box_is_ignored():
  gts = [[0, 0, 4, 4], [10, 10, 14, 14]]
  result = _one_class([[10, 10, 14, 14], [0, 0, 4, 4], [20, 20, 22, 22]], [0.9, 0.8, 0.7], gts,
                      gt_difficult=np.array([False, True]))
  np.testing.assert_array_equal(result.det_tp, [False, True, False])
  np.testing.assert_array_equal(result.det_fp, [False, False, True])
  np.testing.assert_array_equal(result.num_gt_per_class, [1])
  np.testing.assert_allclose(result.det_precision, [0., 1., 0.5])
  np.testing.assert_allclose(result.det_recall, [0., 1., 1.])
  for method in METHODS:
    assert _one_class([[10, 10, 14, 14], [0, 0, 4, 4]], [0.9, 0.8], gts,
                      gt_difficult=np.array([0, 1]), method=method).map == 1.


def test_detection_in_image_without_gt_and_below_threshold_are_false_positives():
  result = metrics.voc_map(
      np.array([[0., 0, 2, 2], [0, 0, 2, 2], [0, 0, 1, 1]]), np.array([0.9, 0.8, 0.7]),
      np.array([0, 0, 0]), np.array([1, 0, 0]), np.array([[0., 0, 2, 2]]), np.array([0]),
      np.array([0]), num_classes=1)
  np.testing.assert_array_equal(result.det_fp, [True, False, True])
  np.testing.assert_array_equal(result.det_gt, [-1, 0, 0])
  np.testing.assert_allclose(result.det_iou, [0., 1., 0.25])


def test_classes_without_gt_are_nan_and_left_out_of_the_mean():
  boxes = np.array([[0., 0, 2, 2], [0, 0, 2, 2], [0, 0, 2, 2]])
  result = metrics.voc_map(boxes, np.array([0.9, 0.8, 0.7]), np.array([0, 1, 2]),
                           np.zeros(3, int), boxes[:2], np.array([0, 3]), np.zeros(2, int),
                           num_classes=5)
  # Class 0 found; class 1 and 2 have no GT (NaN); class 3 has GT, no detection (0); 4 nothing.
  np.testing.assert_array_equal(np.isnan(result.ap_per_class), [False, True, True, False, True])
  np.testing.assert_allclose(np.asarray(result.ap_per_class)[[0, 3]], [1., 0.])
  np.testing.assert_allclose(result.map, 0.5)
  np.testing.assert_array_equal(result.num_gt_per_class, [1, 0, 0, 1, 0])
  assert np.isnan(result.det_recall[1]) and result.det_precision[1] == 0.


def test_empty_inputs():
  box = np.array([[0., 0, 1, 1]])
  no_gt = metrics.voc_map(box, np.array([0.5]), np.array([0]), np.array([0]), np.zeros((0, 4)),
                          np.zeros(0, int), np.zeros(0, int), num_classes=2)
  assert np.isnan(no_gt.map) and no_gt.det_fp[0] and no_gt.det_gt[0] == -1
  no_det = metrics.voc_map(np.zeros((0, 4)), np.zeros(0), np.zeros(0, int), np.zeros(0, int),
                           box, np.array([1]), np.array([0]), num_classes=2)
  assert no_det.map == 0. and no_det.det_tp.shape == (0,) and no_det.det_order.shape == (0,)


def test_any_integer_image_ids():
  ids = np.array([2**40, -7], np.int64)  # beyond int32, and negative
  box = np.array([[0., 0, 1, 1], [0, 0, 1, 1]])
  result = metrics.voc_map(box, np.array([0.9, 0.8]), np.zeros(2, int), ids, box[:1],
                           np.zeros(1, int), ids[:1], num_classes=1)
  np.testing.assert_array_equal(result.det_tp, [True, False])
  np.testing.assert_array_equal(result.det_gt, [0, -1])


def test_under_jit():
  problem = synthetic_problem(np.random.default_rng(3), num_images=3, num_classes=3,
                              gt_per_image=3, det_per_image=4, image_size=16)
  eager = metrics.voc_map(**problem, num_classes=3)
  jitted = jax.jit(metrics.voc_map, static_argnames=("num_classes", "method", "pixel_inclusive"))(
      **{k: jnp.asarray(v) for k, v in problem.items()}, num_classes=3)
  for a, b in zip(eager, jitted, strict=True):
    np.testing.assert_allclose(a, b)


# --- Against the per-detection loop ----------------------------------------------------------


def _random_problem(rng):
  """A small problem with duplicates, ties, difficult GTs, empty images and classes."""
  problem = synthetic_problem(
      rng, num_images=int(rng.integers(1, 5)), num_classes=3, gt_per_image=int(rng.integers(1, 4)),
      det_per_image=int(rng.integers(0, 6)), image_size=12, difficult_fraction=0.3)
  problem["det_scores"] = np.round(rng.normal(size=len(problem["det_scores"])), 1)  # ties, < 0
  return problem


@pytest.mark.parametrize("seed", range(40))
def test_matches_reference_on_random_problems(seed):
  rng = np.random.default_rng(seed)
  problem = _random_problem(rng)
  for method in METHODS:
    for iou_threshold in (0.3, 0.5, 0.7):
      for pixel_inclusive in (False, True):
        options = dict(num_classes=4, iou_threshold=iou_threshold, method=method,
                       pixel_inclusive=pixel_inclusive)
        _assert_matches_reference(metrics.voc_map(**problem, **options),
                                  voc_map_reference(**problem, **options))


@pytest.mark.parametrize("seed", range(3))
def test_matches_reference_on_larger_problems(seed):
  rng = np.random.default_rng(100 + seed)
  problem = synthetic_problem(rng, num_images=20, num_classes=5, gt_per_image=6,
                              det_per_image=25, image_size=40, difficult_fraction=0.1)
  for method in METHODS:
    _assert_matches_reference(metrics.voc_map(**problem, num_classes=6, method=method),
                              voc_map_reference(**problem, num_classes=6, method=method))


@st.composite
def _tiny_problems(draw):
  """Boxes on a 4 x 4 grid of one or two images: many equal IoUs, exact thresholds, duplicates."""
  def boxes(n):
    corners = draw(st.lists(st.tuples(*[st.integers(0, 4)] * 4), min_size=n, max_size=n))
    return np.array([[min(a, c), min(b, d), max(a, c), max(b, d)] for a, b, c, d in corners],
                    np.float32).reshape(-1, 4)

  num_det, num_gt = draw(st.integers(0, 8)), draw(st.integers(0, 6))
  ints = lambda n, hi: np.array(draw(st.lists(st.integers(0, hi), min_size=n, max_size=n)), int)
  return dict(det_boxes=boxes(num_det), det_scores=ints(num_det, 3) / 4.,
              det_labels=ints(num_det, 1), det_image_ids=ints(num_det, 1), gt_boxes=boxes(num_gt),
              gt_labels=ints(num_gt, 1), gt_image_ids=ints(num_gt, 1),
              gt_difficult=ints(num_gt, 1).astype(bool))


@hypothesis.settings(max_examples=40, deadline=None)
@hypothesis.given(problem=_tiny_problems(), method=st.sampled_from(METHODS),
                  iou_threshold=st.sampled_from([0.25, 0.5, 1.0]), pixel_inclusive=st.booleans())
def test_matches_reference_hypothesis(problem, method, iou_threshold, pixel_inclusive):
  options = dict(num_classes=2, iou_threshold=iou_threshold, method=method,
                 pixel_inclusive=pixel_inclusive)
  _assert_matches_reference(metrics.voc_map(**problem, **options),
                            voc_map_reference(**problem, **options))


@pytest.mark.parametrize("seed", range(5))
def test_class_curves_give_the_class_ap(seed):
  problem = _random_problem(np.random.default_rng(200 + seed))
  for method in METHODS:
    result = metrics.voc_map(**problem, num_classes=4, method=method)
    for c in np.flatnonzero(np.asarray(result.num_gt_per_class) > 0):
      order = np.asarray(result.det_order)
      ranked = order[problem["det_labels"][order] == c]
      ap = metrics.voc_ap(result.det_recall[ranked], result.det_precision[ranked], method=method)
      np.testing.assert_allclose(ap, result.ap_per_class[c], atol=1e-6)


# --- Validation ------------------------------------------------------------------------------


def _valid_problem():
  return dict(det_boxes=np.array([[0., 0, 1, 1]]), det_scores=np.array([0.5]),
              det_labels=np.array([0]), det_image_ids=np.array([0]),
              gt_boxes=np.array([[0., 0, 1, 1]]), gt_labels=np.array([0]),
              gt_image_ids=np.array([0]))


@pytest.mark.parametrize("field, value, message", [
    ("det_boxes", np.array([[1., 0, 0, 1]]), "det_boxes"),
    ("gt_boxes", np.array([[0., 1, 1, 0]]), "gt_boxes"),
    ("gt_boxes", np.array([[0., 0, np.nan, 1]]), "gt_boxes"),
    ("det_boxes", np.array([0., 0, 1, 1]), "det_boxes"),
    ("det_scores", np.array([np.nan]), "det_scores"),
    ("det_scores", np.array([0.5, 0.4]), "det_scores"),
    ("det_labels", np.array([1]), "det_labels"),
    ("det_labels", np.array([-1]), "det_labels"),
    ("gt_labels", np.array([3]), "gt_labels"),
    ("gt_labels", np.array([0.]), "gt_labels"),
    ("det_image_ids", np.array([[0]]), "det_image_ids"),
    ("gt_image_ids", np.array([0, 0]), "gt_image_ids"),
    ("gt_difficult", np.array([2]), "gt_difficult"),
])
def test_voc_map_rejects_bad_inputs(field, value, message):
  problem = _valid_problem()
  problem[field] = value
  with pytest.raises(ValueError, match=message):
    metrics.voc_map(**problem, num_classes=1)


@pytest.mark.parametrize("options, message", [
    (dict(method="coco"), "method"), (dict(num_classes=0), "num_classes"),
    (dict(iou_threshold=1.5), "iou_threshold")])
def test_voc_map_rejects_bad_options(options, message):
  with pytest.raises(ValueError, match=message):
    metrics.voc_map(**_valid_problem(), **{"num_classes": 1, **options})


def test_negative_scores_are_fine():
  problem = _valid_problem()
  problem["det_scores"] = np.array([-3.])
  assert metrics.voc_map(**problem, num_classes=1).map == 1.


def test_box_iou_and_voc_ap_reject_bad_inputs():
  with pytest.raises(ValueError, match="boxes_a"):
    metrics.box_iou(np.zeros((2, 3)), np.zeros((2, 4)))
  with pytest.raises(ValueError, match="boxes_b"):
    metrics.box_iou(np.zeros((2, 4)), np.array([[2., 0, 1, 1]]))
  with pytest.raises(ValueError, match="precision"):
    metrics.voc_ap(np.zeros(3), np.zeros(2))
  with pytest.raises(ValueError, match="method"):
    metrics.voc_ap(np.zeros(3), np.zeros(3), method="area")
