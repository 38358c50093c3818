"""Per-token estimators of KL(π ‖ π_ref) from tokens sampled from π.

See 'Approximating KL Divergence' by J. Schulman (http://joschu.net/blog/kl-approx.html).
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from research import checks

KL_KINDS = ("k1", "k2", "k3")


def kl_estimate(logp, ref_logp, *, kind="k3") -> jax.Array:
  """Schulman's single-sample estimators of KL(π ‖ π_ref), evaluated per token.

  With `d = ref_logp − logp = log(π_ref(x) / π(x))` for a token `x ~ π`:

  .. math::

    k_1 = -d, \\qquad k_2 = \\tfrac12 d^2, \\qquad k_3 = e^{d} - d - 1.

  `k1` is unbiased but takes both signs (high variance); `k2` is non-negative and biased (its
  expectation is second-order close to the KL); `k3` is unbiased (`E_π[e^d] = 1`) and
  non-negative (`e^d ≥ 1 + d`), the estimator GRPO puts in its loss. `k3` is computed as
  `expm1(d) − d` for accuracy near `d = 0`. The estimate is elementwise: mask and aggregate it
  with `aggregate`. Its gradient flows through both arguments; stop it on `ref_logp` at the call
  site if the reference is not trained (`policy_loss` does).

  To estimate KL(π_old ‖ π_θ) from tokens sampled from π_old (PPO's "approx_kl"), pass
  `kl_estimate(old_logp, logp)`.

  See 'Approximating KL Divergence' by J. Schulman (http://joschu.net/blog/kl-approx.html).

  Args:
    logp: log-probabilities under the sampling policy π of the sampled tokens, e.g. `[B, L]`.
    ref_logp: log-probabilities of the same tokens under π_ref, the same shape.
    kind: `"k1"`, `"k2"` or `"k3"` (static).

  Returns:
    The per-token estimate, the shape of `logp`.
  """
  chex.assert_type([logp, ref_logp], float)
  chex.assert_equal_shape([logp, ref_logp])
  checks.choice(kind, "kind", KL_KINDS)
  d = jnp.asarray(ref_logp) - jnp.asarray(logp)
  if kind == "k1":
    return -d
  if kind == "k2":
    return 0.5 * jnp.square(d)
  return jnp.expm1(d) - d
