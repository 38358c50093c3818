"""Tests of research.augment.random_erasing: the rectangle, its distribution, fills, jit/vmap."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from research import augment

KEY = jax.random.key(0)


def _image(seed=0, dtype=np.float32):
  """A 32 x 24 x 3 image in [-1, 2) (NumPy-drawn: threefry is slow to compile on the CPU)."""
  image = np.random.default_rng(seed).uniform(-1., 2., (32, 24, 3))
  return jnp.asarray(image if dtype == np.float32 else 50 + 17 * image, dtype)


def _bounding_box(mask):
  rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
  return rows[0], cols[0], rows[-1] + 1 - rows[0], cols[-1] + 1 - cols[0]


@functools.partial(jax.jit, static_argnames="ratio_sampling")
def _boxes(key, scale, probability=1., ratio_sampling="uniform"):
  """4,000 boxes on a 256 x 256 image, from independent keys."""
  sample = functools.partial(augment.sample_erasing_box, height=256, width=256,
                             probability=probability, scale=scale, ratio_sampling=ratio_sampling)
  return jax.vmap(sample)(jax.random.split(key, 4000))


def test_probability_zero_is_identity():
  image = _image()
  for key in jax.random.split(KEY, 8):
    out, mask = augment.random_erasing(key, image, probability=0., value=7., return_mask=True)
    np.testing.assert_array_equal(out, image)
    assert not mask.any()


def test_erases_exactly_one_rectangle_and_nothing_else():
  image = _image()
  for key in jax.random.split(KEY, 20):
    out, mask = augment.random_erasing(key, image, probability=1., value=7., return_mask=True)
    mask = np.asarray(mask)
    assert mask.any()
    top, left, height, width = _bounding_box(mask)
    rectangle = np.zeros_like(mask)
    rectangle[top:top + height, left:left + width] = True
    np.testing.assert_array_equal(mask, rectangle)
    assert height < image.shape[0] and width < image.shape[1]  # strict fit
    np.testing.assert_array_equal(np.asarray(out)[~mask], np.asarray(image)[~mask])
    np.testing.assert_array_equal(np.asarray(out)[mask], 7.)


def test_mask_is_the_sampled_box():
  """With a non-random fill, random_erasing erases exactly sample_erasing_box(key)."""
  keys = jax.random.split(KEY, 64)
  image = _image()
  _, masks = jax.jit(jax.vmap(lambda k: augment.random_erasing(k, image, value="mean",
                                                               return_mask=True)))(keys)
  boxes = jax.jit(jax.vmap(lambda k: augment.sample_erasing_box(k, 32, 24)))(keys)
  boxes = jax.tree.map(np.asarray, boxes)
  rows, cols = np.arange(32)[:, None], np.arange(24)[None, :]
  for i in range(len(keys)):
    top, left, height, width = (int(x[i]) for x in boxes[1:])
    expected = (rows >= top) & (rows < top + height) & (cols >= left) & (cols < left + width)
    np.testing.assert_array_equal(masks[i], expected)
    assert bool(boxes.erase[i]) == bool(masks[i].any())


def test_area_fraction_is_uniform():
  # On 256 x 256 with areas up to 1/4 and the paper's ratios every draw fits, so nothing is
  # truncated; rounding the sides moves the area by ~1 %.
  scale = (0.02, 0.25)
  boxes = _boxes(jax.random.key(1), scale)
  assert boxes.erase.all()
  fraction = np.asarray(boxes.height * boxes.width) / 256**2
  assert stats.kstest(fraction, stats.uniform(scale[0], scale[1] - scale[0]).cdf).pvalue > 1e-3
  assert stats.kstest(fraction, stats.uniform(0.02, 0.3).cdf).pvalue < 1e-6  # the test has power


@pytest.mark.parametrize("ratio_sampling", ["uniform", "log_uniform"])
def test_aspect_ratio_distribution(ratio_sampling):
  r1, r2 = 0.3, 1 / 0.3
  boxes = _boxes(jax.random.key(2), (0.1, 0.25), ratio_sampling=ratio_sampling)
  assert boxes.erase.all()
  log_ratio = np.log(np.asarray(boxes.height) / np.asarray(boxes.width))
  uniform = stats.kstest(np.exp(log_ratio), stats.uniform(r1, r2 - r1).cdf).pvalue
  log_uniform = stats.kstest(log_ratio, stats.uniform(np.log(r1), np.log(r2 / r1)).cdf).pvalue
  if ratio_sampling == "uniform":
    assert uniform > 1e-3 and log_uniform < 1e-6
  else:
    assert log_uniform > 1e-3 and uniform < 1e-6


def test_fraction_erased_is_the_probability():
  boxes = _boxes(jax.random.key(3), (0.02, 0.25), probability=0.3)
  assert abs(float(np.mean(boxes.erase)) - 0.3) < 0.036  # 5 standard errors


def test_nothing_fits_leaves_the_image_unchanged():
  image = _image()  # 32 x 24: a square of area >= 0.99 * 768 has sides 28 > 24
  for key in jax.random.split(KEY, 4):
    out, mask = augment.random_erasing(key, image, probability=1., scale=(0.99, 1.),
                                       ratio=(1., 1.), return_mask=True)
    np.testing.assert_array_equal(out, image)
    assert not mask.any()


def test_batch_members_get_independent_boxes():
  images = jnp.stack([_image(seed=i) for i in range(16)])
  keys = jax.random.split(KEY, 16)
  erase = jax.jit(jax.vmap(functools.partial(augment.random_erasing, probability=1.,
                                             return_mask=True)))
  _, masks = erase(keys, images)
  boxes = {_bounding_box(np.asarray(m)) for m in masks}
  assert len(boxes) == 16
  _, again = erase(keys, images)
  np.testing.assert_array_equal(masks, again)  # same keys, same boxes


def test_jit_and_vmap_agree_with_eager():
  images = jnp.stack([_image(seed=i) for i in range(4)])
  keys = jax.random.split(KEY, 4)
  fn = functools.partial(augment.random_erasing, probability=0.7, value="random")
  eager = jnp.stack([fn(k, x) for k, x in zip(keys, images, strict=True)])
  # Eagerly each op rounds on its own; under jit XLA fuses `low + (high − low) u` (an FMA on
  # CPUs that have one): the noise agrees to float32 rounding, the boxes exactly.
  np.testing.assert_allclose(jax.jit(jax.vmap(fn))(keys, images), eager, rtol=0, atol=3e-7)
  np.testing.assert_allclose(jax.jit(fn)(keys[0], images[0]), eager[0], rtol=0, atol=3e-7)
  masks = jax.vmap(functools.partial(fn, return_mask=True))(keys, images)[1]
  np.testing.assert_array_equal(masks, jnp.stack(
      [fn(k, x, return_mask=True)[1] for k, x in zip(keys, images, strict=True)]))


def test_traced_hyperparameters():
  """A sweep can vmap the probability and the scale."""
  image = _image()
  fn = lambda p, s: augment.random_erasing(KEY, image, probability=p, scale=(s, s),
                                           return_mask=True)[1]
  masks = jax.jit(jax.vmap(fn))(jnp.array([0., 1.]), jnp.array([0.1, 0.1]))
  assert not masks[0].any() and masks[1].any()


def test_fill_random_mean_and_constants():
  image = _image() + jnp.array([0., 10., 20.])
  keys = jax.random.split(KEY, 5)
  out, mask = augment.random_erasing(keys[0], image, probability=1., value="random",
                                     return_mask=True)
  erased = np.asarray(out)[np.asarray(mask)]
  assert erased.min() >= float(image.min()) and erased.max() <= float(image.max())
  assert erased.std() > 1.  # fresh noise over the image's whole range, not a constant
  out, mask = augment.random_erasing(keys[1], image, probability=1., value="mean",
                                     return_mask=True)
  erased = np.asarray(out)[np.asarray(mask)]
  np.testing.assert_allclose(erased, np.broadcast_to(image.mean((0, 1)), erased.shape), rtol=1e-6)
  out, mask = augment.random_erasing(keys[2], image, probability=1., value=(1., 2., 3.),
                                     return_mask=True)
  np.testing.assert_array_equal(np.asarray(out)[np.asarray(mask)][0], [1., 2., 3.])
  out, mask = augment.random_erasing(keys[3], image, probability=1., value=0, return_mask=True)
  assert out.dtype == image.dtype and (np.asarray(out)[np.asarray(mask)] == 0).all()


def test_integer_images():
  image = _image(dtype=np.uint8)
  out, mask = augment.random_erasing(jax.random.key(4), image, probability=1., return_mask=True)
  assert out.dtype == jnp.uint8
  erased = np.asarray(out)[np.asarray(mask)]
  assert erased.min() >= int(image.min()) and erased.max() <= int(image.max())
  out = augment.random_erasing(jax.random.key(5), image, probability=1., value="mean")
  assert out.dtype == jnp.uint8


@pytest.mark.parametrize("kwargs, message", [
    (dict(probability=-0.1), "probability"), (dict(probability=1.5), "probability"),
    (dict(scale=(0., 0.4)), "scale"), (dict(scale=(0.5, 0.4)), "scale"),
    (dict(scale=(0.1, 1.5)), "scale"), (dict(scale=0.4), "scale"),
    (dict(ratio=(0., 2.)), "ratio"), (dict(ratio=(3., 0.3)), "ratio"),
    (dict(ratio_sampling="normal"), "ratio_sampling"), (dict(value="median"), "value"),
    (dict(value=(1., 2.)), "value"), (dict(value=True), "value"),
    (dict(max_attempts=0), "max_attempts"),
])
def test_rejects_bad_arguments(kwargs, message):
  with pytest.raises(ValueError, match=message):
    augment.random_erasing(KEY, _image(), **kwargs)


def test_rejects_bad_images():
  with pytest.raises(ValueError, match="image"):
    augment.random_erasing(KEY, jnp.zeros((8, 8)))
  with pytest.raises(ValueError, match="image"):
    augment.random_erasing(KEY, jnp.zeros((8, 8, 3), bool))
