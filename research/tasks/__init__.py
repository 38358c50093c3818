"""research.tasks: synthetic data and evaluation sets (a flat list of re-exports)."""

from research.tasks.occlusion import (
    OcclusionBox,
    occlude,
    occlusion_set,
    occlusion_shapes,
    sample_occlusion_box,
)

__all__ = ["OcclusionBox", "occlude", "occlusion_set", "occlusion_shapes", "sample_occlusion_box"]
