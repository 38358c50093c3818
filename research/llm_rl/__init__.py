"""research.llm_rl."""
