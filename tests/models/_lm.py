"""Small language models and attention cases shared by the transformer and decoding tests."""

from research.models.transformer import TransformerLM

# (attention, variant, conv_size): every kind but performer in one model (a layer each: a leak or
# mismatch in any layer reaches the logits) with TransNormer's T2 settings and a short convolution;
# the T1 settings of diag and norm; performer alone.
CASES = [(("softmax", "linear", "norm", "diag"), "t2", 3), (("diag", "norm"), "t1", 0),
         ("performer", "t2", 0)]
# Performer: the full pass (performer_attention) stabilises the keys by their maximum over the
# whole sequence, decoding by a running maximum; they cancel in the ratio only up to the
# denominator's eps = 1e-6, which moves logits by ~1e-4 at these sizes.
PERFORMER_ATOL = 2e-3


def small_model(attention="softmax", **kwargs):
  """A tiny TransformerLM (one layer per kind when `attention` is a tuple)."""
  defaults = dict(vocab_size=11, num_layers=2, width=16, num_heads=2, max_len=24, block_size=4,
                  num_features=8, chunk_size=4)
  if not isinstance(attention, str):
    defaults["num_layers"] = len(attention)
  return TransformerLM(attention=attention, **{**defaults, **kwargs})
