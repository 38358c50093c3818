"""research.tasks: synthetic data and evaluation sets.

`mqar` and `occlusion` names are re-exported flat; the addition task is used as a module
(`from research.tasks import addition`), its names (`problems`, `score`, ...) being task-specific;
so is `detections` (random VOC detection problems, `detections.synthetic_problem`).
"""

from research.tasks import addition, detections
from research.tasks.mqar import MQARBatch, check_mqar, mqar_batch
from research.tasks.occlusion import (
    OcclusionBox,
    occlude,
    occlusion_set,
    occlusion_shapes,
    sample_occlusion_box,
)

__all__ = ["MQARBatch", "OcclusionBox", "addition", "check_mqar", "detections", "mqar_batch",
           "occlude", "occlusion_set", "occlusion_shapes", "sample_occlusion_box"]
