"""research.attention."""
