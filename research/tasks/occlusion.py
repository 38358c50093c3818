"""Occluded test sets: every image covered by one random rectangle of a given area fraction.

Robustness to occlusion is how Random Erasing was motivated and evaluated (Zhong et al., the
occlusion experiment of Sec. 5): a classifier trained with erasing should lose less accuracy when
a part of the object is hidden. One rectangle per image, its shape drawn among those whose area is
closest to the requested fraction, its position uniform over where it fits, filled with noise (or
a constant). For one image; `occlusion_set` vmaps it over a batch with per-image keys.
"""

import functools
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np


class OcclusionBox(NamedTuple):
  """The occluded rectangle: rows `[top, top + height)`, columns `[left, left + width)`."""
  top: chex.Array     # int32 scalar
  left: chex.Array    # int32 scalar
  height: chex.Array  # int32 scalar
  width: chex.Array   # int32 scalar


def occlusion_shapes(height: int, width: int, area_fraction: float, *,
                     ratio: tuple[float, float] = (0.5, 2.0)) -> tuple[tuple[int, int], ...]:
  """The rectangle shapes `(h, w)` that an occlusion of `area_fraction` may take (host-side).

  .. math::
    \\mathcal{S} = \\arg\\min_{(h, w)} |h w - f H W|\\quad\\text{over}\\quad 1 \\le h \\le H,\\
    1 \\le w \\le W,\\ r_1 \\le h / w \\le r_2

  every shape at the minimal distance (so both orientations of a non-square box). On small images
  the covered fraction `h w / (H W)` is the attainable one closest to `f`, e.g. on 8 × 8 pixels
  `f = 0.1` gives 2 × 3 and 3 × 2 (6 / 64 = 0.094); `f = 0` gives the empty shape `(0, 0)`.

  Args:
    height: image height H.
    width: image width W.
    area_fraction: the fraction f of the image to cover, in [0, 1].
    ratio: `(r_1, r_2)`, the allowed range of the aspect ratio `h / w`, `0 < r_1 <= r_2`.

  Returns:
    The shapes, sorted by height.
  """
  if not (isinstance(height, int | np.integer) and isinstance(width, int | np.integer)
          and height >= 1 and width >= 1):
    raise ValueError(f"height and width must be positive ints, got {height!r}, {width!r}.")
  area_fraction = float(area_fraction)
  if not 0.0 <= area_fraction <= 1.0:
    raise ValueError(f"area_fraction must be in [0, 1], got {area_fraction}.")
  if len(ratio) != 2 or not 0 < ratio[0] <= ratio[1]:
    raise ValueError(f"ratio must be a pair 0 < r_1 <= r_2, got {ratio!r}.")
  if area_fraction == 0.0:
    return ((0, 0),)
  target = area_fraction * height * width
  shapes = [(h, w) for h in range(1, height + 1) for w in range(1, width + 1)
            if ratio[0] <= h / w <= ratio[1]]
  if not shapes:
    raise ValueError(f"no rectangle of a {height} × {width} image has an aspect ratio in {ratio}.")
  best = min(abs(h * w - target) for h, w in shapes)
  return tuple(s for s in shapes if abs(s[0] * s[1] - target) == best)


def _shape_table(height: int, width: int, area_fraction: float, ratio) -> tuple[np.ndarray, int]:
  """The shapes as a [H W, 2] int32 table (padded with the first; its size depends only on the
  image, so one compilation serves every area fraction) and their count."""
  shapes = occlusion_shapes(height, width, area_fraction, ratio=tuple(ratio))
  table = np.array(shapes + shapes[:1] * (height * width - len(shapes)), np.int32)
  return table, len(shapes)


def sample_occlusion_box(key: chex.PRNGKey, height: int, width: int, *, area_fraction: float,
                         ratio: tuple[float, float] = (0.5, 2.0)) -> OcclusionBox:
  """Draws the occluding rectangle of one `height × width` image.

  The shape is uniform over `occlusion_shapes(height, width, area_fraction, ratio=ratio)` and the
  top-left corner uniform over the `(H − h + 1)(W − w + 1)` positions where it fits.

  Args:
    key: a PRNG key (one per image).
    height: image height H (static).
    width: image width W (static).
    area_fraction: the fraction of the image to cover, in [0, 1] (static: it fixes the shapes).
    ratio: `(r_1, r_2)`, the allowed aspect ratios `h / w` (static).

  Returns:
    An `OcclusionBox` of int32 scalars (all 0 when `area_fraction` is 0).
  """
  table, count = _shape_table(height, width, area_fraction, ratio)
  return _sample_box(key, table, count, height=height, width=width)


@functools.partial(jax.jit, static_argnames=("height", "width"))
def _sample_box(key, table, count, *, height, width) -> OcclusionBox:
  return _box_from_uniforms(jax.random.uniform(key, (3,)), table, count, height, width)


def _box_from_uniforms(u, table, count, height, width) -> OcclusionBox:
  """The box from 3 uniforms: the shape (one of the first `count` rows of `table`), top, left."""
  index = jnp.minimum(jnp.floor(u[0] * count).astype(jnp.int32), count - 1)
  box_h, box_w = table[index, 0], table[index, 1]
  top = jnp.minimum(jnp.floor(u[1] * (height - box_h + 1)).astype(jnp.int32), height - box_h)
  left = jnp.minimum(jnp.floor(u[2] * (width - box_w + 1)).astype(jnp.int32), width - box_w)
  return OcclusionBox(top=top, left=left, height=box_h, width=box_w)


