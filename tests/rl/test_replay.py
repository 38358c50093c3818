"""The in-state replay buffer, target-network updates, schedules and uniform-fed samplers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research import rl


def _item(x):
  return {"obs": jnp.full((3,), x, jnp.float32), "a": jnp.asarray(x, jnp.int32)}


def _batch(values):
  values = jnp.asarray(values)
  return {"obs": jnp.tile(values[:, None].astype(jnp.float32), (1, 3)),
          "a": values.astype(jnp.int32)}


def test_add_wraps_around_and_counts():
  state = rl.replay_init(_item(0), 5)
  assert state.storage["obs"].shape == (5, 3) and int(state.size) == 0
  state = rl.replay_add(state, _batch([1, 2, 3]))
  assert (int(state.position), int(state.size)) == (3, 3)
  np.testing.assert_array_equal(state.storage["a"], [1, 2, 3, 0, 0])
  state = rl.replay_add(state, _batch([4, 5, 6]))   # overwrites the oldest item
  assert (int(state.position), int(state.size)) == (1, 5)
  np.testing.assert_array_equal(state.storage["a"], [6, 2, 3, 4, 5])
  np.testing.assert_array_equal(state.storage["obs"][:, 0], [6, 2, 3, 4, 5])
  with pytest.raises(ValueError):
    rl.replay_add(state, _batch(np.arange(6)))
  with pytest.raises(ValueError):
    rl.replay_init(_item(0), 0)


def test_sampling_before_full_only_returns_written_items_uniformly():
  buffer = rl.uniform_replay(100)
  state = buffer.add(buffer.init(_item(0)), _batch([7, 8, 9, 10]))
  assert bool(buffer.can_sample(state, 4)) and not bool(buffer.can_sample(state, 5))
  batch = jax.jit(buffer.sample, static_argnums=2)(state, jax.random.key(0), 4000)
  values, counts = np.unique(np.asarray(batch["a"]), return_counts=True)
  np.testing.assert_array_equal(values, [7, 8, 9, 10])
  assert np.all(np.abs(counts / 4000 - 0.25) < 0.03)
  np.testing.assert_array_equal(batch["obs"][:, 0], batch["a"])
  # Indices from uniforms: ⌊u · size⌋, clipped to the written items.
  idx = rl.replay_indices(state, jnp.array([0.0, 0.249, 0.25, 0.999999]))
  np.testing.assert_array_equal(idx, [0, 0, 1, 3])


def test_buffers_under_vmap_are_independent():
  states = jax.vmap(lambda _: rl.replay_init(_item(0), 4))(jnp.arange(2))
  items = {"obs": jnp.ones((2, 3, 3)), "a": jnp.array([[1, 2, 3], [4, 5, 6]], jnp.int32)}
  states = jax.jit(jax.vmap(rl.replay_add))(states, items)
  np.testing.assert_array_equal(states.storage["a"], [[1, 2, 3, 0], [4, 5, 6, 0]])
  samples = jax.vmap(lambda s, k: rl.replay_sample(s, k, 64))(
      states, jax.random.split(jax.random.key(1), 2))
  assert set(np.asarray(samples["a"][0]).tolist()) <= {1, 2, 3}
  assert set(np.asarray(samples["a"][1]).tolist()) <= {4, 5, 6}


def test_target_updates():
  online, target = {"w": jnp.ones(3)}, {"w": jnp.zeros(3)}
  np.testing.assert_allclose(rl.polyak_update(online, target, tau=0.25)["w"], 0.25)
  np.testing.assert_allclose(rl.polyak_update(online, target, tau=1.0)["w"], 1.0)
  np.testing.assert_allclose(rl.periodic_update(online, target, 10, period=5)["w"], 1.0)
  np.testing.assert_allclose(rl.periodic_update(online, target, 11, period=5)["w"], 0.0)
  out = jax.jit(jax.vmap(lambda s: rl.periodic_update(online, target, s, period=5)))(
      jnp.array([4, 5]))
  np.testing.assert_allclose(out["w"], [[0, 0, 0], [1, 1, 1]])


def test_linear_schedule_and_epsilon_greedy():
  f = jax.jit(lambda t: rl.linear_schedule(t, start=1.0, end=0.05, duration=100, begin=10))
  np.testing.assert_allclose([f(0), f(10), f(60), f(110), f(1000)], [1, 1, 0.525, 0.05, 0.05],
                             rtol=1e-6)
  q = jnp.array([[0.0, 2.0, 1.0]] * 5)
  u = jnp.array([0.0, 0.05, 0.099, 0.1, 0.9])
  # ε = 0.1: u < ε picks ⌊(u/ε)·3⌋, else the greedy action 1.
  np.testing.assert_array_equal(rl.epsilon_greedy_from_uniform(u, q, 0.1), [0, 1, 2, 1, 1])
  u = jax.random.uniform(jax.random.key(0), (30000,))
  a = rl.epsilon_greedy_from_uniform(u, jnp.tile(q[:1], (30000, 1)), 0.3)
  freq = np.bincount(np.asarray(a), minlength=3) / 30000
  np.testing.assert_allclose(freq, [0.1, 0.8, 0.1], atol=0.01)


def test_categorical_and_uniform_from_bits():
  bits = jax.random.bits(jax.random.key(0), (50000,), jnp.uint32)
  u = rl.uniform_from_bits(bits)
  assert float(u.min()) >= 0.0 and float(u.max()) < 1.0
  assert abs(float(u.mean()) - 0.5) < 0.01
  np.testing.assert_array_equal(rl.uniform_from_bits(jnp.array([0, 0xFFFFFFFF], jnp.uint32)),
                                [0.0, 1.0 - 2.0**-23])
  logits = jnp.log(jnp.array([0.2, 0.5, 0.3]))
  a = rl.categorical_from_uniform(u, jnp.tile(logits, (50000, 1)))
  np.testing.assert_allclose(np.bincount(np.asarray(a), minlength=3) / 50000, [0.2, 0.5, 0.3],
                             atol=0.01)
  np.testing.assert_array_equal(
      rl.categorical_from_uniform(jnp.array([0.0, 0.19, 0.21, 0.69, 0.71, 0.9999]),
                                  jnp.tile(logits, (6, 1))), [0, 0, 1, 1, 2, 2])
