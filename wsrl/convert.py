"""Batch conversion: checkpoints in, parameter-graph shards out.

Output folder::

    OUT/shard_00000.pt ...   plain dicts of tensors (weights-only safe), see :func:`pack_graphs`
    OUT/index.json           one row per converted NeRF: source, id, arch, class label, split, shard, position
    OUT/failures.json        every file that failed, with its one-line reason

Shards and the index are written atomically, shard first, so a killed run loses
at most the unwritten shard and a rerun converts only sources not in the index.
Workers convert in parallel (``multiprocessing``); one bad file never stops the batch.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import torch
from torch_geometric.data import Data
from tqdm.auto import tqdm

from wsrl.atomic import save_json, save_torch
from wsrl.converters import ConversionError, read_checkpoint
from wsrl.graph import DEFAULT_MAX_EDGES, SCHEMA_VERSION, nerf_to_graph

GRAPH_META = ("arch", "spec", "object_id", "class_label", "split")
FORMAT = "wsrl.graphs"


def pack_graphs(graphs: Sequence[Data]) -> dict:
    """Concatenate graphs into one dict of tensors plus per-graph metadata."""
    n_nodes = torch.tensor([g.num_nodes for g in graphs])
    n_edges = torch.tensor([g.num_edges for g in graphs])
    return {
        "format": FORMAT,
        "version": SCHEMA_VERSION,
        "x": torch.cat([g.x for g in graphs]),
        "edge_index": torch.cat([g.edge_index for g in graphs], 1),
        "edge_attr": torch.cat([g.edge_attr for g in graphs]),
        "node_ptr": torch.cat([torch.zeros(1, dtype=torch.long), n_nodes.cumsum(0)]),
        "edge_ptr": torch.cat([torch.zeros(1, dtype=torch.long), n_edges.cumsum(0)]),
        "grid_rows": [getattr(g, "grid_rows", None) for g in graphs],
        "meta": [{k: getattr(g, k) for k in GRAPH_META} for g in graphs],
    }


def unpack_graphs(packed: dict, source: str = "packed graphs") -> list[Data]:
    """Inverse of :func:`pack_graphs`; graphs of another schema version are refused (convert again)."""
    if not isinstance(packed, dict) or packed.get("format") != FORMAT:
        raise ValueError(f"{source}: not a wsrl graph file (expected a dict with format={FORMAT!r})")
    if packed.get("version") != SCHEMA_VERSION:
        raise ValueError(
            f"{source}: graphs of schema version {packed.get('version')!r}, this wsrl reads version "
            f"{SCHEMA_VERSION}; convert the checkpoints again"
        )
    out = []
    node_ptr, edge_ptr = packed["node_ptr"].tolist(), packed["edge_ptr"].tolist()
    for i, meta in enumerate(packed["meta"]):
        n0, n1, e0, e1 = node_ptr[i], node_ptr[i + 1], edge_ptr[i], edge_ptr[i + 1]
        g = Data(
            x=packed["x"][n0:n1],
            edge_index=packed["edge_index"][:, e0:e1],
            edge_attr=packed["edge_attr"][e0:e1],
            num_nodes=n1 - n0,
            **meta,
        )
        if packed["grid_rows"][i] is not None:
            g.grid_rows = packed["grid_rows"][i]
        out.append(g)
    return out


def load_shard(path: str | os.PathLike) -> list[Data]:
    """Graphs of one shard (weights-only load)."""
    return unpack_graphs(torch.load(path, map_location="cpu", weights_only=True), str(path))


@dataclass(frozen=True)
class ConvertOptions:
    fmt: str | None = None
    arch: str | None = None
    max_edges: int = DEFAULT_MAX_EDGES


@dataclass
class ConvertReport:
    converted: int = 0
    skipped: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)


def _convert_one(job: tuple[str, ConvertOptions]) -> tuple[str, Data | None, str | None]:
    source, opts = job
    try:
        nerf = read_checkpoint(source, opts.fmt, opts.arch)
        graph = nerf_to_graph(nerf, opts.max_edges)
        if not graph.object_id:
            graph.object_id = source
        return source, graph, None
    except ConversionError as exc:
        return source, None, str(exc)
    except Exception as exc:  # a reader bug must not kill the batch either; report it loudly
        return source, None, f"{source}: unexpected {type(exc).__name__}: {exc}"


def convert(
    sources: Iterable[str | os.PathLike],
    out: str | os.PathLike,
    opts: ConvertOptions = ConvertOptions(),
    workers: int = 1,
    shard_size: int = 256,
    progress: bool = True,
) -> ConvertReport:
    """Convert ``sources`` into graph shards under ``out`` (resumable, see module docstring)."""
    out = Path(out)
    index_path = out / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else []
    done = {row["source"] for row in index}
    sources = [str(s) for s in sources]
    todo = [s for s in sources if s not in done]
    report = ConvertReport(skipped=len(sources) - len(todo))
    next_shard = 1 + max((row["shard"] for row in index), default=-1)
    buffer: list[Data] = []
    rows: list[dict] = []

    def flush() -> None:
        nonlocal next_shard, buffer, rows
        if not buffer:
            return
        name = f"shard_{next_shard:05d}.pt"
        save_torch(out / name, pack_graphs(buffer))
        for pos, row in enumerate(rows):
            row.update(shard=next_shard, file=name, position=pos)
        index.extend(rows)
        save_json(index_path, index)
        next_shard, buffer, rows = next_shard + 1, [], []

    jobs = [(s, opts) for s in todo]
    pool = get_context("spawn").Pool(workers) if workers > 1 and len(jobs) > 1 else None
    results = pool.imap(_convert_one, jobs, chunksize=4) if pool else map(_convert_one, jobs)
    try:
        for source, graph, error in tqdm(results, total=len(jobs), desc="convert", disable=not progress):
            if graph is None:
                report.failures.append((source, error or "unknown error"))
                continue
            buffer.append(graph)
            rows.append(
                {
                    "source": source,
                    "id": graph.object_id,
                    "arch": graph.arch,
                    "class_label": graph.class_label,
                    "split": graph.split,
                    "nodes": graph.num_nodes,
                    "edges": graph.num_edges,
                }
            )
            report.converted += 1
            if len(buffer) >= shard_size:
                flush()
        flush()
    finally:
        if pool:
            pool.close()
            pool.join()
    save_json(out / "failures.json", [{"source": s, "error": e} for s, e in report.failures])
    return report
