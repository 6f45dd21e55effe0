"""Seams: how far the tiled, merged prediction is from one whole-volume forward, per overlap.

    python tools/bench_seams.py -m faultnet-g07.pt --shape 256 256 256 --blocks 128 --overlaps 0 16 32 48
    python tools/bench_seams.py -m faultnet-g07.pt --shape 256 512 512 --blocks 128 256,128,128 --overlaps 32

Makes a synthetic survey (hpcfault.data.synth, seed 3), runs one forward of the model on the whole
(normalized) volume, then `hpcfault predict`'s stages in this process for each overlap, and prints
overlap asked -> actual overlaps per axis (the last window may overlap more) -> max abs, 99.9th percentile and mean abs difference,
the share of voxels off by more than 0.02, and the seam ratio: the mean jump |p[c] - p[c-1]| across
the planes c where one block's region ends and the next begins, divided by the same mean jump of
the whole-volume forward at those planes (1.0 = seams invisible, larger = a visible step).
Both sides use the same normalization (survey min-max) and the same deterministic forward, so the
difference is the tiling alone.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-m", "--model", required=True, help="project checkpoint (e.g. from hpcfault import-weights)")
    p.add_argument("--shape", type=int, nargs=3, default=(128, 128, 128))
    from hpcfault.cli.predict import block_arg

    p.add_argument("--blocks", type=block_arg, nargs="+", default=[64],
                   help="block edges, or time,inline,xline edges (e.g. 256,128,128, a column of whole traces)")
    p.add_argument("--overlaps", type=int, nargs="+", default=[0, 8, 16, 24])
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--family", default="classic", help="synthetic family (hpcfault synth --family; default classic)")
    p.add_argument("--memory", default="64GiB", help="memory per rank for the block planner (default: no cap)")
    args = p.parse_args(argv)

    import h5py

    from hpcfault.cluster.mpi import SerialComm
    from hpcfault.cluster.rankenv import RankEnv
    from hpcfault.data.synth import write_synthetic
    from hpcfault.infer.config import PredictConfig
    from hpcfault.infer.forward import BlockModel, pick_device
    from hpcfault.infer.plan import block_edges, block_text, make_plan
    from hpcfault.infer.runner import PredictJob, run_predict
    from hpcfault.normalize import normalizer_from, stats_of

    _, threads = pick_device(RankEnv(), args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        survey = Path(tmp) / "survey.h5"
        from hpcfault.data.synth_config import synth_config

        write_synthetic(survey, args.shape, args.seed, config=synth_config(args.family))
        with h5py.File(survey, "r") as f:
            vol = f["data"][...]
        x = normalizer_from(stats_of(vol)).apply(vol)
        model = BlockModel(args.model, "cpu", "fp32", threads)
        t = time.perf_counter()
        whole = model(x)[0]          # the fault task: one output
        print(f"survey {tuple(args.shape)}, whole-volume forward {time.perf_counter() - t:.1f} s, "
              f"{threads} thread(s)")
        print(f"{'block':>6} {'overlap':>8} {'overlaps':>12} {'blocks':>7} {'max_abs':>9} {'p99.9':>9} "
              f"{'mean_abs':>9} {'>0.02':>8} {'flip@0.5':>9} {'seam':>6}")
        for block, ov in [(b, o) for b in args.blocks for o in args.overlaps if 2 * o < min(block_edges(b))]:
            out = Path(tmp) / f"tiled-{block_text(block_edges(block))}-{ov}.h5"
            cfg = PredictConfig(model=args.model, block=block, overlap=ov, threads=threads, progress=False,
                                memory=args.memory)
            summary = run_predict(PredictJob(str(survey), str(out), cfg), SerialComm())
            with h5py.File(out, "r") as f:
                tiled = f["data"][...]
            d = np.abs(tiled.astype(np.float64) - whole)
            eff = "/".join(a.overlap_text for a in make_plan(args.shape, block, ov).axes)
            print(f"{block_text(block_edges(block)):>6} {ov:>8} {eff:>12} {summary['blocks']:>7} {d.max():>9.2e} "
                  f"{np.percentile(d, 99.9):>9.2e} {d.mean():>9.2e} {(d > 0.02).mean():>8.2%} "
                  f"{((tiled >= 0.5) != (whole >= 0.5)).mean():>9.3%} "
                  f"{seam_ratio(tiled, whole, args.shape, block, ov):>6.2f}")
            out.unlink()
            sys.stdout.flush()
    return 0


def seam_ratio(tiled: np.ndarray, whole: np.ndarray, shape, block, overlap: int) -> float:
    """Mean jump across the block boundary planes, tiled / whole-volume forward."""
    from hpcfault.infer.plan import make_plan

    num = den = 0.0
    for axis, tiling in enumerate(make_plan(shape, block, overlap).axes):
        for c in sorted({w[0] for w in tiling.writes if w[0] > 0}):
            take = lambda a, i: np.take(a.astype(np.float64), i, axis=axis)  # noqa: E731
            num += np.abs(take(tiled, c) - take(tiled, c - 1)).mean()
            den += np.abs(take(whole, c) - take(whole, c - 1)).mean()
    return num / den if den else float("nan")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    raise SystemExit(main())
