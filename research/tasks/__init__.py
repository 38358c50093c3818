"""research.tasks."""
