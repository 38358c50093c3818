"""time_calls against a fake clock: what is called, what is summarised (no real timings)."""

import numpy as np
import pytest

from research.runtime.timing import time_calls


class _Clock:
  """Advances by the next of `steps` on every second reading (the end of a call)."""

  def __init__(self, durations):
    self.durations, self.now, self.reads = list(durations), 0.0, 0

  def __call__(self):
    self.reads += 1
    if self.reads % 2 == 0:
      self.now += self.durations.pop(0)
    return self.now


def test_first_call_apart_then_the_statistic_of_the_rest():
  calls = []
  timing = time_calls(lambda: calls.append(1), repeats=3, clock=_Clock([9.0, 1.0, 3.0, 2.0]))
  assert len(calls) == 4 and timing.first == 9.0 and timing.runs == 3
  assert timing.seconds == 2.0                                    # the median of 1, 3, 2
  best = time_calls(lambda: None, repeats=3, statistic=min, clock=_Clock([9.0, 1.0, 3.0, 2.0]))
  assert best.seconds == 1.0


def test_a_slow_first_call_stops_the_repeats():
  calls = []
  timing = time_calls(lambda: calls.append(1), repeats=5, stop_after=2.0, clock=_Clock([3.0]))
  assert len(calls) == 1 and timing == (3.0, 3.0, 0)
  with pytest.raises(ValueError, match="repeats"):
    time_calls(lambda: None, repeats=-1)
  assert time_calls(lambda: np.zeros(2), repeats=1).runs == 1    # real clock, arrays blocked on
