"""research.rl."""
