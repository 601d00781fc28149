"""Stored graph bytes against checkpoint bytes, and the time to load the stored graphs back, per architecture.

    python benchmarks/graph_storage.py --out runs/bench_storage [--n 64] [--scales mini paper]

For each registered architecture: ``n`` NeRFs of their own initialisation saved as wsrl checkpoints, converted
with ``wsrl convert`` (the library call) into shards, then every shard loaded back (best of 3). The ratio is
shard bytes over checkpoint bytes; the graph carries every parameter once, so 1.0 is what values alone cost.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from wsrl.files import save_json
from wsrl.graph.convert import convert
from wsrl.graph.files import load_shard
from wsrl.nerf.archs import SCALES, get_arch, list_archs
from wsrl.nerf.checkpoint import save_nerf, unstack_field
from wsrl.nerf.fields.field import RadianceField


def measure(arch: str, scale: str, n: int, root: Path) -> dict:
    """Bytes and load time of ``n`` NeRFs of ``arch`` stored as checkpoints and as converted shards."""
    src, out = root / f"{scale}_{arch}" / "src", root / f"{scale}_{arch}" / "graphs"
    src.mkdir(parents=True)
    for i, nerf in enumerate(unstack_field(RadianceField.create(get_arch(arch, scale), n, seed=1))):
        save_nerf(src / f"{i:04d}.pt", nerf)
    start = time.perf_counter()
    convert(sorted(src.glob("*.pt")), out, progress=False)
    convert_s = time.perf_counter() - start
    shards = sorted(out.glob("shard_*.pt"))
    load_s = []
    for _ in range(3):
        start = time.perf_counter()
        graphs = [g for shard in shards for g in load_shard(shard)]
        load_s.append(time.perf_counter() - start)
    assert len(graphs) == n
    ckpt_bytes = sum(p.stat().st_size for p in src.glob("*.pt"))
    shard_bytes = sum(p.stat().st_size for p in shards)
    return {
        "scale": scale,
        "arch": arch,
        "nerfs": n,
        "edges": graphs[0].num_edges,
        "checkpoint_bytes": ckpt_bytes,
        "shard_bytes": shard_bytes,
        "ratio": shard_bytes / ckpt_bytes,
        "convert_s": convert_s,
        "load_s": min(load_s),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=64, help="NeRFs per architecture")
    parser.add_argument("--scales", nargs="+", choices=SCALES, default=list(SCALES))
    parser.add_argument("--out", default="runs/bench_storage")
    args = parser.parse_args()
    rows = []
    print(f"{'scale':<7}{'arch':<16}{'edges':>9}{'ckpt MB':>9}{'shard MB':>10}{'ratio':>7}{'load s':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for scale in args.scales:
            for arch in list_archs(scale):
                r = measure(arch, scale, args.n, Path(tmp))
                rows.append(r)
                print(
                    f"{scale:<7}{arch:<16}{r['edges']:>9}{r['checkpoint_bytes'] / 2**20:>9.2f}"
                    f"{r['shard_bytes'] / 2**20:>10.2f}{r['ratio']:>7.2f}{r['load_s']:>8.3f}"
                )
    save_json(Path(args.out) / "storage.json", rows)


if __name__ == "__main__":
    main()
