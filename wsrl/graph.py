"""NeRF -> parameter graph (a PyG ``Data``), after Graph Metanetworks and gmnerf.

Every neuron, grid cell and table entry is a node; every parameter is an edge from
the input side to the output side. Built from whole tensors at once.

Node schema, ``x`` (long ``[N, 3]``):
    0 ``layer``: 0 grid cells / table entries, 1 MLP inputs (the encoded features),
      1 + i the i-th hidden layer, 1 + H + 1 the outputs; a bias node has the layer of
      the neurons it feeds minus one.
    1 ``position``: index among the MLP's inputs or outputs, -1 otherwise.
    2 ``type``: :data:`NODE_TYPES`.

Edge schema, ``edge_attr`` (float ``[E, 6]``):
    0 ``value`` of the parameter; 1 ``layer`` of its target node; 2 ``type``
    (:data:`EDGE_TYPES`); 3-5 ``position``: tri-plane ``(plane, u, v)`` with u, v the
    cell's coordinates in [-1, 1]; hash ``(level / (L - 1), -1, -1)``; -1 for MLP edges.

tiny-cuda-nn padding is removed: padded output rows are dropped; padded input
columns are dropped when they see 0 (grids) and folded into one bias edge per
neuron when they see 1 (FORMATS §1.2.2).

**Bounded hash grids.** A table with more entries than the edge budget allows
keeps, per level, the entries with the largest feature norm (ties: lower row).
Entries never touched by training keep tcnn's ``U(±1e-4)`` init and go first, so
on real checkpoints the graph keeps what was learned; what is lost is the
low-magnitude remainder (the graph forward then reads those entries as 0).
Graph attributes ``grid_rows`` (kept rows) and ``grid_kept`` record the choice.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Data

from wsrl.archs import ArchSpec
from wsrl.fields.encodings import frequency_encode, hash_encode, triplane_encode
from wsrl.fields.mlp import ACTIVATIONS
from wsrl.nerf import NeRF

NODE_TYPES = {"input": 0, "hidden": 1, "output": 2, "bias": 3, "plane_cell": 4, "hash_entry": 5}
EDGE_TYPES = {"linear": 0, "bias": 1, "triplane": 2, "hash": 3}
DEFAULT_MAX_GRID_EDGES = 200_000


class _Builder:
    """Accumulates node and edge blocks, then concatenates them once."""

    def __init__(self) -> None:
        self.n_nodes = 0
        self.nodes: list[Tensor] = []
        self.edges: list[Tensor] = []
        self.attrs: list[Tensor] = []

    def add_nodes(self, count: int, layer: int, node_type: str, positions: Tensor | None = None) -> Tensor:
        ids = torch.arange(self.n_nodes, self.n_nodes + count)
        pos = torch.full((count,), -1, dtype=torch.long) if positions is None else positions.long()
        kind = torch.full((count,), NODE_TYPES[node_type])
        self.nodes.append(torch.stack([torch.full((count,), layer), pos, kind], 1))
        self.n_nodes += count
        return ids

    def add_edges(
        self, src: Tensor, dst: Tensor, value: Tensor, layer: int, edge_type: str, position: Tensor | None = None
    ) -> None:
        e = value.numel()
        pos = torch.full((e, 3), -1.0) if position is None else position.float()
        meta = torch.tensor([float(layer), float(EDGE_TYPES[edge_type])]).expand(e, 2)
        self.edges.append(torch.stack([src.reshape(-1), dst.reshape(-1)]))
        self.attrs.append(torch.cat([value.reshape(-1, 1).float(), meta, pos], 1))

    def data(self) -> Data:
        edge_index, edge_attr = torch.cat(self.edges, 1), torch.cat(self.attrs)
        return Data(x=torch.cat(self.nodes), edge_index=edge_index, edge_attr=edge_attr, num_nodes=self.n_nodes)


def _kept_rows(table: Tensor, spec: ArchSpec, max_edges: int) -> Tensor:
    """Rows of the concatenated hash table that the graph keeps (sorted)."""
    levels = spec.grid_levels
    if table.numel() <= max_edges:
        return torch.arange(table.shape[0])
    per_level = max(1, max_edges // (spec.hash_features * len(levels)))
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


def nerf_to_graph(nerf: NeRF, max_grid_edges: int = DEFAULT_MAX_GRID_EDGES) -> Data:
    """The parameter graph of ``nerf`` (schema in the module docstring)."""
    spec, t = nerf.spec, nerf.tensors
    b = _Builder()
    n_in, n_out = spec.encoding_width, spec.n_outputs
    shapes = spec.mlp_shapes
    n_layers = len(shapes)

    inputs = b.add_nodes(n_in, 1, "input", torch.arange(n_in))
    layer_ids = [inputs]
    for i in range(n_layers):
        last = i == n_layers - 1
        width = n_out if last else shapes[i][0]
        kind, positions = ("output", torch.arange(width)) if last else ("hidden", None)
        layer_ids.append(b.add_nodes(width, 2 + i, kind, positions))
    for i in range(n_layers):
        w = t[f"mlp.{i}"][: len(layer_ids[i + 1])]
        src, dst = layer_ids[i], layer_ids[i + 1]
        b.add_edges(src.expand(len(dst), -1), dst[:, None].expand(-1, len(src)), w[:, : len(src)], 2 + i, "linear")
        if i == 0 and spec.input_pad_value != 0.0 and w.shape[1] > n_in:
            bias_node = b.add_nodes(1, 1, "bias")
            bias = spec.input_pad_value * w[:, n_in:].sum(1)
            b.add_edges(bias_node.expand(len(dst)), dst, bias, 2, "bias")

    if spec.family == "triplane":
        planes = t["planes"]  # [3, R, R, C]
        r, c = planes.shape[1], planes.shape[3]
        cells = b.add_nodes(3 * r * r, 0, "plane_cell")
        coords = torch.linspace(-1.0, 1.0, r)
        p, i, j = torch.meshgrid(torch.arange(3.0), coords, coords, indexing="ij")  # i: H (v), j: W (u)
        cell_pos = torch.stack([p, j, i], -1).reshape(-1, 1, 3).expand(-1, c, 3)
        feat = inputs[n_in - c :]
        b.add_edges(
            cells[:, None].expand(-1, c),
            feat.expand(len(cells), -1),
            planes.reshape(-1, c),
            1,
            "triplane",
            cell_pos.reshape(-1, 3),
        )
    if spec.family == "hash":
        table = t["grid"]
        rows = _kept_rows(table, spec, max_grid_edges)
        f = spec.hash_features
        level_of_row = torch.cat([torch.full((lv.n_entries,), i) for i, lv in enumerate(spec.grid_levels)])[rows]
        entries = b.add_nodes(len(rows), 0, "hash_entry")
        dst = inputs[level_of_row[:, None] * f + torch.arange(f)]
        denom = max(len(spec.grid_levels) - 1, 1)
        pos = torch.stack([level_of_row / denom, -torch.ones(len(rows)), -torch.ones(len(rows))], 1)
        edge_pos = pos[:, None].expand(-1, f, 3).reshape(-1, 3)
        b.add_edges(entries[:, None].expand(-1, f), dst, table[rows], 1, "hash", edge_pos)
        graph = b.data()
        graph.grid_rows = rows
        graph.grid_kept = len(rows) / table.shape[0]
    else:
        graph = b.data()
    graph.arch = spec.name
    graph.spec = spec.to_dict()
    graph.object_id = str(nerf.meta.get("object_id", ""))
    graph.class_label = int(nerf.meta.get("class_label", -1))
    return graph


def graph_forward(graph: Data, xyz: Tensor) -> Tensor:
    """Evaluate the network encoded in ``graph`` at world points ``[N, 3]``: raw outputs ``[N, 4]``.

    Weights are read from the edges only: grids are gathered back from their edges
    (entries the graph dropped read as 0), then activations flow layer by layer as
    messages ``value * act(h_src)`` summed at each target node.
    """
    spec = ArchSpec.from_dict(graph.spec)
    src, dst = graph.edge_index
    value, layer, etype = graph.edge_attr[:, 0], graph.edge_attr[:, 1].long(), graph.edge_attr[:, 2].long()
    node_layer, node_type = graph.x[:, 0], graph.x[:, 2]
    lo = torch.tensor(spec.aabb[:3])
    x01 = (xyz - lo) / (torch.tensor(spec.aabb[3:]) - lo)

    feats = frequency_encode(x01[None], spec.n_frequencies)[0] if spec.family != "hash" else None
    if spec.family == "triplane":
        grid_edges = etype == EDGE_TYPES["triplane"]
        r, c = spec.plane_resolution, spec.plane_features
        planes = value[grid_edges].view(3, r, r, c)
        feats = torch.cat([feats, triplane_encode(x01[None], planes[None])[0]], -1)
    if spec.family == "hash":
        grid_edges = etype == EDGE_TYPES["hash"]
        table = torch.zeros(spec.grid_entries, spec.hash_features)
        table[graph.grid_rows] = value[grid_edges].view(-1, spec.hash_features)
        feats = hash_encode(x01[None], table[None], spec.grid_levels)[0]

    act = ACTIVATIONS[spec.activation]
    h = torch.zeros(xyz.shape[0], graph.num_nodes)
    h[:, (node_layer == 1) & (node_type == NODE_TYPES["input"])] = feats
    h[:, node_type == NODE_TYPES["bias"]] = 1.0
    last = int(node_layer.max())
    for target in range(2, last + 1):
        sel = (layer == target) & ((etype == EDGE_TYPES["linear"]) | (etype == EDGE_TYPES["bias"]))
        s, d, w = src[sel], dst[sel], value[sel]
        msg = h[:, s]
        msg = torch.where((node_layer[s] >= 2) & (node_type[s] != NODE_TYPES["bias"]), act(msg), msg) * w
        h = h.index_add(1, d, msg)
    outputs = (node_type == NODE_TYPES["output"]).nonzero().squeeze(1)
    order = graph.x[outputs, 1].argsort()
    return h[:, outputs[order]]
