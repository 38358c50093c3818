"""research.checks: each check accepts what it allows and names the argument otherwise."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research import checks


@pytest.mark.parametrize("value", [1, 7, np.int32(3), np.int64(12)])
def test_static_int_accepts_integers_and_returns_python_ints(value):
  out = checks.static_int(value, "n")
  assert out == int(value) and type(out) is int


@pytest.mark.parametrize("value", [0, -2, True, 2.0, "3", None, np.float32(2)])
def test_static_int_refuses_naming_the_argument(value):
  with pytest.raises(ValueError, match=r"^n must be a Python int >= 1, got "):
    checks.static_int(value, "n")


def test_static_int_minimum_and_traced_values():
  assert checks.static_int(0, "k", minimum=0) == 0
  with pytest.raises(ValueError, match="k must be a Python int >= 0, got -1"):
    checks.static_int(-1, "k", minimum=0)
  with pytest.raises(ValueError, match="k must be a Python int"):
    jax.jit(lambda x: checks.static_int(x, "k"))(3)


def test_traced_int_checks_concrete_values_and_trusts_traced_ones():
  for good in (1, 5, np.int32(2), jnp.asarray(4), 3.0):
    checks.traced_int(good, "sweeps")
  for bad in (0, 2.5, -1, True, float("nan"), np.array([1, 2])):
    with pytest.raises(ValueError, match="sweeps must be an integer >= 1"):
      checks.traced_int(bad, "sweeps")
  assert jax.jit(lambda x: (checks.traced_int(x, "sweeps"), x)[1])(0) == 0


def test_choice_and_predicates():
  assert checks.choice("a", "mode", ("a", "b")) == "a"
  with pytest.raises(ValueError, match=r"mode must be one of \('a', 'b'\), got 'c'"):
    checks.choice("c", "mode", ("a", "b"))
  with pytest.raises(ValueError, match="mode must be one of"):
    checks.choice(1, "mode", ("a", "b"))
  assert checks.is_python_number(0.5) and checks.is_python_number(np.float32(1))
  assert not checks.is_python_number(True) and not checks.is_python_number(jnp.ones(()))
  assert checks.is_concrete(1, jnp.ones(2))
  seen = []
  jax.jit(lambda x: seen.append(checks.is_concrete(x)) or x)(1.0)
  assert seen == [False]
