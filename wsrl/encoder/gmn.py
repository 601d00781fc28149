"""The graph meta-network (GMN): a parameter graph in, one embedding vector out.

After Lim et al. (2024) and gmnerf's ``EdgeMPNNDiT``, on torch-geometric:

* :class:`NodeFeatures` / :class:`EdgeFeatures`: embeddings of the integer node and
  edge fields of :mod:`wsrl.graph.build` plus sinusoidal features of the parameter value;
* :class:`EdgeNodeBlock`: one residual, pre-LayerNorm round of edge update (from both
  end nodes) and node update (mean of incoming and of outgoing edges);
* :class:`DeepSetsReadout`: an MLP on every edge, the mean over a graph's edges joined by the
  graph's weight statistics (:mod:`wsrl.graph.statistics`), an MLP, with features standardised per
  architecture (:mod:`wsrl.encoder.standardize`).

Hidden neurons carry no index (their ``position`` is -1), so permuting the hidden
neurons of a NeRF permutes graph nodes and leaves the embedding unchanged.

Without autograd (embedding, search), every per-edge and per-node step runs over :data:`CHUNK_ROWS` rows at a
time and updates the edge and node states in place: the same sums, but a chunk's intermediates stay in the CPU's
caches and no ``[E, width]`` temporary is allocated (on a CPU, memory passes and page faults over millions of
edges cost more than the matrix products). With autograd, each step runs once over all rows.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Batch, Data
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import scatter

from wsrl.encoder.config import ENCODER_PRESETS, EncoderConfig
from wsrl.encoder.standardize import FEATURE_EPS, Moments, apply_moments, domain_groups, standardize_moments
from wsrl.errors import WsrlError
from wsrl.graph.param_graph import param_graph, parts
from wsrl.graph.probe import node_probe_features
from wsrl.graph.schema import EDGE_COLUMNS, EDGE_TYPES, NODE_TYPES, EdgeColumn, NodeColumn
from wsrl.graph.statistics import STATS_DIM, STATS_EPS, STATS_REL_EPS, edge_statistics

MAX_LAYER = 32  # layer ids are clamped to this
MAX_POSITION = 256  # input/output positions are clamped to this
VALUE_FREQUENCIES = (1.0, 3.0, 10.0, 30.0, 100.0)
NODE_PROBE_KEY = "_wsrl_node_probe"  # where batch_graphs keeps a graph's node probe features
LOG_RMS = EDGE_COLUMNS  # the column standardize_values appends: log-RMS of the edge's (graph, layer, type) group
CHUNK_ROWS = 4096  # rows per step without autograd: [4096, 2 x 128] floats stay within a core's L2 cache


def _chunks(n: int) -> list[slice]:
    return [slice(s, s + CHUNK_ROWS) for s in range(0, n, CHUNK_ROWS)]


def map_rows(fn, width: int, *rows: Tensor) -> Tensor:
    """``fn(*rows)``, ``[n, width]`` from row-aligned inputs; without autograd computed chunk by chunk into one
    output."""
    if torch.is_grad_enabled():
        return fn(*rows)
    out = rows[0].new_empty(rows[0].shape[0], width)
    for c in _chunks(rows[0].shape[0]):
        out[c] = fn(*(r[c] for r in rows))
    return out


def add_rows(fn, target: Tensor, *rows: Tensor) -> Tensor:
    """``target + fn(*rows)`` for row-aligned inputs; without autograd added into ``target`` chunk by chunk."""
    if torch.is_grad_enabled():
        return target + fn(*rows)
    for c in _chunks(target.shape[0]):
        target[c] += fn(*(r[c] for r in rows))
    return target


def mean_rows(fn, index: Tensor, n_out: int, width: int, *rows: Tensor) -> Tensor:
    """``[n_out, width]``: the mean of ``fn(*rows)`` over the rows with each ``index`` (zero where none), as PyG's
    ``scatter(..., reduce="mean")``; without autograd summed chunk by chunk."""
    if torch.is_grad_enabled():
        return scatter(fn(*rows), index, dim=0, dim_size=n_out, reduce="mean")
    out = rows[0].new_zeros(n_out, width)
    for c in _chunks(index.shape[0]):
        out.index_add_(0, index[c], fn(*(r[c] for r in rows)))
    return out / torch.bincount(index, minlength=n_out).clamp_(min=1).to(out.dtype)[:, None]


def mlp(d_in: int, d_hidden: int, d_out: int) -> nn.Sequential:
    """Two-layer MLP with ReLU (the cheapest activation on CPU, where edges are millions)."""
    return nn.Sequential(nn.Linear(d_in, d_hidden), nn.ReLU(), nn.Linear(d_hidden, d_out))


def _small_embedding(n: int, width: int) -> nn.Embedding:
    """An embedding initialised at std 0.02: type/layer codes are constant within an architecture and
    at N(0, 1) they drown the parameter values, which carry the object."""
    emb = nn.Embedding(n, width)
    nn.init.normal_(emb.weight, std=0.02)
    return emb


class NodeFeatures(nn.Module):
    """``x = (layer, position, type)`` -> ``[N, width]``: a sum of three embeddings, plus (``probe_dim > 0``) a
    linear map of the node's probe features (:func:`wsrl.graph.probe.node_probe_features`)."""

    def __init__(self, width: int, probe_dim: int = 0) -> None:
        super().__init__()
        self.layer = _small_embedding(MAX_LAYER + 1, width)
        self.position = _small_embedding(MAX_POSITION + 1, width)  # index 0: no position (hidden, grid, bias)
        self.kind = _small_embedding(len(NODE_TYPES), width)
        self.probe = nn.Linear(probe_dim, width) if probe_dim else None

    def forward(self, x: Tensor, probe: Tensor | None = None) -> Tensor:
        layer = x[:, NodeColumn.LAYER].clamp(0, MAX_LAYER)
        position = (x[:, NodeColumn.POSITION] + 1).clamp(0, MAX_POSITION)
        h = self.layer(layer) + self.position(position) + self.kind(x[:, NodeColumn.TYPE])
        return h if self.probe is None else h + self.probe(probe.to(h.dtype))


