"""Encoder throughput: parameter graphs per second through the GMN, forward and forward+backward.

Per architecture, at ``mini`` and ``paper`` scale (each scale's encoder preset on that scale's
NeRFs; paper-scale hash grids are cut to the graph edge budget as in training). Graphs come
from freshly initialised NeRFs: throughput depends on the graph's size, not its values.

    python benchmarks/encoder_throughput.py --scales mini paper --out runs/bench_encoder

``--profile`` also prints, per architecture, PyTorch's profiler table of one forward + backward: which
operations the step's time goes to.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch_geometric.data import Batch

from wsrl.encoder.config import ENCODER_PRESETS
from wsrl.encoder.gmn import GMNEncoder
from wsrl.files import save_json
from wsrl.graph.build import nerf_to_graph
from wsrl.nerf.archs import get_arch, list_archs
from wsrl.nerf.checkpoint import unstack_field
from wsrl.nerf.fields.field import RadianceField


def graphs_per_second(encoder: GMNEncoder, batch: Batch, backward: bool, repeats: int) -> float:
    """Graphs per second over ``repeats`` passes after one warm-up pass."""
    encoder.train(backward)
    for i in range(repeats + 1):
        if i == 1:
            start = time.perf_counter()
        with torch.set_grad_enabled(backward):
            z = encoder(batch)
            if backward:
                z.square().mean().backward()
    return repeats * batch.num_graphs / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", nargs="+", default=["mini", "paper"])
    parser.add_argument("--archs", nargs="+", help="default: all 13")
    parser.add_argument("--batch", type=int, nargs="+", default=[8, 2], help="graphs per batch, per scale")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="print the operations of one forward + backward")
    parser.add_argument("--out", default="runs/bench_encoder")
    args = parser.parse_args()
    torch.manual_seed(0)
    rows = []
    for scale, batch_size in zip(args.scales, args.batch, strict=True):
        encoder = GMNEncoder(ENCODER_PRESETS[scale])
        for arch in args.archs or list_archs(scale):
            nerfs = unstack_field(RadianceField.create(get_arch(arch, scale), batch_size))
            batch = Batch.from_data_list([nerf_to_graph(n) for n in nerfs])
            row = {
                "scale": scale,
                "arch": arch,
                "edges_per_graph": batch.num_edges // batch_size,
                "forward_graphs_per_s": graphs_per_second(encoder, batch, False, args.repeats),
                "train_graphs_per_s": graphs_per_second(encoder, batch, True, args.repeats),
            }
            rows.append(row)
            if args.profile:
                with torch.profiler.profile() as prof:
                    encoder(batch).square().mean().backward()
                print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15), flush=True)
            print(
                f"{scale:<6}{arch:<16}{row['edges_per_graph']:>9,} edges  forward {row['forward_graphs_per_s']:8.1f}"
                f"  forward+backward {row['train_graphs_per_s']:8.1f} graphs/s",
                flush=True,
            )
    save_json(f"{args.out}/results.json", {"threads": torch.get_num_threads(), "results": rows})


if __name__ == "__main__":
    main()
