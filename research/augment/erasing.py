"""Random Erasing data augmentation (Zhong et al.), for one image; batch with `jax.vmap`."""

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from research import checks

_RATIO_SAMPLING = ("uniform", "log_uniform")
_FILLS = ("random", "mean")


class ErasingBox(NamedTuple):
  """The rectangle that `random_erasing` erases: rows `[top, top + height)`, columns
  `[left, left + width)`; `height = width = 0` (and `top = left = 0`) when nothing is erased."""
  erase: chex.Array   # bool scalar: the coin came up and a candidate box fitted
  top: chex.Array     # int32 scalar
  left: chex.Array    # int32 scalar
  height: chex.Array  # int32 scalar
  width: chex.Array   # int32 scalar


def _concrete_float(name: str, x) -> float | None:
  """`x` as a Python float when it is a concrete scalar, None when it is traced."""
  if isinstance(x, jax.core.Tracer):
    return None
  x = np.asarray(x)
  if x.ndim or not (np.issubdtype(x.dtype, np.number) and not np.iscomplexobj(x)):
    raise ValueError(f"{name} must be a real scalar, got {x!r}.")
  return float(x)


def _check_range(name: str, pair, *, upper: float | None) -> None:
  """Checks `0 < pair[0] <= pair[1]` (`<= upper` when given) where the values are concrete."""
  if not isinstance(pair, tuple | list) or len(pair) != 2:
    raise ValueError(f"{name} must be a pair (low, high), got {pair!r}.")
  low, high = (_concrete_float(f"{name}[{i}]", v) for i, v in enumerate(pair))
  if low is not None and not low > 0:
    raise ValueError(f"{name}[0] must be > 0, got {low}.")
  if low is not None and high is not None and not low <= high:
    raise ValueError(f"{name} must satisfy low <= high, got {pair!r}.")
  if upper is not None and high is not None and not high <= upper:
    raise ValueError(f"{name}[1] must be <= {upper}, got {high}.")


def _check_box_args(probability, scale, ratio, ratio_sampling, max_attempts) -> None:
  p = _concrete_float("probability", probability)
  if p is not None and not 0 <= p <= 1:
    raise ValueError(f"probability must be in [0, 1], got {p}.")
  _check_range("scale", scale, upper=1.0)
  _check_range("ratio", ratio, upper=None)
  checks.choice(ratio_sampling, "ratio_sampling", _RATIO_SAMPLING)
  checks.static_int(max_attempts, "max_attempts")


def sample_erasing_box(key: chex.PRNGKey, height: int, width: int, *, probability: float = 0.5,
                       scale: tuple[float, float] = (0.02, 0.4),
                       ratio: tuple[float, float] = (0.3, 1 / 0.3),
                       ratio_sampling: str = "uniform", max_attempts: int = 100) -> ErasingBox:
  """Draws the rectangle of Random Erasing for an image of `height × width` pixels.

  .. math::
    S_e \\sim U(s_l, s_h) \\cdot H W,\\quad r_e \\sim U(r_1, r_2)\\ \\text{or}\\
    \\exp U(\\log r_1, \\log r_2),\\quad H_e = \\mathrm{round}\\sqrt{S_e r_e},\\
    W_e = \\mathrm{round}\\sqrt{S_e / r_e}

  With probability `probability` a box is erased. `max_attempts` candidates `(S_e, r_e)` are
  drawn at once and the first that fits is kept, `1 <= H_e < H` and `1 <= W_e < W` (strict, as in
  the paper's Algorithm 1 and torchvision; a box that rounds to zero pixels does not count as
  fitting). Its top-left corner is uniform over the `(H - H_e + 1)(W - W_e + 1)` positions where
  it fits. If no candidate fits, nothing is erased: the retries truncate the distribution of
  large areas and extreme ratios on small images. Rounding is half-to-even.

  See 'Random Erasing Data Augmentation' by Zhong, Zheng, Kang, Li, Yang
  (https://arxiv.org/abs/1708.04896).

  Args:
    key: a PRNG key (one per image).
    height: image height H (static).
    width: image width W (static).
    probability: chance `p` of erasing, in [0, 1].
    scale: `(s_l, s_h)`, the erased area as a fraction of the image, `0 < s_l <= s_h <= 1`.
    ratio: `(r_1, r_2)`, the aspect ratio `H_e / W_e` range, `0 < r_1 <= r_2`; the paper uses
      `(r_1, 1 / r_1)`.
    ratio_sampling: "uniform" (the paper) or "log_uniform" (torchvision).
    max_attempts: number of candidate boxes (static), at least 1.

  Returns:
    An `ErasingBox` of int32 scalars (and the bool `erase`).
  """
  _check_box_args(probability, scale, ratio, ratio_sampling, max_attempts)
  height = checks.static_int(height, "height")
  width = checks.static_int(width, "width")
  # One draw: threefry is slow to compile on the CPU (about a second per call site).
  return _box_from_uniforms(jax.random.uniform(key, (2 * max_attempts + 3,)), probability,
                            _scalars(scale), _scalars(ratio), height=height, width=width,
                            ratio_sampling=ratio_sampling)


