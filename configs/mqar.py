"""MQAR (Zoology): associative-recall accuracy of softmax, linear, Performer and TransNormer LMs.

Multi-query associative recall (`research.tasks.mqar`): `n` key-value pairs, then every key asked
again at random places; accuracy counts the query positions only. Small decoder-only LMs
(`research.models.TransformerLM`, 2 layers, one head, learned positions) with softmax, linear
(elu + 1), Performer (FAVOR+, 64 features) and TransNormer T1/T2 attention (diag below, norm
above) at widths 32, 64, 128, trained on a mixture of 4, 8 and 16 pairs and evaluated on each.

How the sweep runs: kinds and widths change parameter shapes, so they cannot share a vmap axis.
All `kinds × widths` models live in one state and one chunk's `lax.scan` updates each of them on
the same MQAR batch (paired comparison); the runtime vmaps that over seeds. One compiled program,
one run, one table; the pair counts need no separate training (one model is evaluated on every
count, as in Zoology). Compilation grows with the number of models (about 3–5 s each here).

See 'Zoology: Measuring and Improving Recall in Efficient Language Models' by Arora et al.
(https://arxiv.org/abs/2312.04927).

    python launch.py --config=configs/mqar.py
    python launch.py --config=configs/mqar.py --config.widths='(64,)' --config.num_seeds=5

Published pattern: softmax attention solves MQAR at small width; linear attention and the
Performer lose accuracy as the pairs grow and need more width. Measured here (default config,
2 seeds): at this budget (1,200 updates of 32 sequences, vs ~10⁵ in Zoology) NO model learns
recall: every kind and width sits at the no-recall baseline 1/n (≈ 53, 32, 25 % at 2, 4, 8 pairs),
so the pattern is not reproduced. With `answers_in_input=True` (Zoology's format) models instead
learn a shortcut (guess among the values not yet asked, H_n / n = 75, 52, 34 %). Runtime: ≈ 9.5
min on the 2-core CPU at load ≈ 4 (99 s compilation for the 15 models, 324 s training, ≈ 1 min of
speed timing in the report); `:smoke` ≈ 40 s; `:long` (4 models, 3,000 updates) ≈ 15 min.
"""

from research.runtime import base_config, select_variant


def get_config(arg=None):
  c = base_config("mqar")
  c.num_seeds = 2                       # seeds (vmapped); every model of the grid per seed
  c.kinds = ("softmax", "linear", "performer", "t1", "t2")  # attention of the models
  c.widths = (16, 32, 64)               # model widths F
  c.pairs = (2, 4, 8)                   # key-value pair counts: training mixture and evaluation
  c.vocab_size = 32                     # V: keys in [1, 16), values in [16, 32), 0 = filler
  c.seq_len = 32                        # T (>= 4 · max pairs: every key is queried)
  c.answers_in_input = False            # Zoology's format (query key + its value): a shortcut
  c.num_layers = 2                      # transformer blocks
  c.num_heads = 1                       # heads (head dim = width)
  c.mlp = "mlp"                         # channel mixer: "mlp" (GELU) or "glu" (SwiGLU)
  c.mlp_ratio = 2                       # hidden width / width
  c.tie_embeddings = True               # output head = embeddingᵀ
  c.block_size = 16                     # TransNormer diag attention block
  c.num_features = 64                   # Performer random features
  c.chunk_size = 64                     # chunk of the causal linear kernels (speed only)
  c.batch_size = 32                     # sequences per update
  c.learning_rate = 1e-2                # peak AdamW learning rate (linear warmup, cosine decay)
  c.warmup_fraction = 0.05              # share of updates in warmup
  c.weight_decay = 0.1                  # AdamW weight decay
  c.grad_clip = 1.0                     # global gradient-norm clip
  c.num_chunks = 12                     # chunks (metrics and checkpoints in between)
  c.updates_per_chunk = 100             # updates per chunk (one lax.scan)
  c.eval_size = 256                     # evaluation sequences per pair count (fixed key)
  c.eval_seed = 1234                    # key of the evaluation sets
  c.measure_speed = True                # report: time training updates per kind (on the host)
  c.sampling_kinds = ("softmax", "linear")  # kinds whose sampling speed the report measures
  c.checkpoint_every = 4

  def smoke(c):
    c.num_seeds = 2
    c.kinds = ("softmax", "linear")
    c.widths = (16,)
    c.pairs = (2, 4)
    c.seq_len = 16
    c.vocab_size = 16
    c.num_chunks = 2
    c.updates_per_chunk = 5
    c.batch_size = 8
    c.eval_size = 16
    c.measure_speed = False
    c.sampling_kinds = ()
    c.checkpoint_every = 1

  def long(c):  # longer training of fewer models: does softmax pull ahead with more updates?
    c.kinds = ("softmax", "linear", "t1", "t2")
    c.widths = (32,)
    c.num_chunks = 30
    c.sampling_kinds = ()

  return select_variant(arg, {"smoke": smoke, "long": long}, c)
