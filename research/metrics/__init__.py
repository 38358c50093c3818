"""research.metrics: PASCAL VOC detection metrics (box IoU, AP, mAP)."""

from research.metrics.voc import MAPResult, box_iou, voc_ap, voc_map

__all__ = ["MAPResult", "box_iou", "voc_ap", "voc_map"]
