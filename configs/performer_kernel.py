"""Performer's kernel approximation: MSE of positive vs trig, iid vs orthogonal random features.

The MSE of `φ(x)ᵀφ(y)` as an estimate of the softmax kernel `exp(xᵀy)` (Choromanski et al.,
'Rethinking Attention with Performers', https://arxiv.org/abs/2009.14794, Lemma 2 and Section 4)
for positive features `exp(Wx − ‖x‖²/2)/√m` and trigonometric features
`exp(‖x‖²/2)[sin Wx, cos Wx]/√m`, with iid or block-orthogonal Gaussian rows, against the number
of features m, for inputs of equal norm `r` at angle `θ` (sweeping both). The empirical MSE of
iid features is compared with Lemma 2's closed forms; tables say in which regime each of the
paper's claims holds. Draws are vmapped inside a member; members are independent replicates (the
95% CIs).

    python launch.py --config=configs/performer_kernel.py
    python launch.py --config=configs/performer_kernel.py --config.dim=64

Expected: iid MSEs equal Lemma 2 within sampling error and fall as 1/m; positive features are
orders of magnitude more accurate where the kernel is small (angles > 90°, the more so the larger
the inputs: trig/positive MSE ratio ∝ exp(−4xᵀy)), trig features are better where the kernel is
≳ 1 and, for tiny inputs (‖x‖ = 0.25), up to about 140°; orthogonal features have a lower MSE
than iid ones. Measured: trig iid MSE = Lemma 2 at 180/180 settings, positive at 132/132 with
‖x + y‖² ≤ 2 (heavier log-normal tails fall short of it); trig/positive MSE ratio 3·10⁷ at
‖x‖ = 2, 170°; orthogonal/iid MSE ratio 0.14–0.17 for trig features while ‖x − y‖² ≲ 1, 0.72–1.00
for positive ones. Runtime on the shared 2-core CPU: ≈ 60 s at load ≈ 3.5 (compilation
10 s).
"""

from research.runtime import base_config, select_variant


def get_config(arg=None):
  c = base_config("performer_kernel")
  c.num_seeds = 8                        # members: independent replicates (95% CIs over them)
  c.checkpoint_every = 0
  c.num_chunks = 4                       # chunks (progress, metrics) per member
  c.batches_per_chunk = 8                # lax.scan steps per chunk
  c.draws_per_batch = 64                 # projections drawn (vmapped) per scan step
  c.dim = 16                             # input dimension D
  c.num_features = (16, 32, 64, 128, 256, 512)   # m values (prefixes of one m_max projection)
  c.reference_features = 128             # the m of the per-input tables
  c.scaling = "chi"                      # row norms: "chi" (rows ~ N(0, I), unbiased) | "sqrt_d"
  c.scales = (0.25, 0.5, 1.0, 1.5, 2.0)  # input norms ‖x‖ = ‖y‖ = r
  c.angles_deg = (0.0, 30.0, 60.0, 90.0, 120.0, 150.0, 170.0)  # angle between x and y
  c.mse_vs_m_inputs = ((1.0, 150.0), (0.25, 60.0), (1.0, 60.0))  # (r, θ) of the MSE-vs-m plots
  c.angle_plot_scales = (0.25, 1.0, 2.0)  # r of the MSE-vs-angle plots

  def smoke(c):
    c.num_seeds = 2
    c.num_chunks = 1
    c.batches_per_chunk = 2
    c.draws_per_batch = 16
    c.num_features = (16, 32, 64)
    c.reference_features = 32
    c.scales = (0.25, 1.0)
    c.angles_deg = (0.0, 90.0, 150.0)
    c.mse_vs_m_inputs = ((1.0, 150.0),)
    c.angle_plot_scales = (0.25,)

  return select_variant(arg, {"smoke": smoke}, c)