def _scalars(pair) -> tuple:
  """The pair as JAX scalars (weakly typed, as `jit` makes Python numbers), so its arithmetic
  runs in the image's float precision whether the values are Python floats or traced."""
  return tuple(jnp.asarray(v) for v in pair)


def _box_from_uniforms(u, probability, scale, ratio, *, height, width,
                       ratio_sampling) -> ErasingBox:
  """The box from `2 A + 3` uniforms: A areas, A ratios, the coin, the top and the left."""
  max_attempts = (u.shape[0] - 3) // 2
  u_area, u_ratio = u[:max_attempts], u[max_attempts:2 * max_attempts]
  u_apply, u_top, u_left = u[2 * max_attempts:]
  area = (scale[0] + (scale[1] - scale[0]) * u_area) * (height * width)
  if ratio_sampling == "uniform":
    aspect = ratio[0] + (ratio[1] - ratio[0]) * u_ratio
  else:
    log_low = jnp.log(ratio[0])
    aspect = jnp.exp(log_low + (jnp.log(ratio[1]) - log_low) * u_ratio)
  box_h = jnp.round(jnp.sqrt(area * aspect)).astype(jnp.int32)
  box_w = jnp.round(jnp.sqrt(area / aspect)).astype(jnp.int32)
  fits = (box_h >= 1) & (box_h < height) & (box_w >= 1) & (box_w < width)
  first = jnp.argmax(fits)
  erase = (u_apply < probability) & fits[first]
  box_h = jnp.where(erase, box_h[first], 0)
  box_w = jnp.where(erase, box_w[first], 0)
  # Uniform over the H - H_e + 1 (W - W_e + 1) positions where the box fits.
  top = jnp.minimum(jnp.floor(u_top * (height - box_h + 1)).astype(jnp.int32), height - box_h)
  left = jnp.minimum(jnp.floor(u_left * (width - box_w + 1)).astype(jnp.int32), width - box_w)
  top, left = jnp.where(erase, top, 0), jnp.where(erase, left, 0)
  return ErasingBox(erase=erase, top=top, left=left, height=box_h, width=box_w)


