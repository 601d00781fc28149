"""Fitting throughput: NeRFs per minute per family at ``mini`` scale, batched vs one at a time.

Both runs do the same work per NeRF (same steps, same points per step); only the
number of NeRFs trained together differs. As in ``wsrl zoo build``, the ground-truth
point pool is drawn once per object (:func:`wsrl.nerf.fit.distill_pool`) and shared by the
fits; its cost is reported apart. Both modes are warmed up before timing (first calls
into PyTorch kernels cost about a second per process). The figure reported is NeRFs/min
at the measured step count and, extrapolated linearly, at the default 2000 steps.

Against the machine: the matrix-multiply rate of this machine (``torch.mm`` of two 2048 x 2048 float32
matrices, best of 5) and the rate the batched step achieves, its matrix-product FLOPs (forward and backward,
counted by ``torch.utils.flop_counter``) per second, as a share of it.

    python benchmarks/fit_throughput.py --nerfs 64 --steps 300 --out runs/bench_fit
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

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


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    """This machine's float32 matrix-multiply rate: ``torch.mm`` of two ``n x n`` matrices, best of ``repeats``."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = min(_seconds(lambda: torch.mm(a, b)) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _seconds(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def step_gflop(arch: str, pool: Pool, batch_size: int, points: int) -> float:
    """Matrix-product GFLOP (forward and backward) of one batched fitting step: a 2-step fit minus a 1-step one."""
    counts = []
    for steps in (1, 2):
        with FlopCounterMode(display=False) as counter:
            measure(arch, pool, batch_size, batch_size, steps, points)
        counts.append(counter.get_total_flops())
    return (counts[1] - counts[0]) / 1e9


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
    machine = matmul_gflops()
    rows = []
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.nerfs} NeRFs, "
        f"batches of {args.batch}, {args.steps} steps; matrix multiply {machine:.1f} GFLOP/s"
    )
    print(f"{'arch':<10}{'one-at-a-time':>16}{'batched':>12}{'speed-up':>10}{f'NeRFs/min @{full}':>18}"
          f"{'GFLOP/s':>10}{'share':>8}")  # fmt: skip
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
        gflop = step_gflop(arch, pool, args.batch, args.points) * args.steps * (args.nerfs / args.batch)
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
            "machine_matmul_gflops": machine,
            "batched_matmul_gflops": gflop / batched,
            "share_of_machine": gflop / batched / machine,
        }
        rows.append(row)
        one, many = row["nerfs_per_min_one_at_a_time_default_steps"], row["nerfs_per_min_batched_default_steps"]
        rates = f"{one:>8.1f} -> {many:.1f}"
        achieved = f"{row['batched_matmul_gflops']:>10.1f}{100 * row['share_of_machine']:>7.0f}%"
        print(f"{arch:<10}{single:>14.1f}s{batched:>11.1f}s{row['speedup']:>9.1f}x{rates}{achieved}")
    save_json(f"{args.out}/fit_throughput.json", rows)
    print(json.dumps({r["arch"]: round(r["speedup"], 2) for r in rows}))


if __name__ == "__main__":
    main()
