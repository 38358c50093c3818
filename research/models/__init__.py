"""research.models."""
