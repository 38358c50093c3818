"""research.models: small flax.linen networks (a flat list of re-exports; add yours below)."""
