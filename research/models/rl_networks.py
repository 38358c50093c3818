"""Small flax.linen networks for deep RL: actor-critic MLPs, a Q-network and a MinAtar CNN torso.

Every kernel is initialised orthogonally (hidden layers with gain √2, the policy head with 0.01,
the value head with 1), biases with zeros, as in PureJaxRL and CleanRL. `init_params` gives the
same distribution as `module.init` with far fewer random-number-generation sites (one normal draw
and one batched Gram–Schmidt per matrix height), which matters for XLA compile time on the CPU.

See 'Exact solutions to the nonlinear dynamics of learning in deep linear neural networks' by
A. M. Saxe, J. L. McClelland and S. Ganguli (https://arxiv.org/abs/1312.6120) for orthogonal
initialisation, and 'What Matters In On-Policy Reinforcement Learning? A Large-Scale Empirical
Study' by M. Andrychowicz et al. (https://arxiv.org/abs/2006.05990) for the head gains.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
  "tanh": jnp.tanh,
  "relu": jax.nn.relu,
}
TORSOS = ("mlp", "cnn")

_STATE = threading.local()


class Orthogonal:
  """An orthogonal kernel initialiser with gain `scale` (`jax.nn.initializers.orthogonal`).

  A plain flax initialiser `(key, shape, dtype) -> array`; inside `init_params` it takes its
  matrix from one batched draw instead (same distribution).
  """

  def __init__(self, scale: float = 1.0):
    self.scale = float(scale)

  def __call__(self, key, shape, dtype=jnp.float32):
    hook = getattr(_STATE, "hook", None)
    if hook is not None:
      return hook(tuple(shape), dtype, self.scale)
    return jax.nn.initializers.orthogonal(self.scale)(key, shape, dtype)

  def __repr__(self):
    return f"Orthogonal({self.scale})"


def orthogonal(scale: float = 1.0) -> Orthogonal:
  """An orthogonal initialiser with gain `scale` (see `Orthogonal`)."""
  return Orthogonal(scale)


def _with_hook(hook, fn, *args, **kwargs):
  previous = getattr(_STATE, "hook", None)
  _STATE.hook = hook
  try:
    return fn(*args, **kwargs)
  finally:
    _STATE.hook = previous


def _matrix_dims(shape) -> tuple[int, int]:
  """(rows, cols) of the matrix a kernel of `shape` is orthogonalised as (columns = last axis)."""
  cols = shape[-1]
  return math.prod(shape) // cols, cols


def orthonormal_columns(a) -> jax.Array:
  """The `Q` of the QR decomposition of `a` (`[..., m, k]`, `k ≤ m`) whose `R` has a positive
  diagonal: Gram–Schmidt, each column orthogonalised twice ("twice is enough", CGS2).

  Equals `q · sign(diag r)` for `q, r = jnp.linalg.qr(a)` up to rounding, without LAPACK: its
  batched QR kernel splits the batch over the intra-op thread pool and deadlocks when several
  host-platform CPU devices run it at once (seeds sharded over `--xla_force_host_platform_
  device_count=2` devices on a 2-core machine).

  See 'On the stability of the Gram–Schmidt process' by L. Giraud, J. Langou and M. Rozložník
  (https://doi.org/10.1016/j.camwa.2004.08.003).
  """
  k = a.shape[-1]
  q0 = jnp.zeros_like(a)

  def column(j, q):
    v = jax.lax.dynamic_index_in_dim(a, j, axis=-1, keepdims=False)
    for _ in range(2):
      v = v - jnp.einsum("...mk,...k->...m", q, jnp.einsum("...mk,...m->...k", q, v))
    v = v / jnp.linalg.norm(v, axis=-1, keepdims=True)
    return jax.lax.dynamic_update_index_in_dim(q, v, j, axis=-1)

  return jax.lax.fori_loop(0, k, column, q0)


def flat_params_unravel(init_fn, example_key=None):
  """The `unravel` of `jax.flatten_util.ravel_pytree` for the parameters `init_fn(key)` makes.

  Parameters can then live as one flat vector: the optimiser, the gradient-norm clip and the
  update are a handful of kernels instead of a few per parameter (faster to compile and run).
  Only shapes are computed (`jax.eval_shape`); `example_key` is any key `init_fn` accepts
  (default `jax.random.key(0)`: the key's generator does not change the shapes).
  """
  from jax.flatten_util import ravel_pytree

  key = jax.random.key(0) if example_key is None else example_key
  shapes = jax.eval_shape(init_fn, key)
  return ravel_pytree(jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes))[1]


def init_params(module: nn.Module, key, *args, **kwargs):
  """`module.init(key, *args, **kwargs)` with every `Orthogonal` kernel drawn at once.

  The kernels have the distribution of `jax.nn.initializers.orthogonal` (the QR of a Gaussian
  matrix with the sign fix `Q · sign(diag R)`, scaled by the gain), but all of them come from a
  single `jax.random.normal` draw and one batched orthogonalisation per matrix height (the first
  `k` columns of the QR of an `m × K` Gaussian are the QR of its first `k` columns; see
  `orthonormal_columns`). Each distinct random call
  compiles to its own threefry kernel: flax's per-parameter keys and draws cost about a second of
  XLA compile time each on a CPU, which this avoids. Other initialisers are left as they are.

  Args:
    module: a flax.linen module whose kernels use `orthogonal(...)`.
    key: a PRNG key.
    *args: example inputs, as for `module.init`.
    **kwargs: as for `module.init`.

  Returns:
    The variables, as `module.init` returns them.
  """
  calls = []

  def record(shape, dtype, scale):
    calls.append((shape, dtype, scale))
    return jnp.zeros(shape, dtype)

  _with_hook(record, jax.eval_shape, module.init, key, *args, **kwargs)
  if not calls:
    return module.init(key, *args, **kwargs)

  # Group the matrices by height m = max(rows, cols); within a group draw [g, m, K] at once.
  groups: dict[tuple[int, str], list[int]] = {}
  for i, (shape, dtype, _) in enumerate(calls):
    rows, cols = _matrix_dims(shape)
    groups.setdefault((max(rows, cols), np.dtype(dtype).name), []).append(i)
  sizes = {g: (len(idx), g[0], max(min(_matrix_dims(calls[i][0])) for i in idx))
           for g, idx in groups.items()}
  total = sum(math.prod(s) for s in sizes.values())
  noise = jax.random.normal(key, (total,), jnp.float32)
  matrices: list = [None] * len(calls)
  offset = 0
  for g, idx in groups.items():
    shape = sizes[g]
    a = noise[offset:offset + math.prod(shape)].reshape(shape).astype(g[1])
    offset += math.prod(shape)
    q = orthonormal_columns(a)
    for j, i in enumerate(idx):
      kshape, dtype, scale = calls[i]
      rows, cols = _matrix_dims(kshape)
      m = q[j, :, :min(rows, cols)]
      m = m.T if rows < cols else m
      matrices[i] = (scale * m.reshape(kshape)).astype(dtype)

  pending = list(matrices)

  def replay(shape, dtype, scale):
    del scale
    value = pending.pop(0)
    assert value.shape == shape, (value.shape, shape)
    return value.astype(dtype)

  return _with_hook(replay, module.init, key, *args, **kwargs)


def _activation(name: str):
  if name not in ACTIVATIONS:
    raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
  return ACTIVATIONS[name]


class MLP(nn.Module):
  """Dense layers with an activation after each: `[..., D] -> [..., hidden_sizes[-1]]`.

  Attributes:
    hidden_sizes: widths of the layers.
    activation: `"tanh"` or `"relu"`.
    kernel_scale: orthogonal gain of every layer.
  """

  hidden_sizes: Sequence[int] = (64, 64)
  activation: str = "tanh"
  kernel_scale: float = float(np.sqrt(2.0))

  @nn.compact
  def __call__(self, x):
    act = _activation(self.activation)
    for width in self.hidden_sizes:
      x = act(nn.Dense(width, kernel_init=orthogonal(self.kernel_scale),
                       bias_init=nn.initializers.zeros)(x))
    return x


class MinAtarTorso(nn.Module):
  """The MinAtar network's torso: a 3×3 convolution (16 channels, stride 1, valid), ReLU,
  flatten, a dense layer and ReLU: `[..., 10, 10, C] -> [..., hidden]`.

  See 'MinAtar: An Atari-Inspired Testbed for Thorough and Reproducible Reinforcement Learning
  Experiments' by K. Young and T. Tian (https://arxiv.org/abs/1903.03176).

  Attributes:
    channels: convolution channels (16 in the paper).
    hidden: width of the dense layer (128 in the paper).
  """

  channels: int = 16
  hidden: int = 128

  @nn.compact
  def __call__(self, x):
    batch = x.shape[:-3]
    x = x.reshape((-1, *x.shape[-3:]))
    x = nn.Conv(self.channels, (3, 3), padding="VALID", kernel_init=orthogonal(np.sqrt(2.0)),
                bias_init=nn.initializers.zeros)(x)
    x = jax.nn.relu(x).reshape((*batch, -1))
    return jax.nn.relu(nn.Dense(self.hidden, kernel_init=orthogonal(np.sqrt(2.0)),
                                bias_init=nn.initializers.zeros)(x))


def _torso(kind, hidden_sizes, activation, name=None):
  if kind not in TORSOS:
    raise ValueError(f"torso must be one of {TORSOS}, got {kind!r}")
  if kind == "cnn":
    return MinAtarTorso(hidden=hidden_sizes[-1] if hidden_sizes else 128, name=name)
  return MLP(hidden_sizes, activation, name=name)


class ActorCritic(nn.Module):
  """A policy (logits over discrete actions) and a state value from separate or shared torsos.

  `__call__(obs[..., *obs_shape]) -> (logits[..., A], value[...])`. With `torso="mlp"` the
  observation's trailing `obs_ndim` axes are flattened first (MinAtar's `[10, 10, 4]` frames
  become 400 inputs).

  Attributes:
    num_actions: number of discrete actions `A`.
    hidden_sizes: widths of each torso's layers (the CNN uses the last as its dense width).
    activation: `"tanh"` or `"relu"` (MLP torsos).
    shared_torso: one torso for both heads (else separate actor and critic torsos, PureJaxRL's
      CartPole network).
    torso: `"mlp"` or `"cnn"` (`MinAtarTorso`).
    obs_ndim: rank of one observation (1 for vectors, 3 for MinAtar frames).
  """

  num_actions: int
  hidden_sizes: Sequence[int] = (64, 64)
  activation: str = "tanh"
  shared_torso: bool = False
  torso: str = "mlp"
  obs_ndim: int = 1

  def setup(self):
    make = lambda name: _torso(self.torso, tuple(self.hidden_sizes), self.activation, name)
    self.actor_torso = make("actor_torso")
    if not self.shared_torso:
      self.critic_torso = make("critic_torso")
    self.policy_head = nn.Dense(self.num_actions, kernel_init=orthogonal(0.01),
                                bias_init=nn.initializers.zeros, name="policy_head")
    self.value_head = nn.Dense(1, kernel_init=orthogonal(1.0), bias_init=nn.initializers.zeros,
                               name="value_head")

  def _prepare(self, obs):
    obs = jnp.asarray(obs, jnp.float32)
    if self.torso == "mlp" and self.obs_ndim > 1:
      obs = obs.reshape((*obs.shape[:obs.ndim - self.obs_ndim], -1))
    return obs

  def __call__(self, obs):
    obs = self._prepare(obs)
    if self.shared_torso:
      h = self.actor_torso(obs)
      return self.policy_head(h), self.value_head(h)[..., 0]
    return self.policy_head(self.actor_torso(obs)), self.value_head(self.critic_torso(obs))[..., 0]

  def policy(self, obs):
    """Only the logits `[..., A]` (skips the critic torso when separate)."""
    return self.policy_head(self.actor_torso(self._prepare(obs)))

  def value(self, obs):
    """Only the value `[...]`."""
    torso = self.actor_torso if self.shared_torso else self.critic_torso
    return self.value_head(torso(self._prepare(obs)))[..., 0]


class QNetwork(nn.Module):
  """Action values `[..., A]` from an MLP or MinAtar CNN torso.

  The defaults (120 and 84 ReLU units) are CleanRL's and PureJaxRL's DQN network.

  Attributes:
    num_actions: number of discrete actions `A`.
    hidden_sizes: widths of the torso's layers.
    activation: `"tanh"` or `"relu"`.
    torso: `"mlp"` or `"cnn"`.
    obs_ndim: rank of one observation.
  """

  num_actions: int
  hidden_sizes: Sequence[int] = (120, 84)
  activation: str = "relu"
  torso: str = "mlp"
  obs_ndim: int = 1

  @nn.compact
  def __call__(self, obs):
    obs = jnp.asarray(obs, jnp.float32)
    if self.torso == "mlp" and self.obs_ndim > 1:
      obs = obs.reshape((*obs.shape[:obs.ndim - self.obs_ndim], -1))
    h = _torso(self.torso, tuple(self.hidden_sizes), self.activation)(obs)
    return nn.Dense(self.num_actions, kernel_init=orthogonal(1.0),
                    bias_init=nn.initializers.zeros)(h)