def _check_fill(value, value_range) -> None:
  if isinstance(value, str) and value != "random":
    raise ValueError(f"value must be 'random' or a number, got {value!r}.")
  if value_range is not None and (len(value_range) != 2 or value_range[0] > value_range[1]):
    raise ValueError(f"value_range must be a pair low <= high, got {value_range!r}.")


def occlude(key: chex.PRNGKey, image: chex.Array, *, area_fraction: float,
            ratio: tuple[float, float] = (0.5, 2.0), value: str | float = "random",
            value_range: tuple[float, float] | None = None, return_mask: bool = False):
  """Covers a random rectangle of about `area_fraction` of one image with noise or a constant.

  .. math::
    x' = (1 - M) \\odot x + M \\odot v,\\quad M = 1_{[t, t + h) \\times [l, l + w)},
    \\quad (h, w) \\sim U(\\mathcal{S}),\\ t \\sim U\\{0..H - h\\},\\ l \\sim U\\{0..W - w\\}

  with `𝒮 = occlusion_shapes(H, W, area_fraction, ratio=ratio)` (the box is drawn as by
  `sample_occlusion_box`, from the same key). The fill `v`:
  - "random": independent uniform values per pixel and channel in `value_range`, or in the
    image's own `[min(x), max(x)]` when `value_range` is None (the fill of Random Erasing);
  - a number: that constant (e.g. 0 for a black patch).
  Works under `jit` and `vmap`; give every image its own key.

  See 'Random Erasing Data Augmentation' by Zhong, Zheng, Kang, Li, Yang
  (https://arxiv.org/abs/1708.04896), whose occlusion experiment this follows.

  Args:
    key: a PRNG key (one per image).
    image: [H, W, C] float image.
    area_fraction: the fraction of the image to cover, in [0, 1] (static).
    ratio: `(r_1, r_2)`, the allowed aspect ratios `h / w` (static).
    value: "random" or a number.
    value_range: `(low, high)` of the random fill; None: the image's own range.
    return_mask: also return the [H, W] bool mask of the occluded pixels.

  Returns:
    The occluded [H, W, C] image (same dtype), and the mask when `return_mask`.
  """
  image = jnp.asarray(image)
  if image.ndim != 3:
    raise ValueError(f"image must have rank 3 ([H, W, C]), got shape {image.shape}.")
  if not jnp.issubdtype(image.dtype, jnp.floating):
    raise ValueError(f"image must have a float dtype, got {image.dtype}.")
  _check_fill(value, value_range)
  table, count = _shape_table(image.shape[0], image.shape[1], area_fraction, ratio)
  out, mask = _occlude(key, image, table, count,
                       None if isinstance(value, str) else jnp.asarray(value),
                       None if value_range is None else tuple(float(v) for v in value_range))
  return (out, mask) if return_mask else out


@functools.partial(jax.jit, static_argnames="value_range")
def _occlude(key, image, table, count, constant, value_range):
  height, width, _ = image.shape
  u = jax.random.uniform(key, (3 + (image.size if constant is None else 0),))
  box = _box_from_uniforms(u[:3], table, count, height, width)
  rows = jnp.arange(height)[:, None]
  cols = jnp.arange(width)[None, :]
  mask = ((rows >= box.top) & (rows < box.top + box.height)
          & (cols >= box.left) & (cols < box.left + box.width))
  if constant is None:
    low, high = (image.min(), image.max()) if value_range is None else value_range
    fill = low + (high - low) * u[3:].reshape(image.shape).astype(image.dtype)
  else:
    fill = constant
  return jnp.where(mask[:, :, None], jnp.asarray(fill, image.dtype), image), mask


def occlusion_set(key: chex.PRNGKey, images: chex.Array, *, area_fraction: float,
                  ratio: tuple[float, float] = (0.5, 2.0), value: str | float = "random",
                  value_range: tuple[float, float] | None = None) -> chex.Array:
  """An occluded copy of a batch: `occlude` on image `i` with key `split(key, N)[i]`.

  One compilation per image shape and fill serves every `area_fraction`.

  Args:
    key: one PRNG key for the whole set (a fixed key gives a fixed test set).
    images: [N, H, W, C] float images.
    area_fraction, ratio, value, value_range: as in `occlude`.

  Returns:
    [N, H, W, C] occluded images.
  """
  images = jnp.asarray(images)
  if images.ndim != 4:
    raise ValueError(f"images must have rank 4 ([N, H, W, C]), got shape {images.shape}.")
  if not jnp.issubdtype(images.dtype, jnp.floating):
    raise ValueError(f"images must have a float dtype, got {images.dtype}.")
  _check_fill(value, value_range)
  table, count = _shape_table(images.shape[1], images.shape[2], area_fraction, ratio)
  return _occlusion_set(key, images, table, count,
                        None if isinstance(value, str) else jnp.asarray(value),
                        None if value_range is None else tuple(float(v) for v in value_range))


@functools.partial(jax.jit, static_argnames="value_range")
def _occlusion_set(key, images, table, count, constant, value_range):
  keys = jax.random.split(key, images.shape[0])
  return jax.vmap(lambda k, x: _occlude(k, x, table, count, constant, value_range)[0])(keys,
                                                                                      images)
