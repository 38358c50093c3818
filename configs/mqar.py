"""MQAR (Zoology): associative-recall accuracy of softmax, linear, Performer and TransNormer LMs.

Multi-query associative recall (`research.tasks.mqar`): `n` key-value pairs, then every key asked
again at random places; accuracy counts the query positions only. Small decoder-only LMs
(`research.models.TransformerLM`, 2 layers, one head, learned positions) with softmax, linear
(elu + 1), Performer (FAVOR+, 64 features) and TransNormer T1/T2 attention (diag below, norm
above) at width 64 (more with `--config.widths`), trained on a mixture of 2, 4 and 6 pairs
and evaluated on each.

How the sweep runs: kinds and widths change parameter shapes, so they cannot share a vmap axis.
All `kinds × widths` models live in one state and one chunk's `lax.scan` updates each of them on
the same MQAR batch (paired comparison); the runtime vmaps that over seeds. One compiled program,
one run, one table; the pair counts need no separate training (one model is evaluated on every
count, as in Zoology). Compilation grows with the number of models (about 3–5 s each here).

See 'Zoology: Measuring and Improving Recall in Efficient Language Models' by Arora et al.
(https://arxiv.org/abs/2312.04927).

    python launch.py --config=configs/mqar.py
    python launch.py --config=configs/mqar.py --config.widths='(32, 64, 128)'  # the width sweep

Published pattern: softmax attention solves MQAR at small width; linear attention and the
Performer lose accuracy as the pairs grow and need more width. Measured here (default config,
1 seed, width 64, vocabulary 24, T = 24, 4,000 AdamW updates of 64 sequences at lr 3e-3):
softmax reaches 100 / 100 / 100 % at 2 / 4 / 6 pairs (a sudden phase change at ≈ 2,200–2,600
updates, training accuracy 45 % → 99 %), while linear, Performer, T1 and T2 stay at the no-recall
level (≈ 55 / 37 / 30 %, vs 1/n = 50 / 25 / 17 %): the softmax/linear separation is reproduced,
the linear variants' graded decline with pairs and their recovery with width are not tested at
this budget. Softmax pilots: width 32 (lr 3e-3 or 1e-2) and lr 1e-3 show no phase change within
2,000–3,000 updates; V = T = 32 with 2 / 4 / 8 pairs (width 64) only starts it (73 / 54 / 40 %
after 3,000 updates). Runtime: ≈ 14.5 min on the 2-core CPU under load
(73 s compilation, 681 s training, ≈ 1.5 min of speed timing in the report); `:smoke` ≈ 40 s.

    python launch.py --config=configs/mqar.py --config.num_seeds=3   # CIs (≈ 3× the time)
"""

from research.runtime import base_config, select_variant


def get_config(arg=None):
  c = base_config("mqar")
  c.num_seeds = 1                       # seeds (vmapped); every model of the grid per seed
  c.kinds = ("softmax", "linear", "performer", "t1", "t2")  # attention of the models
  c.widths = (64,)                      # model widths F (32 does not learn recall in budget)
  c.pairs = (2, 4, 6)                   # key-value pair counts: training mixture and evaluation
  c.vocab_size = 24                     # V: keys in [1, 12), values in [12, 24), 0 = filler
  c.seq_len = 24                        # T (>= 4 · max pairs: every key is queried)
  c.answers_in_input = False            # Zoology's format (query key + its value): a shortcut
  c.num_layers = 2                      # transformer blocks
  c.num_heads = 1                       # heads (head dim = width)
  c.mlp = "mlp"                         # channel mixer: "mlp" (GELU) or "glu" (SwiGLU)
  c.mlp_ratio = 2                       # hidden width / width
  c.tie_embeddings = True               # output head = embeddingᵀ
  c.block_size = 16                     # TransNormer diag attention block
  c.num_features = 64                   # Performer random features
  c.chunk_size = 64                     # chunk of the causal linear kernels (speed only)
  c.batch_size = 64                     # sequences per update
  c.learning_rate = 3e-3                # peak AdamW learning rate (linear warmup, cosine decay)
  c.warmup_fraction = 0.05              # share of updates in warmup
  c.weight_decay = 0.1                  # AdamW weight decay
  c.grad_clip = 1.0                     # global gradient-norm clip
  c.num_chunks = 20                     # chunks (metrics and checkpoints in between)
  c.updates_per_chunk = 200             # updates per chunk (one lax.scan)
  c.eval_size = 256                     # evaluation sequences per pair count (fixed key)
  c.eval_seed = 1234                    # key of the evaluation sets
  c.measure_speed = True                # report: time training updates per kind (on the host)
  c.sampling_kinds = ("softmax", "linear")  # kinds whose sampling speed the report measures
  c.checkpoint_every = 5

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

  def long(c):  # not run yet (≈ 1 h): do the linear variants catch up with more width, updates?
    c.widths = (32, 64, 128)
    c.num_chunks = 30
    c.sampling_kinds = ()

  return select_variant(arg, {"smoke": smoke, "long": long}, c)
