"""Fitting throughput: NeRFs per minute per family at ``mini`` scale, batched vs one at a time.

Both runs do the same work per NeRF (same steps, same points per step); only the
number of NeRFs trained together differs. As in ``wsrl zoo build``, the ground-truth
point pool is drawn once per object (:func:`wsrl.nerf.fit.distill_pool`) and shared by the
fits; its cost is reported apart. Both modes are warmed up before timing (first calls
into PyTorch kernels cost about a second per process). The figure reported is NeRFs/min
at the measured step count and, extrapolated linearly, at the default 2000 steps.

    python benchmarks/fit_throughput.py --nerfs 64 --steps 300 --out runs/bench_fit
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from wsrl.files import save_json
from wsrl.nerf.archs import get_arch
from wsrl.nerf.fit import FitConfig, Pool, distill_pool, fit_distill
from wsrl.zoo.sdf import sphere_on_box


def measure(arch: str, pool: Pool, n_nerfs: int, batch_size: int, steps: int, points: int) -> float:
    """Seconds to fit ``n_nerfs`` NeRFs of ``arch`` on ``pool`` with ``batch_size`` trained together."""
    cfg = FitConfig(steps=steps, batch_size=batch_size, points=points, progress=False)
    start = time.perf_counter()
    fit_distill(get_arch(arch, "mini"), [pool] * n_nerfs, cfg)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", nargs="+", default=["mlp", "triplane", "hash"])
    parser.add_argument("--nerfs", type=int, default=FitConfig().batch_size)
    parser.add_argument("--batch", type=int, default=FitConfig().batch_size, help="NeRFs trained together")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--points", type=int, default=FitConfig().points)
    parser.add_argument("--out", default="runs/bench_fit")
    args = parser.parse_args()
    full = FitConfig().steps
    rows = []
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.nerfs} NeRFs, "
        f"batches of {args.batch}, {args.steps} steps"
    )
    print(f"{'arch':<10}{'one-at-a-time':>16}{'batched':>12}{'speed-up':>10}{f'NeRFs/min @{full}':>18}")
    for arch in args.archs:
        start = time.perf_counter()
        pool = distill_pool(
            sphere_on_box().density_and_color, get_arch(arch, "mini").aabb, FitConfig().pool, torch.Generator()
        )
        pool_s = time.perf_counter() - start
        for batch_size in (1, args.batch):  # warm-up
            measure(arch, pool, batch_size, batch_size, 3, args.points)
        single = measure(arch, pool, args.nerfs, 1, args.steps, args.points)
        batched = measure(arch, pool, args.nerfs, args.batch, args.steps, args.points)
        row = {
            "arch": arch,
            "nerfs": args.nerfs,
            "batch": args.batch,
            "steps": args.steps,
            "points": args.points,
            "pool_s_per_object": pool_s,
            "one_at_a_time_s": single,
            "batched_s": batched,
            "speedup": single / batched,
            "nerfs_per_min_one_at_a_time": 60 * args.nerfs / single,
            "nerfs_per_min_batched": 60 * args.nerfs / batched,
            "nerfs_per_min_batched_default_steps": 60 * args.nerfs / batched * args.steps / full,
            "nerfs_per_min_one_at_a_time_default_steps": 60 * args.nerfs / single * args.steps / full,
        }
        rows.append(row)
        one, many = row["nerfs_per_min_one_at_a_time_default_steps"], row["nerfs_per_min_batched_default_steps"]
        rates = f"{one:>8.1f} -> {many:.1f}"
        print(f"{arch:<10}{single:>14.1f}s{batched:>11.1f}s{row['speedup']:>9.1f}x{rates}")
    save_json(f"{args.out}/fit_throughput.json", rows)
    print(json.dumps({r["arch"]: round(r["speedup"], 2) for r in rows}))


if __name__ == "__main__":
    main()
