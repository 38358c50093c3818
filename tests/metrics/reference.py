"""Re-exports the per-detection NumPy reference of VOC mAP and the synthetic problems.

They live in `experiments/voc_reference.py` because the `voc_map` experiment benchmarks against
them; the tests import them from here as before.
"""

from experiments.voc_reference import (  # noqa: F401  (re-exports)
    ReferenceResult,
    ap_from_counts,
    iou_one_to_many,
    synthetic_problem,
    voc_map_reference,
)
