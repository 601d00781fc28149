"""The graph forward: evaluate the network a parameter graph encodes, from its edges alone.

This is the executable specification of the graph schema (:mod:`wsrl.graph.schema`): a graph that
reproduces its NeRF's field here loses nothing the field needs.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Data

from wsrl.graph.schema import EDGE_TYPES, NODE_TYPES, EdgeColumn, NodeColumn
from wsrl.nerf.archs import ArchSpec
from wsrl.nerf.fields.field import encode_directions, encode_inputs, unit_cube
from wsrl.nerf.fields.mlp import ACTIVATIONS


def graph_forward(graph: Data, xyz: Tensor, dirs: Tensor | None = None) -> Tensor:
    """Evaluate the network encoded in ``graph`` at world points ``[N, 3]``: raw outputs ``[N, n_out (+3)]``
    (with a colour head, its RGB logits follow, for view directions ``dirs``, default zero)."""
    signals, net = node_signals(graph, xyz, dirs)
    node_type, position = graph.x[net, NodeColumn.TYPE], graph.x[net, NodeColumn.POSITION]
    outputs = (node_type == NODE_TYPES["output"]).nonzero().squeeze(1)
    return signals[:, outputs[position[outputs].argsort()]]


def node_signals(graph: Data, xyz: Tensor, dirs: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """What every network node emits at world points ``[N, 3]``: ``[N, n_net]`` (hidden neurons after their
    activation, inputs their encoded features, biases 1, outputs their raw value), and the mask ``[num_nodes]``
    of the network nodes in graph order (grid cells and table entries feed the encoding, not messages).

    Weights are read from the edges only: grids are gathered back from their edges
    (entries the graph dropped read as 0), then activations flow layer by layer as
    messages ``value * act(h_src)`` summed at each target node (one matrix product per layer).
    """
    spec = ArchSpec.from_dict(graph.spec)
    src, dst = graph.edge_index
    attr = graph.edge_attr
    value, layer, etype = attr[:, EdgeColumn.VALUE], attr[:, EdgeColumn.LAYER].long(), attr[:, EdgeColumn.TYPE].long()
    node_layer, node_type = graph.x[:, NodeColumn.LAYER], graph.x[:, NodeColumn.TYPE]
    planes = table = None
    if spec.family == "triplane":
        r, c = spec.plane_resolution, spec.plane_features
        planes = value[etype == EDGE_TYPES["triplane"]].view(1, 3, r, r, c)
    if spec.family == "hash":
        table = torch.zeros(1, spec.grid_entries, spec.hash_features)
        table[0, graph.grid_rows] = value[etype == EDGE_TYPES["hash"]].view(-1, spec.hash_features)
    feats = encode_inputs(spec, unit_cube(spec, xyz)[None], table, planes)[0]

    # activations only for network nodes (grid cells and table entries feed the encoding, not messages)
    net = (node_type != NODE_TYPES["plane_cell"]) & (node_type != NODE_TYPES["hash_entry"])
    column = torch.full((graph.num_nodes,), -1, dtype=torch.long)
    column[net] = torch.arange(int(net.sum()))
    node_layer, node_type = node_layer[net], node_type[net]
    n = len(node_type)
    h = torch.zeros(xyz.shape[0], n)
    h[:, (node_layer == 1) & (node_type == NODE_TYPES["input"])] = feats
    h[:, node_type == NODE_TYPES["bias"]] = 1.0
    if spec.head_shapes:
        dirs = torch.zeros_like(xyz) if dirs is None else dirs
        h[:, node_type == NODE_TYPES["direction"]] = encode_directions(spec, dirs)
    head_start = 2 + len(spec.mlp_shapes)  # first layer of head neurons
    hidden = node_type == NODE_TYPES["hidden"]
    for target in range(2, int(node_layer.max()) + 1):
        sel = (layer == target) & ((etype == EDGE_TYPES["linear"]) | (etype == EDGE_TYPES["bias"]))
        # the layer's edges as a dense [source, target] matrix: h += act(h_src) @ W sums the messages
        weights = torch.zeros(n, n).index_put_((column[src[sel]], column[dst[sel]]), value[sel], accumulate=True)
        act = ACTIVATIONS["relu" if target > head_start else spec.activation]
        feeding = hidden & (node_layer == target - 1)
        emitted = torch.where(feeding, act(h), h)
        h = torch.where(feeding, emitted, h + emitted @ weights)  # a layer's neurons keep what they emit
    return h, net
