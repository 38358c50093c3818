"""RL networks: shapes, orthogonal initialisation (gains, biases), the one-draw `init_params`."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research import models


def _gram(k):
  rows, cols = int(np.prod(k.shape[:-1])), k.shape[-1]
  m = np.asarray(k).reshape(rows, cols)
  return m.T @ m if rows >= cols else m @ m.T


def test_actor_critic_shapes_and_orthogonal_init():
  net = models.ActorCritic(num_actions=3)
  params = models.init_params(net, jax.random.key(0), jnp.zeros(4))["params"]
  assert set(params) == {"actor_torso", "critic_torso", "policy_head", "value_head"}
  logits, value = net.apply({"params": params}, jnp.zeros((5, 7, 4)))
  assert logits.shape == (5, 7, 3) and value.shape == (5, 7)
  for torso in ("actor_torso", "critic_torso"):
    for layer in ("Dense_0", "Dense_1"):
      k = params[torso][layer]["kernel"]
      np.testing.assert_allclose(_gram(k), 2.0 * np.eye(min(k.shape)), atol=1e-5)  # gain √2
      np.testing.assert_array_equal(params[torso][layer]["bias"], 0.0)
  np.testing.assert_allclose(_gram(params["policy_head"]["kernel"]), 1e-4 * np.eye(3),
                             atol=1e-9)
  np.testing.assert_allclose(_gram(params["value_head"]["kernel"]), np.eye(1), atol=1e-5)
  # Methods for one head only.
  np.testing.assert_allclose(net.apply({"params": params}, jnp.ones(4), method=net.policy),
                             net.apply({"params": params}, jnp.ones(4))[0], rtol=1e-6)
  np.testing.assert_allclose(net.apply({"params": params}, jnp.ones(4), method=net.value),
                             net.apply({"params": params}, jnp.ones(4))[1], rtol=1e-6)


def test_init_params_matches_module_init_structure_and_distribution():
  net = models.ActorCritic(num_actions=2)
  fast = models.init_params(net, jax.random.key(1), jnp.zeros(4))
  slow = net.init(jax.random.key(1), jnp.zeros(4))
  assert jax.tree.structure(fast) == jax.tree.structure(slow)
  jax.tree.map(lambda a, b: np.testing.assert_equal(a.shape, b.shape), fast, slow)
  # Different draws per key and per layer; same law: rows of Haar matrices have mean ≈ 0.
  other = models.init_params(net, jax.random.key(2), jnp.zeros(4))
  k1 = fast["params"]["actor_torso"]["Dense_1"]["kernel"]
  assert not np.allclose(k1, other["params"]["actor_torso"]["Dense_1"]["kernel"])
  assert not np.allclose(k1, fast["params"]["critic_torso"]["Dense_1"]["kernel"])
  draws = jax.vmap(lambda k: models.init_params(net, k, jnp.zeros(4)))(
      jax.random.split(jax.random.key(3), 200))
  w = np.asarray(draws["params"]["actor_torso"]["Dense_1"]["kernel"])   # [200, 64, 64]
  assert abs(w.mean()) < 0.01
  np.testing.assert_allclose(w.var(), 2.0 / 64, rtol=0.02)     # entries of √2·Haar: var 2/n


def test_orthonormal_columns_equals_sign_fixed_qr():
  a = jax.random.normal(jax.random.key(0), (3, 40, 16))
  q = models.orthonormal_columns(a)
  q2, r = jnp.linalg.qr(a)
  q2 = q2 * jnp.sign(jnp.diagonal(r, axis1=-2, axis2=-1))[..., None, :]
  np.testing.assert_allclose(q, q2, atol=1e-5)


def test_shared_torso_cnn_and_q_network():
  shared = models.ActorCritic(num_actions=3, shared_torso=True, obs_ndim=3,
                              hidden_sizes=(32, 32))
  params = models.init_params(shared, jax.random.key(0), jnp.zeros((10, 10, 4)))
  assert set(params["params"]) == {"actor_torso", "policy_head", "value_head"}
  assert params["params"]["actor_torso"]["Dense_0"]["kernel"].shape == (400, 32)
  logits, value = shared.apply(params, jnp.zeros((2, 10, 10, 4)))
  assert logits.shape == (2, 3) and value.shape == (2,)
  cnn = models.ActorCritic(num_actions=3, torso="cnn", obs_ndim=3, hidden_sizes=(128,))
  p = models.init_params(cnn, jax.random.key(0), jnp.zeros((10, 10, 4)))
  conv = p["params"]["actor_torso"]["Conv_0"]["kernel"]
  assert conv.shape == (3, 3, 4, 16)
  np.testing.assert_allclose(_gram(conv), 2.0 * np.eye(16), atol=1e-5)
  logits, value = jax.jit(cnn.apply)(p, jnp.ones((5, 10, 10, 4)))
  assert logits.shape == (5, 3) and value.shape == (5,)
  qnet = models.QNetwork(num_actions=2)
  qp = models.init_params(qnet, jax.random.key(0), jnp.zeros(4))
  assert qnet.apply(qp, jnp.zeros((6, 4))).shape == (6, 2)
  with pytest.raises(ValueError):
    models.ActorCritic(num_actions=2, activation="gelu").init(jax.random.key(0), jnp.zeros(4))
