"""The parameter-graph object: a template shared by every NeRF of one structure, plus the NeRF's values.

Within one architecture every graph has the same nodes, edges and edge attributes but the parameter values
(a hash grid cut to an edge budget is the exception: its kept rows differ). A :class:`ParamGraph` therefore
holds ``x``, ``edge_index`` and ``edge_meta`` (every ``edge_attr`` column but the value) as tensors that all
graphs of its template share, and its own ``value`` vector; ``edge_attr`` (the schema's ``[E, 6]`` columns,
:mod:`wsrl.graph.schema`) is assembled when read, so loading and batching never copy the structure.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor
from torch_geometric.data import Data

from wsrl.graph.schema import EdgeColumn


class ParamGraph(Data):
    """A PyG ``Data`` whose ``edge_attr`` is ``[value, edge_meta]``; batches of it (``Batch.from_data_list``)
    behave alike. The template tensors are shared: never modify them in place."""

    @property
    def edge_attr(self) -> Tensor:
        return torch.cat([self.value[:, None], self.edge_meta], 1)

    @edge_attr.setter
    def edge_attr(self, attr: Tensor) -> None:
        self.value, self.edge_meta = attr[:, EdgeColumn.VALUE], attr[:, EdgeColumn.VALUE + 1 :]


def parts(graph: Data) -> tuple[Tensor, Tensor]:
    """``(value, edge_meta)`` of any parameter graph, without assembling ``edge_attr`` when it is a
    :class:`ParamGraph`."""
    if isinstance(graph, ParamGraph):
        return graph.value, graph.edge_meta
    attr = graph.edge_attr
    return attr[:, EdgeColumn.VALUE], attr[:, EdgeColumn.VALUE + 1 :]


def param_graph(template: dict[str, Tensor], value: Tensor, **attrs) -> ParamGraph:
    """A graph of ``template`` (``x``, ``edge_index``, ``edge_meta`` and a hash grid's ``grid_rows``, shared, not
    copied) with its own ``value`` vector and graph attributes ``attrs``."""
    return ParamGraph.from_dict({**template, "value": value, **attrs})  # num_nodes: from x


def sibling(graph: ParamGraph, **attrs) -> ParamGraph:
    """A shallow copy of ``graph`` (every tensor shared) with ``attrs`` set or replaced: many graphs of one template
    from one prototype. The attributes go into the storage's mapping as PyG's own ``Data.__copy__`` fills it;
    PyG's attribute setter, which also drops cached properties a fresh copy cannot have, costs ~45 µs per graph
    here (measured), more than reading the graph's values from disk."""
    out = copy.copy(graph)
    out._store._mapping.update(attrs)
    return out


def template_of(graph: Data) -> dict[str, Tensor]:
    """What ``graph`` shares with every graph of its structure: all but its parameter values."""
    rows = {"grid_rows": graph.grid_rows} if getattr(graph, "grid_rows", None) is not None else {}
    return {"x": graph.x, "edge_index": graph.edge_index, "edge_meta": parts(graph)[1], **rows}