class EdgeFeatures(nn.Module):
    """Standardised ``edge_attr = (value, layer, type, pos x3, log RMS)`` -> ``[E, width]``.

    The value enters raw and through ``sin/cos`` at :data:`VALUE_FREQUENCIES`, with the
    position and the log-RMS of its group (:func:`standardize_values`).
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        self.register_buffer("freqs", torch.tensor(VALUE_FREQUENCIES), persistent=False)
        self.value = mlp(1 + 2 * len(VALUE_FREQUENCIES) + 4, width, width)  # value x position interactions
        self.layer = _small_embedding(MAX_LAYER + 1, width)
        self.kind = _small_embedding(len(EDGE_TYPES), width)

    def forward(self, edge_attr: Tensor) -> Tensor:
        return map_rows(self._rows, self.layer.weight.shape[1], edge_attr)

    def _rows(self, edge_attr: Tensor) -> Tensor:
        value, pos_scale = edge_attr[:, :1], edge_attr[:, EdgeColumn.POSITION : LOG_RMS + 1]
        phase = value * self.freqs
        scalars = torch.cat([value, torch.sin(phase), torch.cos(phase), pos_scale], 1)
        layer = edge_attr[:, EdgeColumn.LAYER].long().clamp(0, MAX_LAYER)
        codes = torch.stack([layer, edge_attr[:, EdgeColumn.TYPE].long() + MAX_LAYER + 1], 1)
        # value MLP + layer embedding + type embedding, with the two lookups summed in one pass and added by the
        # last layer's matrix product (memory passes over [E, width] are what an edge costs on a CPU)
        codes_sum = F.embedding_bag(codes, torch.cat([self.layer.weight, self.kind.weight]), mode="sum")
        first, _, last = self.value
        return torch.addmm(codes_sum, torch.relu(first(scalars)), last.weight.t()).add_(last.bias)


class EdgeNodeBlock(MessagePassing):
    """Residual pre-LN block: edges read both end nodes, nodes read the mean of in- and out-edges.

    The edge MLP's first layer on ``[h_src, h_dst, e]`` is computed as
    ``A h[src] + B h[dst] + C e`` with ``A h`` and ``B h`` evaluated per node, not per edge.
    """

    def __init__(self, width: int, update_nodes: bool = True) -> None:
        super().__init__(aggr="mean")
        self.node_norm = nn.LayerNorm(width)
        self.edge_norm = nn.LayerNorm(width)
        self.edge_in = nn.Linear(width, 2 * width)  # the source and target node terms, per node
        self.edge_self = nn.Linear(width, width, bias=False)
        self.edge_out = nn.Linear(width, width)
        # the last block's node states are never read (the readout pools edges): no node update there
        self.node_mlp = mlp(3 * width, 2 * width, width) if update_nodes else None

    def forward(
        self, h: Tensor, edge_index: Tensor, e: Tensor, ends: Tensor | None = None, nodes: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """New node and edge states. ``ends``: :func:`edge_ends` of ``edge_index`` (computed here when not given);
        ``nodes``: the indices of the only nodes whose new states are computed and returned (the last block's, of
        which the readout reads the output nodes'). Without autograd, ``h`` and ``e`` are updated in place."""
        hn = self.node_norm(h)
        ends = edge_ends(edge_index, h.shape[0]) if ends is None else ends
        ends_table = torch.cat(self.edge_in(hn).chunk(2, dim=1))  # the source and the target node terms
        if torch.is_grad_enabled():
            e = self._edge_update(e, ends, ends_table, in_place=False)
        else:
            for c in _chunks(e.shape[0]):
                self._edge_update(e[c], ends[c], ends_table, in_place=True)
        pick = (lambda x: x) if nodes is None else (lambda x: x[nodes])
        if self.node_mlp is None:
            return pick(h), e
        incoming = self.propagate(edge_index, e=e, size=(h.shape[0], h.shape[0]))
        outgoing = self.propagate(edge_index.flip(0), e=e, size=(h.shape[0], h.shape[0]))
        update = lambda *parts: self.node_mlp(torch.cat(parts, 1))  # noqa: E731
        return add_rows(update, pick(h), pick(hn), pick(incoming), pick(outgoing)), e

    def _edge_update(self, e: Tensor, ends: Tensor, ends_table: Tensor, in_place: bool) -> Tensor:
        """``e + edge_out(relu(A h[src] + B h[dst] + C edge_norm(e)))``: the node terms as one summed lookup, the
        edge term in the same matrix product, ReLU in place, the output layer added onto the residual by its
        matrix product (the same sums in fewer passes over the edges)."""
        hidden = torch.addmm(F.embedding_bag(ends, ends_table, mode="sum"), self.edge_norm(e),
                             self.edge_self.weight.t()).relu_()  # fmt: skip
        update = e.addmm_ if in_place else e.addmm
        return update(hidden, self.edge_out.weight.t()).add_(self.edge_out.bias)

    def message(self, e: Tensor) -> Tensor:
        return e


def edge_ends(edge_index: Tensor, n_nodes: int) -> Tensor:
    """``[E, 2]`` rows ``(src, n_nodes + dst)``: a lookup in ``cat([A, B])`` summing them gives ``A[src] + B[dst]``."""
    return torch.stack([edge_index[0], edge_index[1] + n_nodes], 1)


ReadoutNorms = tuple[Moments, Moments, Moments]  # moments of the statistics, the pooled edges, the embedding


def _phi(width: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(width, 2 * width), nn.ReLU())


class DeepSetsReadout(nn.Module):
    """``rho([mean_edges(phi(e)), (mean_outputs(phi'(h))), s])`` per graph, standardised per domain before and
    after ``rho``: the edges' states pooled, (``outputs``) the output nodes' states pooled apart, and ``s``
    ``extra`` per-graph features that follow the pooled ones (the weight statistics).
    """

    def __init__(self, width: int, embedding: int, extra: int = 0, outputs: bool = False) -> None:
        super().__init__()
        self.width = width
        self.pooled = 2 * width * (2 if outputs else 1)
        self.norm, self.phi = nn.LayerNorm(width), _phi(width)
        self.out_norm, self.out_phi = (nn.LayerNorm(width), _phi(width)) if outputs else (None, None)
        self.rho = mlp(self.pooled + extra, 2 * width, embedding)

    def pool(self, e: Tensor, edge_graph: Tensor, n_graphs: int, outputs: tuple[Tensor, Tensor] | None) -> Tensor:
        """Per graph, the mean of the edges' states and (``outputs``: states and graph index) of the output
        nodes': ``[n_graphs, self.pooled]``."""
        pooled = mean_rows(lambda rows: self.phi(self.norm(rows)), edge_graph, n_graphs, self.phi[0].out_features, e)
        if self.out_phi is None:
            return pooled
        h, node_graph = outputs
        out = mean_rows(lambda rows: self.out_phi(self.out_norm(rows)), node_graph, n_graphs, 2 * self.width, h)
        return torch.cat([pooled, out], 1)

    def forward(
        self, pooled: Tensor, domain: Tensor | None = None, norms: ReadoutNorms | None = None
    ) -> tuple[Tensor, ReadoutNorms]:
        """Embeddings of the pooled rows and the moments used: those of each ``domain``'s rows (default: one
        population), or, given ``norms``, a reference population's, with ``domain`` indexing their rows."""
        if norms is None:
            group = domain_groups(domain, pooled.shape[0], pooled.device)
        elif domain is None:
            raise WsrlError("standardising with stored moments needs each row's domain index")
        else:
            group = domain

        def standardize(x: Tensor, i: int, eps: float = FEATURE_EPS, rel_eps: float = 0.0) -> tuple[Tensor, Moments]:
            if norms is None:
                return standardize_moments(x, group, eps, rel_eps)
            return apply_moments(x, norms[i], group), norms[i]

        edges, extra = pooled[:, : self.pooled], pooled[:, self.pooled :]
        stats, m_stats = standardize(extra, 0, STATS_EPS, STATS_REL_EPS)
        edges, m_edges = standardize(edges, 1)
        z, m_out = standardize(self.rho(torch.cat([edges, stats], 1)), 2)
        return z, (m_stats, m_edges, m_out)


class GMNEncoder(nn.Module):
    """Parameter graphs (a PyG ``Batch`` or one ``Data``) and their domains -> embeddings ``[G, embedding]``.

    ``domain[g]`` names graph g's population (its architecture; default: all one population).
    :meth:`pool` is the per-graph part; :meth:`head` the per-population part, so a population larger
    than a batch is embedded by pooling batch by batch, then one head (:func:`embed_graphs`).
    """

    def __init__(self, config: EncoderConfig = ENCODER_PRESETS["mini"]) -> None:
        super().__init__()
        self.config = config
        self.nodes = NodeFeatures(config.width, config.node_probes**3 + 1 if config.node_probes else 0)
        self.edges = EdgeFeatures(config.width)
        last = config.depth - 1  # its node states are read only by an output readout
        self.blocks = nn.ModuleList(
            EdgeNodeBlock(config.width, i < last or config.output_readout) for i in range(config.depth)
        )
        extra = STATS_DIM if config.statistics else 0
        self.readout = DeepSetsReadout(config.width, config.embedding, extra, config.output_readout)
        self.trained_archs: tuple[str, ...] = ()  # the architectures of its training run (set when loaded)
        # per architecture, the readout moments of a reference population (its training split; set when loaded):
        # what makes embeddings inductive (:mod:`wsrl.encoder.population`)
        self.norms: dict[str, list[Tensor]] = {}

    @property
    def pooled_width(self) -> int:
        """Width of :meth:`pool`'s rows."""
        return self.readout.pooled + (STATS_DIM if self.config.statistics else 0)

    def pool(self, graphs: Batch | Data) -> Tensor:
        """Per-graph pooled edge (and output node) states, then (``config.statistics``) the weight statistics."""
        if isinstance(graphs, Batch):
            node_graph, n_graphs = graphs.batch, graphs.num_graphs
        else:
            node_graph, n_graphs = torch.zeros(graphs.num_nodes, dtype=torch.long), 1
        edge_graph = node_graph[graphs.edge_index[0]]
        probe = None
        if self.config.node_probes:
            if "probe" not in graphs:
                raise WsrlError("this encoder reads node probe features: batch graphs with batch_graphs(graphs, R)")
            probe = graphs.probe
        h, e = self.nodes(graphs.x, probe), self.edges(standardize_values(graphs.edge_attr, edge_graph))
        ends = edge_ends(graphs.edge_index, h.shape[0])
        out = (graphs.x[:, NodeColumn.TYPE] == NODE_TYPES["output"]).nonzero().squeeze(1)
        for i, block in enumerate(self.blocks):  # the last block's node states: the output nodes' only
            h, e = block(h, graphs.edge_index, e, ends, out if i == len(self.blocks) - 1 else None)
        pooled = self.readout.pool(e, edge_graph, n_graphs, (h, node_graph[out]))
        if not self.config.statistics:
            return pooled
        counts = torch.bincount(edge_graph, minlength=n_graphs).tolist()
        stats = torch.stack([edge_statistics(a) for a in graphs.edge_attr.split(counts)])
        return torch.cat([pooled, stats], 1)

    def head(self, pooled: Tensor, domain: Tensor | None = None) -> Tensor:
        """Embeddings of pooled rows standardised per ``domain`` over the rows given."""
        return self.readout(pooled, domain)[0]

    def forward(self, graphs: Batch | Data, domain: Tensor | None = None) -> Tensor:
        return self.head(self.pool(graphs), domain)


def untrained_encoder(config: EncoderConfig, seed: int = 0) -> GMNEncoder:
    """A freshly initialised encoder (the baseline), in eval mode."""
    torch.manual_seed(seed)
    return GMNEncoder(config).eval()


def standardize_values(edge_attr: Tensor, edge_graph: Tensor) -> Tensor:
    """Edge values divided by their RMS within each (graph, layer, edge type) group, and that
    group's log-RMS appended as a 7th column.

    Architectures fit at very different weight scales (hash entries vs MLP weights, 2 vs 4 layers), so
    values enter at unit scale; the scale itself still says something about the object (how much of the
    scene box it fills), so it enters too, as a log, and the readout's per-architecture standardisation
    removes what is common to the architecture.
    """
    layer = edge_attr[:, EdgeColumn.LAYER].long().clamp(0, MAX_LAYER)
    kind = edge_attr[:, EdgeColumn.TYPE].long()
    group = (edge_graph * (MAX_LAYER + 1) + layer) * len(EDGE_TYPES) + kind
    _, group = torch.unique(group, return_inverse=True)
    value = edge_attr[:, EdgeColumn.VALUE]
    rms = scatter(value * value, group, dim=0, reduce="mean").sqrt().clamp(min=1e-8)
    per_edge = rms.index_select(0, group)
    return torch.cat([(value / per_edge)[:, None], edge_attr[:, 1:EDGE_COLUMNS], per_edge.log()[:, None]], 1)


def batch_graphs(graphs: list[Data], node_probes: int = 0) -> Batch:
    """One PyG batch of the encoder's inputs (``x``, ``edge_index``, ``edge_attr`` and, with ``node_probes``,
    the node probe features ``probe``) of ``graphs``, which may come from different architectures (their other
    attributes, e.g. a hash graph's ``grid_rows``, differ). Probe features are computed once per graph object
    and kept on it."""
    batch = []
    for g in graphs:
        value, edge_meta = parts(g)
        part = param_graph({"x": g.x, "edge_index": g.edge_index, "edge_meta": edge_meta}, value)
        if node_probes:
            res, probe = g.__dict__.get(NODE_PROBE_KEY, (0, None))  # kept outside Data's store: never saved
            if res != node_probes:
                probe = node_probe_features(g, node_probes)
                g.__dict__[NODE_PROBE_KEY] = (node_probes, probe)
            part.probe = probe
        batch.append(part)
    return Batch.from_data_list(batch)


@torch.no_grad()
def pool_graphs(encoder: GMNEncoder, graphs: list[Data], batch_size: int = 32) -> Tensor:
    """The per-graph part of the encoder (:meth:`GMNEncoder.pool`) over ``graphs``, batch by batch."""
    if not graphs:
        return torch.zeros(0, encoder.pooled_width)
    return torch.cat(
        [
            encoder.pool(batch_graphs(graphs[s : s + batch_size], encoder.config.node_probes))
            for s in range(0, len(graphs), batch_size)
        ]
    )


@torch.no_grad()
def embed_graphs(encoder: GMNEncoder, graphs: list[Data], domain: Tensor | None = None, batch_size: int = 32) -> Tensor:
    """Embeddings ``[n, D]`` of ``graphs``, standardised per ``domain`` over all of them (default: one domain)."""
    if not graphs:
        return torch.zeros(0, encoder.config.embedding)
    return encoder.head(pool_graphs(encoder, graphs, batch_size), domain)
