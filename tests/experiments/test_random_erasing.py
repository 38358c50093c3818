"""The Random Erasing experiment: the CNN, the occlusion generator and a short training run."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import random_erasing as re_config
from experiments import random_erasing
from research import models, runtime, tasks
from research.models import cnn

# --- SmallCNN ----------------------------------------------------------------------------------


def _zero_params(model, shape):
  """Parameters of the right shapes without running (and compiling) the initialisers."""
  shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros(shape))
  return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)


def test_small_cnn_shapes():
  model = models.SmallCNN(num_classes=10)
  params = _zero_params(model, (1, 8, 8, 1))
  apply = jax.jit(model.apply)
  assert apply(params, jnp.zeros((5, 8, 8, 1))).shape == (5, 10)
  assert apply(params, jnp.zeros((8, 8, 1))).shape == (10,)
  shapes = jax.tree.map(jnp.shape, params)["params"]
  assert shapes["PatchConv_0"]["kernel"] == (3, 3, 1, 8)
  assert shapes["PatchConv_1"]["kernel"] == (3, 3, 8, 16)
  assert shapes["Dense_0"]["kernel"] == (2 * 2 * 16, 64)   # 8 -> 4 -> 2 after two poolings
  assert shapes["Dense_1"]["kernel"] == (64, 10)
  odd = models.SmallCNN(num_classes=3, features=(4,), hidden=0)
  out = jax.eval_shape(odd.apply, _zero_params(odd, (1, 7, 9, 2)), jnp.zeros((2, 7, 9, 2)))
  assert out.shape == (2, 3)   # 7×9 -> 3×4 (floored)
  with pytest.raises(ValueError, match="shape"):
    model.apply(params, jnp.zeros((8, 8)))


def test_patch_conv_equals_flax_conv():
  x = jax.random.normal(jax.random.key(1), (2, 6, 5, 3))
  patch = models.PatchConv(4)
  params = jax.jit(patch.init)(jax.random.key(2), x)
  conv = nn.Conv(4, (3, 3), padding="SAME")
  reference = jax.jit(conv.apply)(params, x)   # same parameter names and shapes
  np.testing.assert_allclose(jax.jit(patch.apply)(params, x), reference, atol=1e-5)


def test_lecun_normal_flat_is_flax_lecun_normal():
  key = jax.random.key(3)
  np.testing.assert_allclose(models.lecun_normal_flat(key, (72, 16)),
                             nn.initializers.lecun_normal()(key, (72, 16)), atol=1e-6)


def test_pooling_and_patches_by_hand():
  x = jnp.arange(16.0).reshape(1, 4, 4, 1)
  np.testing.assert_allclose(cnn.avg_pool_2x2(x)[0, :, :, 0], [[2.5, 4.5], [10.5, 12.5]])
  patches = cnn.image_patches(x)[0]
  assert patches.shape == (4, 4, 9)
  np.testing.assert_array_equal(patches[0, 0], [0, 0, 0, 0, 0, 1, 0, 4, 5])   # zero-padded corner
  np.testing.assert_array_equal(patches[1, 1], [0, 1, 2, 4, 5, 6, 8, 9, 10])


# --- Occlusion ---------------------------------------------------------------------------------


def test_occlusion_shapes_on_8x8():
  assert tasks.occlusion_shapes(8, 8, 0.0) == ((0, 0),)
  assert tasks.occlusion_shapes(8, 8, 0.1) == ((2, 3), (3, 2))      # 6.4 px -> 6
  assert tasks.occlusion_shapes(8, 8, 0.2) == ((3, 4), (4, 3))      # 12.8 -> 12 (13 is prime)
  assert tasks.occlusion_shapes(8, 8, 0.3) == ((4, 5), (5, 4))      # 19.2 -> 20
  assert tasks.occlusion_shapes(8, 8, 0.4) == ((5, 5),)             # 25.6 -> 25
  assert tasks.occlusion_shapes(8, 8, 1.0) == ((8, 8),)
  assert tasks.occlusion_shapes(8, 8, 0.1, ratio=(1 / 6, 6)) == ((1, 6), (2, 3), (3, 2), (6, 1))
  with pytest.raises(ValueError, match="area_fraction"):
    tasks.occlusion_shapes(8, 8, 1.5)


@pytest.mark.parametrize("fraction", [0.1, 0.3, 0.4])
def test_occlusion_set_covers_one_rectangle_of_the_asked_area(fraction):
  images = jax.random.uniform(jax.random.key(0), (300, 8, 8, 1), minval=0.2, maxval=0.3)
  out = np.asarray(tasks.occlusion_set(jax.random.key(7), images, area_fraction=fraction,
                                       value=5.0))
  shapes = tasks.occlusion_shapes(8, 8, fraction)
  mask = out[..., 0] == 5.0
  seen_shapes, corners = set(), set()
  for m in mask:
    rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
    h, w = len(rows), len(cols)
    assert (h, w) in shapes
    assert m.sum() == h * w                                 # a full rectangle ...
    assert np.ptp(rows) == h - 1 and np.ptp(cols) == w - 1  # ... of contiguous rows and columns
    seen_shapes.add((h, w))
    corners.add((h, w, int(rows[0]), int(cols[0])))
  assert seen_shapes == set(shapes)                         # every orientation occurs
  positions = {(h, w, t, c) for h, w in shapes for t in range(9 - h) for c in range(9 - w)}
  assert corners <= positions and len(corners) > 0.75 * len(positions)  # spread over all fits
  np.testing.assert_allclose(mask.mean(), shapes[0][0] * shapes[0][1] / 64)
  np.testing.assert_array_equal(out[~mask], np.asarray(images)[~mask])   # the rest unchanged


def test_occlude_random_fill_jit_vmap_and_determinism():
  image = jnp.zeros((8, 8, 1))
  keys = jax.random.split(jax.random.key(3), 64)
  occlude = jax.jit(jax.vmap(lambda k: tasks.occlude(k, image, area_fraction=0.3,
                                                     value_range=(0.0, 1.0), return_mask=True)))
  out, mask = occlude(keys)
  out, mask = np.asarray(out), np.asarray(mask)
  assert (mask.sum(axis=(1, 2)) == 20).all()
  inside = out[..., 0][mask]
  assert (inside >= 0).all() and (inside <= 1).all() and inside.std() > 0.2  # uniform noise
  assert (out[..., 0][~mask] == 0).all()
  again = tasks.occlusion_set(jax.random.key(5), jnp.zeros((10, 8, 8, 1)), area_fraction=0.2)
  np.testing.assert_array_equal(
      again, tasks.occlusion_set(jax.random.key(5), jnp.zeros((10, 8, 8, 1)), area_fraction=0.2))
  box = tasks.sample_occlusion_box(jax.random.key(0), 8, 8, area_fraction=0.0)
  assert int(box.height) == int(box.width) == 0
  clean = tasks.occlusion_set(jax.random.key(5), jnp.ones((3, 8, 8, 1)), area_fraction=0.0)
  np.testing.assert_array_equal(clean, 1.0)
  with pytest.raises(ValueError, match="value"):
    tasks.occlude(keys[0], image, area_fraction=0.1, value="mean")


# --- A short run -------------------------------------------------------------------------------


def test_short_run_beats_chance_and_reports(tmp_path):
  config = re_config.get_config("smoke")
  config.updates_per_chunk = 150
  config.occlusion_fractions = (0.0, 0.4)
  result = runtime.run(random_erasing.make(config), config, tmp_path, progress=False,
                       echo=lambda *_: None)
  occlusion, training, timings = result.report.tables
  assert timings.timed and timings.name == "Timings"
  assert occlusion.columns[2:] == ["p = 0 (no erasing)", "p = 0.5", "Δ p = 0.5 − p = 0 (paired)"]
  assert [row[0] for row in occlusion.rows] == ["0%", "40%"]
  assert occlusion.rows[1][1].startswith("25/64")
  clean = [float(cell.split(" ±")[0]) for cell in occlusion.rows[0][2:4]]
  assert min(clean) > 70.0                                   # chance is 10 %
  occluded = [float(cell.split(" ±")[0]) for cell in occlusion.rows[1][2:4]]
  assert max(occluded) < max(clean)                          # occlusion costs accuracy
  assert [row[0] for row in training.rows] == ["p = 0 (no erasing)", "p = 0.5"]
  assert {p.name for p in result.report.plots} == {"accuracy_vs_occlusion", "clean_accuracy"}
  assert "Random Erasing (p = 0.5) vs none" in result.report.notes


def test_bad_config_is_a_config_error(tmp_path):
  config = re_config.get_config("smoke")
  config.sweep = "erasing_probability=0.0,1.5"
  with pytest.raises(runtime.ConfigError,
                     match=r"sweep point erasing_probability=1.5: config.erasing_probability "
                           r"must be in \[0, 1\]"):
    runtime.run(random_erasing.make(config), config, tmp_path, progress=False)
