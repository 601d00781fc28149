"""wsrl: weight-space representation learning for NeRFs of any architecture.

The data flow is the package layout::

    wsrl.converters  checkpoint files (wsrl, nf2vec, nerfstudio, PyTorch) -> NeRF
    wsrl.nerf        the NeRF: architectures, fields, rendering, fitting
    wsrl.zoo         the procedural benchmark: objects, a zoo of fitted NeRFs
    wsrl.graph       NeRF -> parameter graph, graph files, collections (zoo or converted)
    wsrl.encoder     the graph meta-network: graph -> embedding
    wsrl.search      embedding stores, the persistent index, the benchmark protocol
    wsrl.train       training the encoder (SigLIP and rendering losses)
    wsrl.report      benchmark reports and pictures
    wsrl.cli         the ``wsrl`` command

From checkpoints to nearest neighbours::

    import wsrl
    graphs = [wsrl.nerf_to_graph(wsrl.read_checkpoint(p)) for p in paths]
    encoder = wsrl.load_encoder(run)
    store = wsrl.embed(encoder, graphs)   # each graph's architecture is read from the graph
    hits = store.search([0], k=5)         # rows (or embedding vectors) as queries

Names are imported on first use, so ``import wsrl`` is cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.2.0"

_API = {
    "read_checkpoint": "wsrl.converters",
    "find_checkpoints": "wsrl.converters",
    "NeRF": "wsrl.nerf.checkpoint",
    "load_nerf": "wsrl.nerf.checkpoint",
    "save_nerf": "wsrl.nerf.checkpoint",
    "ArchSpec": "wsrl.nerf.archs",
    "get_arch": "wsrl.nerf.archs",
    "list_archs": "wsrl.nerf.archs",
    "register_arch": "wsrl.nerf.archs",
    "nerf_to_graph": "wsrl.graph.build",
    "graph_forward": "wsrl.graph.forward",
    "GraphCollection": "wsrl.graph.collection",
    "convert": "wsrl.graph.convert",
    "load_encoder": "wsrl.encoder.checkpoint",
    "embed": "wsrl.search.store",
    "embed_collection": "wsrl.search.store",
    "EmbeddingStore": "wsrl.search.store",
    "NeRFIndex": "wsrl.search.index",
    "WsrlError": "wsrl.errors",
}
__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'wsrl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
