"""Graph files: many parameter graphs packed into one weights-only torch file.

A packed file is ``{"format": "wsrl.graphs", "version": SCHEMA_VERSION, "x", "edge_index", "edge_attr"`` (all
graphs concatenated), ``"node_ptr", "edge_ptr"`` (offsets), ``"grid_rows"`` and ``"meta"`` (per graph)``}``.
``wsrl convert`` writes its shards this way and zoo caches use it too; graphs of another schema version are
refused by name (convert again).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from torch_geometric.data import Data

from wsrl.errors import WsrlError
from wsrl.files import envelope, load_json, load_torch, open_envelope
from wsrl.graph.schema import SCHEMA_VERSION

RECONVERT = "; convert the checkpoints again"
INDEX_FILE = "index.json"  # wsrl convert's table of converted NeRFs, one row per graph
GRAPH_META = ("arch", "spec", "object_id", "class_label", "split", "source")
FORMAT = "wsrl.graphs"  # its version is the graph SCHEMA_VERSION


def pack_graphs(graphs: Sequence[Data]) -> dict:
    """Concatenate graphs into one dict of tensors plus per-graph metadata."""
    n_nodes = torch.tensor([g.num_nodes for g in graphs])
    n_edges = torch.tensor([g.num_edges for g in graphs])
    return envelope(FORMAT, SCHEMA_VERSION, {
        "x": torch.cat([g.x for g in graphs]),
        "edge_index": torch.cat([g.edge_index for g in graphs], 1),
        "edge_attr": torch.cat([g.edge_attr for g in graphs]),
        "node_ptr": torch.cat([torch.zeros(1, dtype=torch.long), n_nodes.cumsum(0)]),
        "edge_ptr": torch.cat([torch.zeros(1, dtype=torch.long), n_edges.cumsum(0)]),
        "grid_rows": [getattr(g, "grid_rows", None) for g in graphs],
        "meta": [{k: getattr(g, k) for k in GRAPH_META} for g in graphs],
    })  # fmt: skip


def unpack_graphs(packed: dict, source: str = "packed graphs") -> list[Data]:
    """Inverse of :func:`pack_graphs`; graphs of another schema version are refused (convert again)."""
    open_envelope(packed, FORMAT, SCHEMA_VERSION, source, "wsrl graph file", RECONVERT)
    out = []
    node_ptr, edge_ptr = packed["node_ptr"].tolist(), packed["edge_ptr"].tolist()
    for i, meta in enumerate(packed["meta"]):
        n0, n1, e0, e1 = node_ptr[i], node_ptr[i + 1], edge_ptr[i], edge_ptr[i + 1]
        g = Data(
            x=packed["x"][n0:n1],
            edge_index=packed["edge_index"][:, e0:e1],
            edge_attr=packed["edge_attr"][e0:e1],
            num_nodes=n1 - n0,
            **{"source": "", **meta},  # files written before graphs carried their source
        )
        if packed["grid_rows"][i] is not None:
            g.grid_rows = packed["grid_rows"][i]
        out.append(g)
    return out


def load_shard(path: str | os.PathLike) -> list[Data]:
    """Graphs of one shard (weights-only load)."""
    return unpack_graphs(load_torch(path, "graph file"), str(path))


def read_index(path: str | os.PathLike) -> list[dict]:
    """The rows of a ``wsrl convert`` ``index.json`` (a one-line error when it is not a list of rows)."""
    rows = load_json(path, "wsrl convert index")
    needed = ("source", "arch", "file", "position")
    if not isinstance(rows, list) or not all(isinstance(r, dict) and set(needed) <= set(r) for r in rows):
        raise WsrlError(f"{path}: not a wsrl convert index (expected a list of rows with {', '.join(needed)})")
    return rows
