"""research.augment."""
