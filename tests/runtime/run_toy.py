"""Runs the toy experiment in a fresh process (device count and hosts set from outside).

    python -m tests.runtime.run_toy WORKDIR OUT.npz [--sweep S] [--process_id I --num_processes N
                                                    --coordinator host:port]
Writes every member's final estimate to OUT.npz (process 0).
"""

import argparse
import sys

import numpy as np


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("workdir")
  parser.add_argument("out")
  parser.add_argument("--sweep", default="mu=0.0,2.0")
  parser.add_argument("--num_seeds", type=int, default=3)
  parser.add_argument("--coordinator", default=None)
  parser.add_argument("--process_id", type=int, default=None)
  parser.add_argument("--num_processes", type=int, default=None)
  args = parser.parse_args()

  from research import runtime
  from tests.runtime import toy

  runtime.maybe_initialize_distributed(False, coordinator_address=args.coordinator,
                                       num_processes=args.num_processes,
                                       process_id=args.process_id)
  import jax

  result = runtime.run(toy.make(), toy.config(sweep=args.sweep, num_seeds=args.num_seeds),
                       args.workdir, progress=False)
  if jax.process_index() == 0:
    table = result.report.tables[0]
    np.savez(args.out, rows=np.asarray([r[1:] for r in table.rows], dtype=np.float64),
             devices=result.info.num_devices, processes=result.info.num_processes)
  print("done", jax.process_index(), file=sys.stderr)


if __name__ == "__main__":
  main()
