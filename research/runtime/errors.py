"""Errors the launcher reports as one line (no traceback)."""


class ConfigError(ValueError):
  """A config field, value, variant or override that is not allowed; the message says what is."""


class NonFiniteError(RuntimeError):
  """A metric became NaN or infinite; the message names the metric, member and chunk."""
