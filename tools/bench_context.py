"""How far a block's missing context reaches: a corner block against the whole-volume forward.

    python tools/bench_context.py -m faultnet-g07.pt --shape 256 --block 192

Makes a synthetic cube (hpcfault.data.synth), runs the prepared model once on the whole
normalized cube and twice on its corner block [0, block)^3: with the block's survey frame (what
`hpcfault predict` does) and block-local (the model alone on the block). Prints, per band of
distance to the nearest cut face (the block faces inside the cube), the max and mean absolute
difference to the whole forward. The corner block shares the cube's own faces, so every difference
comes from the context beyond the cut faces - which is what a block overlap has to cover.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-m", "--model", required=True, help="project checkpoint (e.g. from hpcfault import-weights)")
    p.add_argument("--shape", type=int, default=256, help="cube edge (multiple of 16)")
    p.add_argument("--block", type=int, default=192, help="corner block edge (multiple of 16)")
    p.add_argument("--band", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=5)
    args = p.parse_args(argv)
    import torch

    from hpcfault.data.synth import synthesize
    from hpcfault.models import Frame, load_model, prepare_for_inference
    from hpcfault.normalize import normalizer_from, stats_of

    torch.set_num_threads(args.threads)
    n, b = args.shape, args.block
    model = prepare_for_inference(load_model(args.model))
    vol = synthesize((n, n, n), args.seed)[0]
    x = torch.from_numpy(normalizer_from(stats_of(vol)).apply(vol))[None, None]

    def forward(t, frame=None):
        with torch.inference_mode():
            return model(t.contiguous(memory_format=torch.channels_last_3d), frame)[0, 0].numpy()

    t0 = time.perf_counter()
    whole = forward(x)[:b, :b, :b]
    corner = x[..., :b, :b, :b]
    framed = forward(corner, Frame((0, 0, 0), (b, b, b), (n, n, n)))
    local = forward(corner)
    i = np.arange(b)
    dist = np.minimum.outer(np.minimum.outer(b - 1 - i, b - 1 - i), b - 1 - i)
    print(f"cube {n}^3, corner block {b}^3, seed {args.seed}, {args.threads} thread(s), "
          f"{time.perf_counter() - t0:.0f} s")
    print(f"{'distance to cut':>16} {'survey grid max':>16} {'mean':>9} {'block-local max':>16} {'mean':>9}")
    for lo in range(0, b, args.band):
        m = (dist >= lo) & (dist < lo + args.band)
        d1, d2 = np.abs(framed - whole)[m], np.abs(local - whole)[m]
        print(f"{lo:>7}-{lo + args.band - 1:<8} {d1.max():>16.2e} {d1.mean():>9.1e} {d2.max():>16.2e} "
              f"{d2.mean():>9.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
