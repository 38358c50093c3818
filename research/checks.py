"""Argument checks of the library: one clear error per bad argument, naming it and what is
allowed, raised before any tracing (a silent wrong answer is never an option).

Ranks, shapes and dtypes of arrays are chex's (`chex.assert_rank`, `chex.assert_equal_shape`,
`chex.assert_type`), as in rlax and optax. What chex does not cover lives here, once:

- `static_int`: a Python int the program's shape depends on (a length, a count, a group size);
- `traced_int`: an integer that may be traced (an iteration count inside `jit`): checked when it
  is concrete, trusted when it is not;
- `choice`: one of a few named options;
- `is_concrete` / `is_python_number`: whether a value can be read on the host.

Config fields are checked by `research.runtime.require` (a `ConfigError`, one line at launch);
these raise `ValueError`, as a library should.
"""

from __future__ import annotations

import numbers
import operator

import jax
import numpy as np


def is_concrete(*xs) -> bool:
  """True when no argument is a JAX tracer (so its values can be read on the host)."""
  return not any(isinstance(x, jax.core.Tracer) for x in xs)


def is_python_number(x) -> bool:
  """True for a Python (or NumPy) number that is not a bool: a static hyperparameter."""
  return isinstance(x, numbers.Number | np.number) and not isinstance(x, bool | np.bool_)


def static_int(value, name: str, *, minimum: int = 1) -> int:
  """`value` as a Python int, raising a ValueError naming `name` unless it is an integer (not a
  bool, not traced) ≥ `minimum`."""
  if isinstance(value, bool | np.bool_):
    raise ValueError(f"{name} must be a Python int >= {minimum}, got {value!r}")
  try:
    value = operator.index(value)
  except TypeError:
    raise ValueError(f"{name} must be a Python int >= {minimum}, got {value!r}") from None
  if value < minimum:
    raise ValueError(f"{name} must be a Python int >= {minimum}, got {value!r}")
  return value


def traced_int(value, name: str, *, minimum: int = 1) -> None:
  """Raises a ValueError naming `name` if a concrete `value` is not an integer ≥ `minimum`
  (a traced value is the caller's: it cannot be read before the program runs)."""
  if not is_concrete(value):
    return
  x = np.asarray(value)
  if x.dtype == np.bool_ or x.ndim or not np.isfinite(x) or int(x) != x or int(x) < minimum:
    raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def choice(value, name: str, choices) -> str:
  """`value`, raising a ValueError naming `name` unless it is one of the string `choices`."""
  if not isinstance(value, str) or value not in choices:
    raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")
  return value
