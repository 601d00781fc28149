"""Conversion throughput: NeRF -> parameter graph, graphs per second per architecture and scale,
and time and peak memory for one nerfstudio nerfacto checkpoint at default sizes (12.2M grid parameters):
read from disk and converted to a bounded graph.

    python benchmarks/convert_throughput.py --out runs/bench_convert
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from multiprocessing import get_context
from pathlib import Path

import torch
from wsrl.converters import read_checkpoint

from wsrl.files import save_json
from wsrl.graph.build import nerf_to_graph
from wsrl.graph.schema import DEFAULT_MAX_EDGES
from wsrl.nerf.archs import SCALES, get_arch, list_archs, nerfacto_base_spec
from wsrl.nerf.checkpoint import unstack_field
from wsrl.nerf.fields.field import RadianceField


def graphs_per_second(spec, n: int) -> tuple[float, int, int]:
    """Convert ``n`` random NeRFs of ``spec``; return graphs/s, nodes and edges of one graph."""
    nerfs = unstack_field(RadianceField.create(spec, n, seed=0))
    start = time.perf_counter()
    for nerf in nerfs:
        graph = nerf_to_graph(nerf)
    return n / (time.perf_counter() - start), graph.num_nodes, graph.num_edges


def nerfacto_case(max_edges: int) -> dict:
    """A nerfstudio nerfacto checkpoint at its default sizes (gen-3 keys, docs/formats.md §2.4) read and converted.

    Runs in a fresh process so ``ru_maxrss`` measures this conversion alone.
    """
    spec = nerfacto_base_spec()
    n_grid = spec.grid_entries * spec.hash_features
    state = {
        "_model.field.mlp_base.model.params": torch.cat([torch.randn(3_072) * 0.1, torch.rand(n_grid) * 2e-4 - 1e-4]),
        "_model.field.mlp_head.tcnn_encoding.params": torch.randn(9_216) * 0.1,
        "_model.field.embedding_appearance.embedding.weight": torch.randn(100, 32),
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "step-000029999.ckpt"
        torch.save({"step": 29_999, "pipeline": state}, path)
        del state
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        nerf = read_checkpoint(path)
        graph = nerf_to_graph(nerf, max_edges)
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "params": nerf.spec.n_params,
        "file_mb": (3_072 + n_grid + 9_216 + 3_200) * 4 / 2**20,
        "seconds": seconds,
        "nodes": graph.num_nodes,
        "edges": graph.num_edges,
        "grid_entries_kept": graph.grid_kept,
        "peak_rss_mb": peak / 1024,
        "rss_increase_mb": (peak - before) / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=50, help="NeRFs converted per architecture")
    parser.add_argument("--max-edges", type=int, default=DEFAULT_MAX_EDGES)
    parser.add_argument("--out", default="runs/bench_convert")
    args = parser.parse_args()
    rows = []
    print(f"{'scale':<7}{'arch':<16}{'graphs/s':>10}{'nodes':>9}{'edges':>9}")
    for scale in SCALES:
        for name in list_archs(scale):
            rate, nodes, edges = graphs_per_second(get_arch(name, scale), args.n)
            rows.append({"scale": scale, "arch": name, "graphs_per_s": rate, "nodes": nodes, "edges": edges})
            print(f"{scale:<7}{name:<16}{rate:>10.1f}{nodes:>9}{edges:>9}", flush=True)
    with get_context("spawn").Pool(1) as pool:
        big = pool.apply(nerfacto_case, (args.max_edges,))
    print(
        f"nerfacto checkpoint ({big['file_mb']:.0f} MB): {big['params']:,} params -> "
        f"{big['nodes']:,} nodes, {big['edges']:,} edges "
        f"({100 * big['grid_entries_kept']:.2f}% of entries kept) in {big['seconds']:.2f}s, "
        f"peak RSS {big['peak_rss_mb']:.0f} MB (+{big['rss_increase_mb']:.0f} MB for the conversion)"
    )
    save_json(f"{args.out}/convert_throughput.json", {"per_arch": rows, "nerfacto": big})


if __name__ == "__main__":
    main()
