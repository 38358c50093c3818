"""PASCAL VOC mAP: Padilla's worked example, and evaluation speed on a large synthetic set.

- The worked example of 'A Survey on Performance Metrics for Object-Detection Algorithms' by
  Padilla, Netto, da Silva (https://github.com/rafaelpadilla/Object-Detection-Metrics, README
  'An ilustrated example'): 7 images, 15 ground truths, 24 detections of one class, IoU ≥ 0.3,
  pixel-inclusive boxes. Every detection's TP/FP, precision and recall, and both APs against the
  published ones (all-point 24.56 %, 11-point 26.84 %) and the per-detection NumPy loop.
- Speed: `research.metrics.voc_map` (vectorised, jit-compiled) against the devkit's
  per-detection NumPy loop (`research/metrics/voc_reference.py`, same rules) on 1,000 images,
  20 classes, 10 ground truths and 50 detections per image, in one run, with their APs side by
  side.

One chunk, one member: the step computes the worked example (jitted); the measurement phase,
on the host after the chunk, runs and times the benchmark (best of a few repeats, compilation
excluded) and stores it in measurements.json; the report only formats.

    python launch.py --config=configs/voc_map.py
    python launch.py --config=configs/voc_map.py --config.fixture=/path/to/padilla_example.json

Expected: both APs equal the published fractions 356/1449 and 62/231 (to float32 precision),
the TP/FP column matches the README's table; on the synthetic set `voc_map` takes well under
0.3 s after compilation (measured 0.020 s at load ≈ 0.8; 0.08–0.21 s on a busy machine) and is
≥ 5× faster than the loop (measured 24×, loop 0.48 s), with identical TP/FP flags and APs equal
to float32 precision. Runtime on a 2-core CPU: ≈ 5 s at load ≈ 0.8 (the README's table).
"""

import pathlib

from research.runtime import base_config, select_variant

FIXTURE = pathlib.Path(__file__).resolve().parents[1] / "data" / "padilla_example.json"


def get_config(arg=None):
  c = base_config("voc_map")
  c.num_seeds = 1                    # deterministic: one member
  c.checkpoint_every = 0
  c.fixture = str(FIXTURE)           # Padilla's worked example (JSON; read on the host in make)
  c.synthetic_images = 1_000         # benchmark set: images
  c.synthetic_classes = 20           # classes
  c.gt_per_image = 10                # ground truths per image
  c.det_per_image = 50               # detections per image (half jittered GTs, half clutter)
  c.image_size = 64                  # boxes lie in [0, image_size]² (integer coordinates)
  c.difficult_fraction = 0.1         # share of ground truths marked difficult
  c.synthetic_seed = 0               # NumPy seed of the (host-side, fixed) benchmark set
  c.iou_threshold = 0.5              # the benchmark's IoU threshold (VOC's)
  c.timing_repeats = 5               # voc_map: best of this many timed calls (after a warm-up)
  c.reference_repeats = 3            # NumPy loop: best of this many timed calls
  c.time_target_s = 0.3              # the table marks whether voc_map stays under this
  c.speedup_target = 5.0             # ... and whether it is at least this much faster

  def smoke(c):
    c.synthetic_images = 50
    c.timing_repeats = 2
    c.reference_repeats = 1

  return select_variant(arg, {"smoke": smoke}, c)
