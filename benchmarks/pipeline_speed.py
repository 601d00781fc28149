"""wsrl today against wsrl at another commit, in one run: conversion, stored bytes, loading, encoder.

    python benchmarks/pipeline_speed.py --before 156a1aa --out runs/bench_pipeline [--n 200] [--batch 8]

Both versions measure the same paper-scale nf2vec checkpoints (``--n`` per family, written once under
``--work``), each in its own process (``--before`` checked out as a git worktree beside this tree and put first
on ``PYTHONPATH``), the two sides interleaved measurement by measurement so that load on the machine hits both
alike; every figure is the best of ``--repeats``:

* conversion: checkpoints to stored graph shards, through ``wsrl.graph.convert.convert`` (the work of ``wsrl
  convert`` without the interpreter's start, after a warm-up conversion), with 1, 2 and 4 workers asked for;
  milliseconds per checkpoint;
  and the same on a job large enough for worker processes to pay for their start (``--n-small`` mini ``mlp``
  checkpoints);
* bytes: stored shard bytes over checkpoint bytes;
* loading: every shard back into graphs (``load_shard``), milliseconds per graph, after loading the warm-up
  conversion's shard once (the first ``torch.load`` of a process costs milliseconds once, not per graph);
* encoder at paper width (128 x 4 blocks, 1024-d, node probes 6^3 and the output readout, as ``wsrl train``
  trains it): graphs per second, forward under ``no_grad`` and forward + backward + AdamW step, batches of
  ``--batch`` graphs of one family.

Fitting, unchanged by these commits, is measured against the machine's matrix-multiply rate by
``benchmarks/fit_throughput.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FAMILIES = ("mlp", "triplane", "hash")
WORKERS = (1, 2, 4)
MEASURES = ("convert", "workers", "load", "encoder")


def write_checkpoints(root: Path, n: int, scale: str = "paper", families: tuple[str, ...] = FAMILIES) -> None:
    """``n`` NeRFs of each family at ``scale`` in the nf2vec layout (``<arch>/<synset>/<id>/nerf_weights.pth``)."""
    import torch

    from wsrl.nerf.archs import get_arch
    from wsrl.nerf.checkpoint import unstack_field
    from wsrl.nerf.fields.field import RadianceField
    from wsrl.nerf.fields.tcnn import tcnn_param_count, to_tcnn_params

    for family in families:
        if len(list((root / family).rglob("nerf_weights.pth"))) == n:
            continue
        spec = get_arch(family, scale)
        n_net, _ = tcnn_param_count(spec)
        for i, nerf in enumerate(unstack_field(RadianceField.create(spec, n, seed=0))):
            flat = to_tcnn_params(spec, nerf.tensors)
            state = {"mlp_base.params": flat[:n_net].clone()}
            if family == "hash":
                state["encoding.params"] = flat[n_net:].clone()
            if family == "triplane":
                state |= {"triplane": nerf.tensors["planes"].clone(), "encoding.params": torch.zeros(0)}
            path = root / family / "02958343" / f"{i:04d}" / "nerf_weights.pth"
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save(state, path)


def measure(what: str, work: Path, side: str, batch: int) -> dict:
    """One measurement with the ``wsrl`` this process imports (run as ``--measure WHAT``)."""
    import torch

    from wsrl.graph.convert import convert
    from wsrl.graph.files import load_shard

    out: dict = {}

    def warm_up(sources: list[Path]) -> None:  # imports, caches and templates: not part of a checkpoint's cost
        shutil.rmtree(work / side / "warm-up", ignore_errors=True)
        convert(sources[:8], work / side / "warm-up", progress=False)

    if what == "workers":
        sources = sorted((work / "small").rglob("nerf_weights.pth"))
        warm_up(sources)
        for workers in WORKERS:
            shutil.rmtree(work / side / "small", ignore_errors=True)
            start = time.perf_counter()
            convert(sources, work / side / "small", workers=workers, progress=False)
            out[f"mini_mlp_x{len(sources)}/convert_ms_{workers}w"] = 1e3 * (time.perf_counter() - start) / len(sources)
        return out
    for family in FAMILIES:
        sources = sorted((work / "checkpoints" / family).rglob("nerf_weights.pth"))
        shards = work / side / family
        if what == "convert":
            warm_up(sources)
            for workers in WORKERS:
                shutil.rmtree(shards, ignore_errors=True)
                start = time.perf_counter()
                convert(sources, shards, workers=workers, progress=False)
                out[f"{family}/convert_ms_{workers}w"] = 1e3 * (time.perf_counter() - start) / len(sources)
            stored = sum(p.stat().st_size for p in shards.glob("shard_*.pt"))
            out[f"{family}/bytes_ratio"] = stored / sum(p.stat().st_size for p in sources)
        elif what == "load":
            for path in (work / side / "warm-up").glob("shard_*.pt"):  # first calls into torch.load: not a graph's
                load_shard(path)
            start = time.perf_counter()
            graphs = [g for path in sorted(shards.glob("shard_*.pt")) for g in load_shard(path)]
            out[f"{family}/load_ms"] = 1e3 * (time.perf_counter() - start) / len(graphs)
        else:
            out |= _encoder_rates(family, sources[:batch], torch)
    return out


def _encoder_rates(family: str, sources: list[Path], torch) -> dict:
    from dataclasses import replace

    from wsrl.converters import read_checkpoint

    from wsrl.encoder.config import ENCODER_PRESETS
    from wsrl.encoder.gmn import GMNEncoder, batch_graphs
    from wsrl.graph.build import nerf_to_graph

    torch.manual_seed(0)
    config = replace(ENCODER_PRESETS["paper"], node_probes=6, output_readout=True)
    encoder = GMNEncoder(config)
    graphs = [nerf_to_graph(read_checkpoint(p)) for p in sources]
    batch = batch_graphs(graphs, config.node_probes)
    opt = torch.optim.AdamW(encoder.parameters())

    def forward() -> None:
        with torch.no_grad():
            encoder.eval()(batch_graphs(graphs, config.node_probes))

    def train() -> None:
        encoder.train()(batch).square().mean().backward()
        opt.step()
        opt.zero_grad()

    rates = {}
    for name, step in (("forward", forward), ("train", train)):
        step()  # warm-up
        start = time.perf_counter()
        step()
        rates[f"{family}/{name}_graphs_per_s"] = len(graphs) / (time.perf_counter() - start)
    return rates


def worktree(ref: str, root: Path) -> Path:
    """``ref`` checked out beside this tree, importable as ``wsrl`` (``converters/`` linked where the package
    installs it)."""
    path = root / f"wsrl-{ref}"
    if not path.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(path), ref], check=True, capture_output=True)
        (path / "wsrl" / "converters").symlink_to(path / "converters")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", default="156a1aa", help="the commit to compare with (default: before #20)")
    parser.add_argument("--n", type=int, default=200, help="checkpoints per family")
    parser.add_argument("--n-small", type=int, default=6000, help="mini mlp checkpoints of the workers measure")
    parser.add_argument("--batch", type=int, default=8, help="graphs per encoder batch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "wsrl_bench_pipeline"))
    parser.add_argument("--out", default="runs/bench_pipeline")
    parser.add_argument("--measures", nargs="+", choices=MEASURES, default=list(MEASURES), help="what to measure")
    parser.add_argument("--measure", choices=MEASURES, help=argparse.SUPPRESS)  # a side's own process
    parser.add_argument("--side", help=argparse.SUPPRESS)
    args = parser.parse_args()
    work = Path(args.work)
    if args.measure:
        print(json.dumps(measure(args.measure, work, args.side, args.batch)))
        return
    write_checkpoints(work / "checkpoints", args.n)
    write_checkpoints(work / "small", args.n_small, "mini", ("mlp",))
    trees = {"before": worktree(args.before, work), "today": Path(__file__).resolve().parents[1]}
    best: dict[str, dict[str, float]] = {side: {} for side in trees}
    for what in args.measures:
        for _ in range(args.repeats):
            for side, tree in trees.items():
                env = {**os.environ, "PYTHONPATH": str(tree)}
                command = [sys.executable, __file__, "--measure", what, "--side", side, "--work", str(work)]
                result = subprocess.run([*command, "--batch", str(args.batch)], env=env, capture_output=True,
                                        text=True, check=True)  # fmt: skip
                for key, value in json.loads(result.stdout.strip().splitlines()[-1]).items():
                    keep = max if key.endswith("per_s") else min
                    best[side][key] = keep(best[side].get(key, value), value)
            print(f"{what}: {json.dumps(best['today'])}", flush=True)
    rows = []
    for key, today in best["today"].items():
        before = best["before"][key]
        faster = today / before if key.endswith("per_s") else before / today
        rows.append({"measure": key, "before": before, "today": today, "times_better": faster})
    lines = [f"| measure | {args.before} | today | times better |", "|---|---|---|---|"]
    lines += [f"| {r['measure']} | {r['before']:.3g} | {r['today']:.3g} | {r['times_better']:.2f} |" for r in rows]
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "results.json").write_text(
        json.dumps({"before": args.before, "n": args.n, "rows": rows}, indent=1)
    )
    (Path(args.out) / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
