"""NeRF -> parameter graph (a PyG ``Data``, schema in :mod:`wsrl.graph.schema`), after Graph Metanetworks
and gmnerf.

Every neuron, grid cell and table entry is a node; every parameter is an edge from the input side to the
output side. Built from whole tensors at once.

tiny-cuda-nn padding is removed: padded output rows are dropped; padded input columns are dropped when they
see 0 (grids) and folded into one bias edge per neuron when they see 1 (``docs/formats.md``, tcnn MLPs).

**Bounded hash grids.** The whole graph has at most ``max_edges`` edges (default 200,000): a table with more
entries than the budget the MLPs leave keeps, per level (equal shares), the entries with the largest feature
norm (ties: lower row). Entries never touched by training keep tcnn's ``U(±1e-4)`` init and go first, so on
real checkpoints the graph keeps what was learned; what is lost is the low-magnitude remainder (the graph
forward then reads those entries as 0). Graph attributes ``grid_rows`` (kept rows) and ``grid_kept`` record
the choice.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from wsrl.errors import WsrlError
from wsrl.graph.schema import DEFAULT_MAX_EDGES, EDGE_TYPES, NODE_TYPES
from wsrl.nerf.archs import ArchSpec
from wsrl.nerf.checkpoint import NeRF

if TYPE_CHECKING:
    from wsrl.graph.param_graph import ParamGraph


class _Builder:
    """Accumulates node and edge blocks, then concatenates them once. Without ``structure`` it keeps only the
    parameter values (a graph's template comes from :func:`graph_template`)."""

    def __init__(self, structure: bool = True) -> None:
        self.structure = structure
        self.n_nodes = self.n_edges = 0
        self.nodes: list[Tensor] = []
        self.edges: list[Tensor] = []
        self.metas: list[Tensor] = []
        self.values: list[Tensor] = []

    def add_nodes(self, count: int, layer: int, node_type: str, positions: Tensor | None = None) -> Tensor:
        ids = torch.arange(self.n_nodes, self.n_nodes + count)
        if self.structure:
            pos = torch.full((count,), -1, dtype=torch.long) if positions is None else positions.long()
            kind = torch.full((count,), NODE_TYPES[node_type])
            self.nodes.append(torch.stack([torch.full((count,), layer), pos, kind], 1))
        self.n_nodes += count
        return ids

    def add_edges(
        self, src: Tensor | None, dst: Tensor | None, value: Tensor, layer: int, edge_type: str,
        position: Tensor | None = None,
    ) -> None:  # fmt: skip
        """Edges ``src -> dst`` (same shape as ``value``; ignored, and may be None, without ``structure``)."""
        e = value.numel()
        self.n_edges += e
        self.values.append(value.reshape(-1))
        if self.structure:
            pos = torch.full((e, 3), -1.0) if position is None else position.float()
            meta = torch.tensor([float(layer), float(EDGE_TYPES[edge_type])]).expand(e, 2)
            self.edges.append(torch.stack([src.reshape(-1), dst.reshape(-1)]))
            self.metas.append(torch.cat([meta, pos], 1))

    def value(self) -> Tensor:
        return torch.cat(self.values).float()

    def template(self) -> dict[str, Tensor]:
        return {"x": torch.cat(self.nodes), "edge_index": torch.cat(self.edges, 1), "edge_meta": torch.cat(self.metas)}


def _kept_rows(table: Tensor, spec: ArchSpec, max_edges: int) -> Tensor:
    """Rows of the concatenated hash table that the graph keeps (sorted)."""
    levels = spec.grid_levels
    if table.numel() <= max_edges:
        return torch.arange(table.shape[0])
    per_level = max(1, max_edges // (spec.hash_features * len(levels)))  # at least one entry per level
    norms = table.norm(dim=1)
    kept = []
    for lv in levels:
        local = norms[lv.offset : lv.offset + lv.n_entries]
        if lv.n_entries <= per_level:
            kept.append(torch.arange(lv.offset, lv.offset + lv.n_entries))
            continue
        # stable descending sort: ties keep the lower row
        order = torch.sort(-local, stable=True).indices[:per_level]
        kept.append(torch.sort(order).values + lv.offset)
    return torch.cat(kept)


def _add_mlp(
    b: _Builder,
    sources: Tensor,
    weights: list[Tensor],
    pad_value: float,
    first_layer: int,
    out_positions: Tensor,
    extra_bias: Tensor | None = None,
    biases: list[Tensor] | None = None,
) -> Tensor:
    """Nodes and edges of one tcnn MLP fed by the nodes ``sources``; returns its output nodes.

    Padded output rows are dropped; padded input columns are folded into one bias edge per
    first-layer neuron when they see ``pad_value != 0`` (plus ``extra_bias``, e.g. a folded
    constant input), and dropped when they see 0. Real ``biases`` (plain PyTorch MLPs) become
    bias edges of their layer too: one bias node per layer that has any.
    """
    n_in = len(sources)
    layer_ids = [sources]
    for i, w in enumerate(weights):
        last = i == len(weights) - 1
        kind, positions = ("output", out_positions) if last else ("hidden", None)
        layer_ids.append(b.add_nodes(len(out_positions) if last else w.shape[0], first_layer + i, kind, positions))
    for i, w in enumerate(weights):
        src, dst = layer_ids[i], layer_ids[i + 1]
        w = w[: len(dst)] if len(dst) < len(w) else w
        # the edges' ends only where the structure is built: a values-only build skips their tensor ops
        ends = (src.expand(len(dst), -1), dst[:, None].expand(-1, len(src))) if b.structure else (None, None)
        b.add_edges(*ends, w[:, : len(src)] if len(src) < w.shape[1] else w, first_layer + i, "linear")
        terms = [] if biases is None else [biases[i][: len(dst)]]
        if i == 0 and pad_value != 0.0 and w.shape[1] > n_in:
            terms.append(pad_value * w[:, n_in:].sum(1))
        if i == 0 and extra_bias is not None:
            terms.append(extra_bias[: len(dst)])
        if terms:
            bias_node = b.add_nodes(1, first_layer + i - 1, "bias")
            bias = terms[0] if len(terms) == 1 else torch.stack(terms).sum(0)
            b.add_edges(bias_node.expand(len(dst)) if b.structure else None, dst, bias, first_layer + i, "bias")
    return layer_ids[-1]


def nerf_to_graph(nerf: NeRF, max_edges: int = DEFAULT_MAX_EDGES) -> ParamGraph:
    """The parameter graph of ``nerf`` (schema in the module docstring): its values, read from its tensors, on
    the template of its architecture (built once, :func:`graph_template`)."""
    return graph_of(nerf.spec, *nerf_values(nerf, max_edges), nerf.meta, max_edges)


def nerf_values(nerf: NeRF, max_edges: int = DEFAULT_MAX_EDGES) -> tuple[Tensor, Tensor | None]:
    """The graph's parameter values in edge order, and the hash rows it keeps (None without a hash grid): all a
    conversion worker sends back."""
    b = _Builder(structure=False)
    rows = _build(b, nerf, max_edges)
    return b.value(), rows


def graph_of(
    spec: ArchSpec, value: Tensor, rows: Tensor | None, meta: dict, max_edges: int = DEFAULT_MAX_EDGES
) -> ParamGraph:
    """The graph of ``spec`` with these values and kept hash rows (:func:`nerf_values`) and the NeRF's ``meta``."""
    from wsrl.graph.param_graph import param_graph  # torch-geometric: not in a conversion worker (wsrl.graph.values)

    graph = param_graph(template_for(spec, rows, max_edges), value)
    if rows is not None:
        graph.grid_kept = len(rows) / spec.grid_entries
    graph.spec = spec_dict(spec)
    for key, field in meta_fields(spec, meta).items():
        setattr(graph, key, field)
    return graph


def meta_fields(spec: ArchSpec, meta: dict) -> dict[str, str | int]:
    """The graph attributes a NeRF's spec and metadata give: ``arch``, ``object_id``, ``class_label``, ``split``
    and ``source`` (empty, or -1 for the label, where the metadata has none)."""
    return {
        "arch": spec.name,
        "object_id": str(meta.get("object_id", "")),
        "class_label": int(meta.get("class_label", -1)),
        "split": str(meta.get("split", "")),
        "source": str(meta.get("source", "")),
    }


def template_for(spec: ArchSpec, rows: Tensor | None, max_edges: int = DEFAULT_MAX_EDGES) -> dict[str, Tensor]:
    """The template of a graph of ``spec`` that keeps the hash rows ``rows`` (:func:`nerf_values`): the cached one
    when its grid is whole."""
    uncut = rows is None or len(rows) == spec.grid_entries
    return graph_template(spec, max_edges) if uncut else _template(spec, max_edges, rows)


@lru_cache(maxsize=64)
def spec_dict(spec: ArchSpec) -> dict:
    """``spec.to_dict()``, made once per spec: every graph of it shares the dict (read it, never modify it)."""
    return spec.to_dict()


@lru_cache(maxsize=64)
def graph_template(spec: ArchSpec, max_edges: int = DEFAULT_MAX_EDGES) -> dict[str, Tensor]:
    """The structure every graph of ``spec`` shares when its hash grid (if any) is whole: ``x``, ``edge_index``,
    ``edge_meta`` (and ``grid_rows``); built from a NeRF of zeros, since no value decides the structure."""
    return _template(spec, max_edges, None)


def _template(spec: ArchSpec, max_edges: int, rows: Tensor | None) -> dict[str, Tensor]:
    """The template of ``spec`` with the hash rows ``rows`` kept (``None``: as the budget decides for zeros)."""
    b = _Builder()
    zeros = NeRF(spec, {k: torch.zeros(shape) for k, shape in spec.tensor_shapes.items()})
    rows = _build(b, zeros, max_edges, rows)
    return b.template() | ({} if rows is None else {"grid_rows": rows})


def _build(b: _Builder, nerf: NeRF, max_edges: int, rows: Tensor | None = None) -> Tensor | None:
    """Add the nodes and edges of ``nerf`` to ``b``; returns the hash rows kept (``rows`` if given), else None."""
    spec, t = nerf.spec, nerf.tensors
    n_in, n_out = spec.encoding_width, spec.n_outputs
    inputs = b.add_nodes(n_in, 1, "input", torch.arange(n_in))
    weights = [t[f"mlp.{i}"] for i in range(len(spec.mlp_shapes))]
    biases = [t[f"mlp_bias.{i}"] for i in range(len(weights))] if spec.mlp_biases else None
    outputs = _add_mlp(b, inputs, weights, spec.input_pad_value, 2, torch.arange(n_out), biases=biases)
    if spec.head_shapes:
        head_in_layer = 1 + len(weights)
        n_sh = spec.head_sh_degree**2
        directions = b.add_nodes(n_sh, head_in_layer, "direction", torch.arange(n_sh))
        geo = torch.cat([outputs[: spec.density_index], outputs[spec.density_index + 1 :]])
        head = [t[f"head.{i}"] for i in range(len(spec.head_shapes))]
        n_real = n_sh + len(geo)
        # the appearance input is a constant (its mean): fold it into the bias; pad columns see 1
        app = t["appearance"] if "appearance" in t else torch.zeros(0)
        folded = head[0][:, n_real : n_real + len(app)] @ app
        pad_cols = head[0][:, n_real + len(app) :].sum(1)
        head_biases = [t[f"head_bias.{i}"] for i in range(len(head))] if spec.mlp_biases else None
        _add_mlp(b, torch.cat([directions, geo]), [head[0][:, :n_real], *head[1:]], 0.0, head_in_layer + 1,
                 n_out + torch.arange(3), extra_bias=folded + pad_cols, biases=head_biases)  # fmt: skip

    if spec.family == "triplane":
        planes = t["planes"]  # [3, R, R, C]
        r, c = planes.shape[1], planes.shape[3]
        cells = b.add_nodes(3 * r * r, 0, "plane_cell")
        if not b.structure:
            b.add_edges(None, None, planes, 1, "triplane")
        else:
            coords = torch.linspace(-1.0, 1.0, r)
            p, i, j = torch.meshgrid(torch.arange(3.0), coords, coords, indexing="ij")  # i: H (v), j: W (u)
            cell_pos = torch.stack([p, j, i], -1).reshape(-1, 1, 3).expand(-1, c, 3)
            feat = inputs[n_in - c :]
            src, dst = cells[:, None].expand(-1, c), feat.expand(len(cells), -1)
            b.add_edges(src, dst, planes.reshape(-1, c), 1, "triplane", cell_pos.reshape(-1, 3))
    if spec.family == "hash":
        table = t["grid"]
        budget = max_edges - b.n_edges
        if budget < len(spec.grid_levels) * spec.hash_features:
            raise WsrlError(
                f"arch {spec.name!r}: max_edges={max_edges} leaves no room for the hash grid after the networks' "
                f"{max_edges - budget} edges (need at least one entry per level)"
            )
        rows = _kept_rows(table, spec, budget) if rows is None else rows
        entries = b.add_nodes(len(rows), 0, "hash_entry")
        kept = table if len(rows) == len(table) else table[rows]  # rows are sorted: all of them is the table
        if not b.structure:
            b.add_edges(None, None, kept, 1, "hash")
            return rows
        f = spec.hash_features
        level_of_row = torch.cat([torch.full((lv.n_entries,), i) for i, lv in enumerate(spec.grid_levels)])[rows]
        dst = inputs[level_of_row[:, None] * f + torch.arange(f)]
        denom = max(len(spec.grid_levels) - 1, 1)
        pos = torch.stack([level_of_row / denom, -torch.ones(len(rows)), -torch.ones(len(rows))], 1)
        edge_pos = pos[:, None].expand(-1, f, 3).reshape(-1, 3)
        b.add_edges(entries[:, None].expand(-1, f), dst, kept, 1, "hash", edge_pos)
        return rows
    return None
