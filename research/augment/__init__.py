"""research.augment: data augmentation (Random Erasing)."""

from research.augment.erasing import ErasingBox, random_erasing, sample_erasing_box

__all__ = ["ErasingBox", "random_erasing", "sample_erasing_box"]
