"""Graph files: many parameter graphs packed into one weights-only torch file, values apart from structure.

Graphs of one structure share a template (:mod:`wsrl.graph.param_graph`), so a packed file stores each distinct
template once, each distinct architecture spec once, and per graph only its values and a few columns of
metadata; its bytes are about those of the checkpoints it came from::

    {"format": "wsrl.graphs", "version": SCHEMA_VERSION,
     "templates": [{"x", "edge_index", "edge_meta", "grid_rows"?}, ...], "template": [G] (a template per graph),
     "values": every graph's values concatenated (float32, or float16 when written so), "edge_ptr": [G + 1],
     "specs": [spec dicts], "spec": [G], "class_label": [G],
     "arch", "object_id", "split", "source": each a JSON list of G strings (one string loads far faster than G)}

``wsrl convert`` writes its shards this way and zoo caches use it too; files of another schema version are
refused by name (convert again). Unpacked graphs of one template share its tensors, and their values are views
of the file's: loading copies nothing per graph.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor
from torch_geometric.data import Data

from wsrl.errors import WsrlError
from wsrl.files import envelope, load_json, load_torch, open_envelope
from wsrl.graph.param_graph import ParamGraph, param_graph, parts, sibling, template_of
from wsrl.graph.schema import SCHEMA_VERSION, VALUE_DTYPES
from wsrl.nerf.checkpoint import check_values

RECONVERT = "; convert the checkpoints again"
INDEX_FILE = "index.json"  # wsrl convert's table of converted NeRFs, one row per graph
COLUMNS = ("arch", "object_id", "split", "source")  # per-graph string columns; class_label and spec beside them
FORMAT = "wsrl.graphs"  # its version is the graph SCHEMA_VERSION


def _same(a: dict[str, Tensor], b: dict[str, Tensor]) -> bool:
    return a.keys() == b.keys() and all(a[k].shape == b[k].shape and torch.equal(a[k], b[k]) for k in a)


def _interned(obj: Any) -> Any:
    """``obj`` with equal strings made one object: pickle memoises by identity, so a file's bytes then depend on
    its content alone, not on which objects a long-running process happened to share (a resumed conversion
    writes the bytes of an uninterrupted one)."""
    if isinstance(obj, str):
        return sys.intern(obj)
    if isinstance(obj, dict):
        return {_interned(k): _interned(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_interned(v) for v in obj)
    return obj


class Packable(NamedTuple):
    """What a graph file stores of one graph: its template (shared tensors), spec dict, values, class label and
    string :data:`COLUMNS`."""

    template: dict[str, Tensor]
    spec: dict
    value: Tensor
    class_label: int
    columns: dict[str, str]

    @classmethod
    def of(cls, graph: Data) -> Packable:
        columns = {k: str(getattr(graph, k)) for k in COLUMNS}
        return cls(template_of(graph), graph.spec, parts(graph)[0], int(graph.class_label), columns)


def pack_graphs(graphs: Sequence[Data], values: str = "float32") -> dict:
    """One dict of tensors: each distinct template and spec once, then every graph's values (stored as
    ``values``, one of :data:`~wsrl.graph.schema.VALUE_DTYPES`) and metadata columns."""
    return pack([Packable.of(g) for g in graphs], values)


def pack(items: Sequence[Packable], values: str = "float32") -> dict:
    """:func:`pack_graphs` of graphs given by their parts (what conversion has, without building the graphs)."""
    templates: list[dict[str, Tensor]] = []
    by_tensors: dict[tuple[int, ...], int] = {}  # graphs built or loaded together share template tensors
    by_size: dict[tuple[int, int], list[int]] = {}  # others are compared by content
    numbers, specs, spec_numbers = [], [], []
    for item in items:
        mine = item.template
        key = tuple(id(v) for v in mine.values())
        number = by_tensors.get(key)
        if number is None:
            same = by_size.setdefault((mine["x"].shape[0], len(mine["edge_meta"])), [])
            number = next((i for i in same if _same(templates[i], mine)), None)
            if number is None:
                number = len(templates)
                templates.append({k: v.contiguous() for k, v in mine.items()})
                same.append(number)
            by_tensors[key] = number
        numbers.append(number)
        if item.spec not in specs:
            specs.append(item.spec)
        spec_numbers.append(specs.index(item.spec))
    n_edges = torch.tensor([len(item.value) for item in items], dtype=torch.long)
    value = torch.cat([item.value for item in items]) if items else torch.zeros(0)
    return envelope(FORMAT, SCHEMA_VERSION, {
        "templates": templates,
        "template": torch.tensor(numbers, dtype=torch.long),
        "values": value.to(getattr(torch, values)),
        "edge_ptr": torch.cat([torch.zeros(1, dtype=torch.long), n_edges.cumsum(0)]),
        "specs": _interned(specs),
        "spec": torch.tensor(spec_numbers, dtype=torch.long),
        "class_label": torch.tensor([item.class_label for item in items], dtype=torch.long),
        **{k: json.dumps([item.columns[k] for item in items]) for k in COLUMNS},  # one string each: fast to load
    })  # fmt: skip


def _check_packed(packed: dict, source: str) -> tuple[Tensor, dict[str, list[str]]]:
    """The values and the string columns, once every graph's template and spec exist and its value count matches
    (one line naming the file otherwise)."""
    try:
        columns = {k: json.loads(packed[k]) for k in COLUMNS}
        templates, numbers, values, ptr = packed["templates"], packed["template"], packed["values"], packed["edge_ptr"]
        n_graphs = len(packed["class_label"])
        sizes = torch.tensor([t["edge_meta"].shape[0] for t in templates] or [0])
        ok = (
            len(numbers) == n_graphs == len(ptr) - 1 == len(packed["spec"])
            and all(
                isinstance(c, list) and len(c) == n_graphs and all(isinstance(v, str) for v in c)
                for c in columns.values()
            )
            and bool(((numbers >= 0) & (numbers < len(templates))).all())
            and bool(((packed["spec"] >= 0) & (packed["spec"] < len(packed["specs"]))).all())
            and torch.equal(ptr.diff(), sizes[numbers])
            and int(ptr[-1]) == values.numel()
        )
    except (KeyError, TypeError, AttributeError, IndexError, RuntimeError, ValueError) as exc:
        raise WsrlError(f"{source}: malformed wsrl graph file ({type(exc).__name__}: {exc})"[:300]) from None
    if not ok:
        raise WsrlError(f"{source}: malformed wsrl graph file (templates, value counts and graphs disagree)")
    if not isinstance(values, Tensor) or str(values.dtype).removeprefix("torch.") not in VALUE_DTYPES:
        raise WsrlError(f"{source}: tensor 'values' must be float32 or float16")
    return check_values(source, "values", values), columns


def unpack_graphs(packed: dict, source: str = "packed graphs") -> list[ParamGraph]:
    """Inverse of :func:`pack_graphs`; graphs of another schema version are refused (convert again)."""
    open_envelope(packed, FORMAT, SCHEMA_VERSION, source, "wsrl graph file", RECONVERT)
    values, text = _check_packed(packed, source)
    specs, ptr = packed["specs"], packed["edge_ptr"].tolist()
    prototypes = [param_graph(template, values[:0]) for template in packed["templates"]]
    columns = zip(
        packed["template"].tolist(), packed["spec"].tolist(), packed["class_label"].tolist(),
        *text.values(), strict=True,
    )  # fmt: skip
    return [
        sibling(
            prototypes[t],
            value=values[ptr[i] : ptr[i + 1]],
            spec=specs[s],
            class_label=label,
            **dict(zip(COLUMNS, strings, strict=True)),
        )  # fmt: skip
        for i, (t, s, label, *strings) in enumerate(columns)
    ]


def load_shard(path: str | os.PathLike) -> list[Data]:
    """Graphs of one shard (weights-only, memory-mapped load)."""
    return unpack_graphs(load_torch(path, "graph file", mmap=True), str(path))


def read_index(path: str | os.PathLike) -> list[dict]:
    """The rows of a ``wsrl convert`` ``index.json`` (a one-line error when it is not a list of rows)."""
    rows = load_json(path, "wsrl convert index")
    needed = ("source", "arch", "file", "position")
    if not isinstance(rows, list) or not all(isinstance(r, dict) and set(needed) <= set(r) for r in rows):
        raise WsrlError(f"{path}: not a wsrl convert index (expected a list of rows with {', '.join(needed)})")
    return rows
