"""Fit quality: the built-in test object fitted in every architecture, rendered from held-out views.

Field distillation for all 13 architectures and photometric fitting for the seen
ones; writes a PSNR table (JSON + Markdown) and one PNG per mode (first row: ground
truth, then one row per architecture).

    python benchmarks/fit_quality.py --scale mini --out runs/fit_quality
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from wsrl.files import atomic_write, save_json, save_png
from wsrl.nerf.archs import BENCHMARK_SEEN, get_arch, list_archs
from wsrl.nerf.fidelity import ground_truth_views, render_fidelity
from wsrl.nerf.fit import FitConfig, fit_distill, fit_photometric
from wsrl.nerf.render import image_grid
from wsrl.zoo.sdf import TEST_SCENES, SceneBatch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="mini")
    parser.add_argument("--scene", default="sphere_on_box", choices=TEST_SCENES.names())
    parser.add_argument("--photometric-steps", type=int, default=600)
    parser.add_argument("--out", default="runs/fit_quality")
    args = parser.parse_args()
    out = Path(args.out)
    scene = TEST_SCENES.get(args.scene)()
    truth = SceneBatch([scene])
    results = []
    rows = {"distill": [], "photometric": []}

    views = ground_truth_views(truth)
    photo_cfg = FitConfig(steps=args.photometric_steps, rays=512, n_samples=48, progress=False)

    for mode, names in (("distill", list_archs(args.scale)), ("photometric", list(BENCHMARK_SEEN))):
        for name in names:
            spec = get_arch(name, args.scale)
            start = time.perf_counter()
            if mode == "distill":
                nerfs = fit_distill(spec, [scene.density_and_color], FitConfig(progress=False))
            else:
                nerfs = fit_photometric(spec, [views], photo_cfg)
            seconds = time.perf_counter() - start
            fid = render_fidelity(nerfs, truth)
            if not rows[mode]:
                rows[mode].append(fid.truth[0])
            rows[mode].append(fid.fitted[0])
            results.append({"mode": mode, "arch": name, "psnr": fid.psnr.item(), "fit_s": seconds})
            print(f"{mode:<12}{name:<16}{fid.psnr.item():6.2f} dB  {seconds:5.1f}s", flush=True)
    for mode, images in rows.items():
        save_png(out / f"{mode}.png", image_grid(torch.cat(images), images[0].shape[0]))
    save_json(out / "fit_quality.json", results)
    lines = ["| mode | arch | PSNR (dB) | fit (s) |", "|---|---|---|---|"]
    lines += [f"| {r['mode']} | {r['arch']} | {r['psnr']:.2f} | {r['fit_s']:.1f} |" for r in results]
    atomic_write(out / "fit_quality.md", lambda f: f.write(("\n".join(lines) + "\n").encode()))
    print(f"renders: {out}/distill.png, {out}/photometric.png")


if __name__ == "__main__":
    main()
