"""A small convolutional classifier for tiny images (e.g. scikit-learn's 8×8 digits)."""

import math
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


def image_patches(images: jnp.ndarray, size: int = 3) -> jnp.ndarray:
  """The `size × size` neighbourhood of every pixel, zero-padded ('SAME'), as features.

  .. math:: P[b, i, j, (u s + v) C + c] = \\tilde x[b, i + u, j + v, c],\\quad 0 \\le u, v < s

  with `x̃` the input padded by `⌊s/2⌋` zeros (odd `s`). A convolution with a `[s, s, C, F]`
  kernel `K` is then `P @ K.reshape(s² C, F)` (im2col).

  Args:
    images: [B, H, W, C] images.
    size: odd window size s.

  Returns:
    [B, H, W, s² C] patches.
  """
  if size % 2 != 1:
    raise ValueError(f"size must be odd, got {size}.")
  r = size // 2
  height, width = images.shape[1:3]
  padded = jnp.pad(images, ((0, 0), (r, r), (r, r), (0, 0)))
  return jnp.concatenate([padded[:, u:u + height, v:v + width]
                          for u in range(size) for v in range(size)], axis=-1)


def lecun_normal_flat(key, shape, dtype=jnp.float32):
  """LeCun normal init (flax's default), drawn as one flat vector and reshaped.

  .. math:: W \\sim \\mathcal{N}_{[-2, 2]}(0, 1) \\cdot \\frac{1}{0.8796\\,\\sqrt{n_{in}}},
    \\quad n_{in} = \\textstyle\\prod_{i < -1} \\mathrm{shape}_i

  as `nn.initializers.lecun_normal()` for dense ([n_in, F]) and convolution ([s, s, C, F])
  kernels: with `jax_threefry_partitionable` (the default) random bits depend only on the flat
  index, so the values are the same (to rounding). Flat because XLA:CPU compiles random draws
  of rank-3+ shapes very slowly (measured: a [3, 3, 8, 16] truncated normal 17 s, the same
  [1152] vector 1.2 s), and `vmap` over seeds adds a rank.
  """
  fan_in = math.prod(shape[:-1])
  stddev = math.sqrt(1.0 / fan_in) / 0.87962566103423978  # std of N(0, 1) truncated to ±2
  flat = jax.random.truncated_normal(key, -2.0, 2.0, (math.prod(shape),), dtype)
  return (stddev * flat).reshape(shape)


class PatchConv(nn.Module):
  """A stride-1 'SAME' convolution computed as a matmul over `image_patches` (im2col).

  .. math:: y = \\mathrm{im2col}(x)\\, \\mathrm{vec}(K) + b

  Same parameters (`kernel` [s, s, C, F], `bias` [F]) and outputs as `flax.linen.Conv(F, (s, s),
  padding='SAME')`. It exists for speed on the CPU: XLA:CPU runs convolutions inside loop bodies
  (a `lax.scan` of training updates) about 10× slower than outside them
  (https://github.com/jax-ml/jax/issues/12868), while matmuls keep their speed; on 8×8 digits
  the whole training step is ~5× faster this way.

  Attributes:
    features: output channels F.
    size: odd window size s.
  """

  features: int
  size: int = 3

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    channels = x.shape[-1]
    kernel = self.param("kernel", lecun_normal_flat,
                        (self.size, self.size, channels, self.features))
    bias = self.param("bias", nn.initializers.zeros, (self.features,))
    patches = image_patches(x, self.size)
    return patches @ kernel.reshape(-1, self.features).astype(x.dtype) + bias.astype(x.dtype)


def avg_pool_2x2(x: jnp.ndarray) -> jnp.ndarray:
  """2×2 average pooling with stride 2 on [B, H, W, C] (an odd trailing row/column is dropped)."""
  b, h, w, c = x.shape
  x = x[:, : h - h % 2, : w - w % 2]
  return x.reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


class SmallCNN(nn.Module):
  """Conv-ReLU-AvgPool blocks, then a ReLU hidden layer and a linear classifier head.

  .. math::
    h_0 = x,\\quad h_i = \\mathrm{avgpool}_{2\\times2}(\\mathrm{relu}(K_i * h_{i-1} + b_i)),
    \\quad \\mathrm{logits} = V_2\\, \\mathrm{relu}(V_1 \\mathrm{vec}(h_L) + c_1) + c_2

  Convolutions are 3×3 with 'SAME' padding (`PatchConv`, im2col: fast inside `lax.scan` on the
  CPU), pooling is 2×2 with stride 2 (each block halves height and width, an odd size is
  floored), so an 8×8 input with two blocks ends at 2×2. A LeNet-style network (see
  'Gradient-Based Learning Applied to Document Recognition' by LeCun, Bottou, Bengio, Haffner,
  http://yann.lecun.com/exdb/publis/pdf/lecun-98.pdf), sized for 8×8 inputs so that dozens of
  seeds train in a minute on a CPU.

  Attributes:
    num_classes: number of output logits.
    features: output channels of each conv block (one block per entry).
    hidden: width of the hidden dense layer (0: none, the head reads the features directly).

  Example:
    >>> model = SmallCNN(num_classes=10)
    >>> params = model.init(jax.random.key(0), jnp.zeros((1, 8, 8, 1)))
    >>> model.apply(params, jnp.zeros((5, 8, 8, 1))).shape
    (5, 10)
  """

  num_classes: int
  features: Sequence[int] = (8, 16)
  hidden: int = 64

  @nn.compact
  def __call__(self, images: jnp.ndarray) -> jnp.ndarray:
    """Logits of a batch.

    Args:
      images: [B, H, W, C] float images (a single [H, W, C] image is treated as a batch of 1).

    Returns:
      [B, num_classes] logits ([num_classes] for a single image).
    """
    if images.ndim not in (3, 4):
      raise ValueError(f"images must have shape [B, H, W, C] or [H, W, C], got {images.shape}.")
    single = images.ndim == 3
    x = images[None] if single else images
    for width in self.features:
      x = avg_pool_2x2(nn.relu(PatchConv(width)(x)))
    x = x.reshape(x.shape[0], -1)
    if self.hidden:
      x = nn.relu(nn.Dense(self.hidden, kernel_init=lecun_normal_flat)(x))
    logits = nn.Dense(self.num_classes, kernel_init=lecun_normal_flat)(x)
    return logits[0] if single else logits
