"""MQAR (Zoology): associative-recall accuracy of softmax, linear, Performer and TransNormer LMs.

Multi-query associative recall (`research.tasks.mqar`): `n` key-value pairs, then every key asked
again at random places; accuracy counts the query positions only. Small decoder-only LMs
(`research.models.TransformerLM`, 2 layers, one head, learned positions, a short causal
convolution of width 3 over q, k, v in every layer) with softmax, linear (elu + 1), Performer
(FAVOR+, 64 features) and TransNormer T1/T2 attention (diag below, norm above) at widths 16, 32
and 64, trained on a mixture of 2, 4 and 8 pairs and evaluated on each; 3 seeds.

How the sweep runs: kinds and widths change parameter shapes, so they cannot share a vmap axis.
All `kinds × widths` models live in one state and one chunk's `lax.scan` updates each of them on
the same MQAR batch (paired comparison); the runtime vmaps that over seeds. One compiled program,
one run, one table; the pair counts need no separate training (one model is evaluated on every
count, as in Zoology).

See 'Zoology: Measuring and Improving Recall in Efficient Language Models' by Arora et al.
(https://arxiv.org/abs/2312.04927).

    python launch.py --config=configs/mqar.py            # ≈ 18 min on the 2-core CPU at load ≈ 3
    python launch.py --config=configs/mqar.py:long       # 3,000 updates, 1 seed (≈ 14 min)
    python launch.py --config=configs/mqar.py:no_conv    # no short convolution (≈ 7 min)

Published pattern: softmax attention solves MQAR at small width; linear attention and the Performer
lose accuracy as the pairs grow and need more width. Measured (default config, 1,000 AdamW updates
of 64 sequences, mean over 3 seeds, accuracy at 2 / 4 / 8 pairs): softmax 100 / 100 / 100 % at
every width, 16 included; linear (elu + 1) 51 / 30 / 21 % at width 16, 84 / 63 / 47 % at 32, 99.9 /
99.5 / 98.5 % at 64: it declines with the pairs and recovers with width, the published pattern. The
Performer declines with the pairs at every width; TransNormer T1 stays at the no-recall level (1/n)
at every width and T2 leaves it only at width 64 (78 / 56 / 34 %, wide CIs). With `:long` (3,000
updates, 1 seed) every linear-time model recalls at width 64 (≥ 95 %), linear and Performer at
width 32 with a decline with pairs (100 / 99 / 94 %, 99 / 98 / 93 %), none but the Performer at 16,
and softmax at every width. The short convolution is what lets the linear-time models recall at
all: with `:no_conv` (the previous default: width 64, 2 / 4 / 6 pairs, 4,000 updates) softmax still
reaches 100 % after an induction-head phase change at ≈ 2,400 updates, while linear, Performer, T1
and T2 stay at the no-recall plateau (see the README).
"""

from research.runtime import base_config, select_variant


def get_config(arg=None):
  c = base_config("mqar")
  c.num_seeds = 3                       # seeds (vmapped); every model of the grid per seed
  c.kinds = ("softmax", "linear", "performer", "t1", "t2")  # attention of the models
  c.widths = (16, 32, 64)               # model widths F (one head: head dim = F)
  c.pairs = (2, 4, 8)                   # key-value pair counts: training mixture and evaluation
  c.vocab_size = 32                     # V: keys in [1, 16), values in [16, 32), 0 = filler
  c.seq_len = 32                        # T (>= 4 · max pairs: every key is queried)
  c.answers_in_input = False            # Zoology's format (query key + its value): a shortcut
  c.num_layers = 2                      # transformer blocks
  c.num_heads = 1                       # heads (head dim = width)
  c.mlp = "mlp"                         # channel mixer: "mlp" (GELU) or "glu" (SwiGLU)
  c.mlp_ratio = 2                       # hidden width / width
  c.tie_embeddings = True               # output head = embeddingᵀ
  c.conv_size = 3                       # short causal conv over q, k, v (0: none; see README)
  c.block_size = 16                     # TransNormer diag attention block
  c.num_features = 64                   # Performer random features
  c.chunk_size = 64                     # chunk of the causal linear kernels (speed only)
  c.batch_size = 64                     # sequences per update
  c.learning_rate = 3e-3                # peak AdamW learning rate (linear warmup, cosine decay)
  c.warmup_fraction = 0.05              # share of updates in warmup
  c.weight_decay = 0.1                  # AdamW weight decay
  c.grad_clip = 1.0                     # global gradient-norm clip
  c.num_chunks = 5                      # chunks (metrics and checkpoints in between)
  c.updates_per_chunk = 200             # updates per chunk (one lax.scan)
  c.eval_size = 256                     # evaluation sequences per pair count (fixed key)
  c.eval_seed = 1234                    # key of the evaluation sets
  c.measure_speed = True                # report: time training updates per kind (on the host)
  c.sampling_kinds = ("softmax", "linear")  # kinds whose sampling speed the report measures
  c.checkpoint_every = 1

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

  def no_conv(c):  # the previous default: no short convolution, 1 seed, 4,000 updates (≈ 7 min)
    c.conv_size = 0
    c.num_seeds = 1
    c.widths = (64,)
    c.pairs = (2, 4, 6)
    c.vocab_size = 24
    c.seq_len = 24
    c.num_chunks = 20
    c.checkpoint_every = 5

  def long(c):  # 3× the updates, 1 seed (≈ 14 min): does the ranking hold with more training?
    c.num_seeds = 1
    c.num_chunks = 15
    c.checkpoint_every = 5
    c.measure_speed = False
    c.sampling_kinds = ()

  return select_variant(arg, {"smoke": smoke, "no_conv": no_conv, "long": long}, c)
