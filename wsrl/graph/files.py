"""Graph files: many parameter graphs packed into one weights-only torch file, values apart from structure.

Within one architecture every graph has the same nodes, edges and edge attributes but the parameter values
(hash grids cut to an edge budget are the exception: the kept rows differ). A packed file stores each distinct
structure once, as a **template** (``x``, ``edge_index`` and the edge attributes but the value), and each graph
as a template number plus its value vector, so its bytes are about the checkpoint's own::

    {"format": "wsrl.graphs", "version": SCHEMA_VERSION,
     "templates": [{"x", "edge_index", "edge_meta", "grid_rows"?}, ...],   # edge_meta: edge_attr[:, 1:]
     "template": [G] template of each graph, "values": all graphs' values concatenated, "edge_ptr": [G + 1],
     "meta": per graph}

``wsrl convert`` writes its shards this way and zoo caches use it too; files of another schema version are
refused by name (convert again). Unpacked graphs of one template share its ``x`` and ``edge_index`` tensors.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from torch import Tensor
from torch_geometric.data import Data

from wsrl.errors import WsrlError
from wsrl.files import envelope, load_json, load_torch, open_envelope
from wsrl.graph.schema import SCHEMA_VERSION

RECONVERT = "; convert the checkpoints again"
INDEX_FILE = "index.json"  # wsrl convert's table of converted NeRFs, one row per graph
GRAPH_META = ("arch", "spec", "object_id", "class_label", "split", "source")
FORMAT = "wsrl.graphs"  # its version is the graph SCHEMA_VERSION


def _template(g: Data) -> dict[str, Tensor]:
    """What a graph shares with every other graph of its structure: all but the parameter values."""
    rows = {"grid_rows": g.grid_rows} if getattr(g, "grid_rows", None) is not None else {}
    return {"x": g.x, "edge_index": g.edge_index, "edge_meta": g.edge_attr[:, 1:], **rows}


def _same(a: dict[str, Tensor], b: dict[str, Tensor]) -> bool:
    return a.keys() == b.keys() and all(a[k].shape == b[k].shape and torch.equal(a[k], b[k]) for k in a)


def pack_graphs(graphs: Sequence[Data]) -> dict:
    """One dict of tensors: each distinct graph structure once, then every graph's values and metadata."""
    templates: list[dict[str, Tensor]] = []
    by_size: dict[tuple[int, int], list[int]] = {}  # (nodes, edges) -> templates of that size
    numbers = []
    for g in graphs:
        mine = _template(g)
        same = by_size.setdefault((g.num_nodes, g.num_edges), [])
        number = next((i for i in same if _same(templates[i], mine)), None)
        if number is None:
            number = len(templates)
            templates.append({k: v.contiguous() for k, v in mine.items()})
            same.append(number)
        numbers.append(number)
    n_edges = torch.tensor([g.num_edges for g in graphs])
    return envelope(FORMAT, SCHEMA_VERSION, {
        "templates": templates,
        "template": torch.tensor(numbers, dtype=torch.long),
        "values": torch.cat([g.edge_attr[:, 0] for g in graphs]) if graphs else torch.zeros(0),
        "edge_ptr": torch.cat([torch.zeros(1, dtype=torch.long), n_edges.cumsum(0)]),
        "meta": [{k: getattr(g, k) for k in GRAPH_META} for g in graphs],
    })  # fmt: skip


def _check_packed(packed: dict, source: str) -> None:
    """Every graph's template exists and matches its value count; values are finite (one line naming the file)."""
    try:
        templates, numbers, values, ptr = packed["templates"], packed["template"], packed["values"], packed["edge_ptr"]
        n_graphs = len(packed["meta"])
        sizes = torch.tensor([t["edge_meta"].shape[0] for t in templates] or [0])
        ok = (
            len(numbers) == n_graphs == len(ptr) - 1
            and bool(((numbers >= 0) & (numbers < len(templates))).all())
            and torch.equal(ptr.diff(), sizes[numbers])
            and int(ptr[-1]) == values.numel()
        )
    except (KeyError, TypeError, AttributeError, IndexError, RuntimeError) as exc:
        raise WsrlError(f"{source}: malformed wsrl graph file ({type(exc).__name__}: {exc})"[:300]) from None
    if not ok:
        raise WsrlError(f"{source}: malformed wsrl graph file (templates, value counts and graphs disagree)")
    if not bool(torch.isfinite(values).all()):
        raise WsrlError(f"{source}: tensor 'values' contains NaN or Inf")


def unpack_graphs(packed: dict, source: str = "packed graphs") -> list[Data]:
    """Inverse of :func:`pack_graphs`; graphs of another schema version are refused (convert again)."""
    open_envelope(packed, FORMAT, SCHEMA_VERSION, source, "wsrl graph file", RECONVERT)
    _check_packed(packed, source)
    templates, values, ptr = packed["templates"], packed["values"], packed["edge_ptr"].tolist()
    out = []
    for i, (number, meta) in enumerate(zip(packed["template"].tolist(), packed["meta"], strict=True)):
        t = templates[number]
        g = Data(
            x=t["x"],
            edge_index=t["edge_index"],
            edge_attr=torch.cat([values[ptr[i] : ptr[i + 1], None], t["edge_meta"]], 1),
            num_nodes=t["x"].shape[0],
            **{"source": "", **meta},
        )
        if "grid_rows" in t:
            g.grid_rows = t["grid_rows"]
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