def random_erasing(key: chex.PRNGKey, image: chex.Array, *, probability: float = 0.5,
                   scale: tuple[float, float] = (0.02, 0.4),
                   ratio: tuple[float, float] = (0.3, 1 / 0.3), ratio_sampling: str = "uniform",
                   value: str | float = "random", max_attempts: int = 100,
                   return_mask: bool = False):
  """Random Erasing: replaces a random rectangle of one image with noise or a constant.

  .. math::
    x' = (1 - M) \\odot x + M \\odot v,\\quad M = 1_{[t, t + H_e) \\times [l, l + W_e)}

  The rectangle `M` is drawn as by `sample_erasing_box` (see it for the sampling, the fit rule and
  the retries); with a "mean" or constant fill it is exactly `sample_erasing_box(key, H, W, ...)`,
  and a "random" fill draws the box and the noise from one uniform draw of `key`. The fill `v`:
  - "random": independent uniform values in `[min(x), max(x)]` of this image, per pixel and
    channel (the paper's "random values", in the image's own range; integer images get integers
    in that closed range);
  - "mean": the image's per-channel mean (rounded for integer images);
  - a number, or one number per channel: that constant.
  Works under `jit` and `vmap`; give every image its own key (`jax.random.split`) for independent
  boxes. Concrete hyperparameters are validated; traced ones (a vmapped sweep) are not.

  See 'Random Erasing Data Augmentation' by Zhong, Zheng, Kang, Li, Yang
  (https://arxiv.org/abs/1708.04896).

  Args:
    key: a PRNG key (one per image).
    image: [H, W, C] image, float or integer.
    probability: chance `p` of erasing, in [0, 1].
    scale: `(s_l, s_h)`, the erased area as a fraction of the image, `0 < s_l <= s_h <= 1`.
    ratio: `(r_1, r_2)`, the aspect-ratio (`H_e / W_e`) range, `0 < r_1 <= r_2`.
    ratio_sampling: "uniform" (the paper) or "log_uniform" (torchvision).
    value: "random", "mean", a number, or a sequence of C numbers.
    max_attempts: number of candidate boxes drawn (static), at least 1.
    return_mask: also return the erased mask.

  Returns:
    The [H, W, C] image (same dtype), and the [H, W] bool mask when `return_mask`.
  """
  image = jnp.asarray(image)
  if image.ndim != 3:
    raise ValueError(f"image must have rank 3 ([H, W, C]), got shape {image.shape}.")
  if not (jnp.issubdtype(image.dtype, jnp.floating) or jnp.issubdtype(image.dtype, jnp.integer)):
    raise ValueError(f"image must have a float or integer dtype, got {image.dtype}.")
  height, width, channels = image.shape
  fill_mode = value if isinstance(value, str) else "constant"
  if fill_mode not in (*_FILLS, "constant"):
    raise ValueError(f"value must be one of {_FILLS}, a number or {channels} numbers, got "
                     f"{value!r}.")
  if fill_mode == "constant":
    array = value if isinstance(value, jax.core.Tracer) else np.asarray(value)
    if isinstance(value, bool) or not jnp.issubdtype(array.dtype, jnp.number) \
        or array.ndim > 1 or (array.ndim == 1 and array.shape[0] != channels):
      raise ValueError(f"value must be 'random', 'mean', a number or {channels} numbers (one "
                       f"per channel), got {value!r}.")
  _check_box_args(probability, scale, ratio, ratio_sampling, max_attempts)
  constant = jnp.asarray(value, jnp.result_type(float)) if fill_mode == "constant" else None
  num_box = 2 * max_attempts + 3
  u = jax.random.uniform(key, (num_box + (image.size if fill_mode == "random" else 0),))
  box = _box_from_uniforms(u[:num_box], probability, _scalars(scale), _scalars(ratio),
                           height=height, width=width, ratio_sampling=ratio_sampling)
  rows = jnp.arange(height)[:, None]
  cols = jnp.arange(width)[None, :]
  mask = ((rows >= box.top) & (rows < box.top + box.height)
          & (cols >= box.left) & (cols < box.left + box.width))
  integer = jnp.issubdtype(image.dtype, jnp.integer)
  if fill_mode == "random":
    dtype = jnp.result_type(float) if integer else jnp.promote_types(image.dtype, jnp.float32)
    low, high = image.min().astype(dtype), image.max().astype(dtype)
    u = u[num_box:].reshape(image.shape).astype(dtype)
    if integer:  # uniform over the integers low..high
      fill = jnp.minimum(low + jnp.floor(u * (high - low + 1)), high)
    else:
      fill = jnp.clip(low + (high - low) * u, low, high)
  elif fill_mode == "mean":
    fill = jnp.mean(image, axis=(0, 1), dtype=jnp.result_type(float))
    fill = jnp.round(fill) if integer else fill
  else:
    fill = jnp.round(constant) if integer else constant
  erased = jnp.where(mask[:, :, None], fill.astype(image.dtype), image)
  return (erased, mask) if return_mask else erased
