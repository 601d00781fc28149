"""Training data from a zoo: cached parameter graphs follow the graph schema."""

from __future__ import annotations

import torch

from wsrl.dataset import ZooGraphs
from wsrl.graph import SCHEMA_VERSION


def test_graph_cache_of_an_older_schema_is_rebuilt(tiny_zoo):
    data = ZooGraphs(tiny_zoo)
    arch = data.archs[0]
    path = tiny_zoo / "cache" / f"graphs_{arch}.pt"
    packed = torch.load(path, weights_only=True)
    assert packed["version"] == SCHEMA_VERSION
    packed["version"] = SCHEMA_VERSION - 1
    packed["x"] = torch.zeros_like(packed["x"])  # what an older schema would have cached differently
    torch.save(packed, path)

    again = ZooGraphs(tiny_zoo)
    assert torch.load(path, weights_only=True)["version"] == SCHEMA_VERSION
    for first, second in zip(data.graphs[arch], again.graphs[arch], strict=True):
        assert torch.equal(first.x, second.x) and torch.equal(first.edge_attr, second.edge_attr)
