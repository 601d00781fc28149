"""One graph collection for a zoo and for ``wsrl convert`` output: ids, architectures, labels, splits."""

from __future__ import annotations

import json

import pytest
import torch

from wsrl.errors import WsrlError
from wsrl.graph.collection import GraphCollection
from wsrl.graph.convert import convert
from wsrl.graph.schema import SCHEMA_VERSION


def test_graph_cache_of_an_older_schema_is_rebuilt(tiny_zoo):
    data = GraphCollection(tiny_zoo)
    arch = data.archs[0]
    before = data.graphs(arch)
    path = tiny_zoo / "cache" / f"graphs_{arch}.pt"
    packed = torch.load(path, weights_only=True)
    assert packed["version"] == SCHEMA_VERSION
    packed["version"] = SCHEMA_VERSION - 1
    template = packed["templates"][0]
    template["x"] = torch.zeros_like(template["x"])  # what an older schema would have cached differently
    torch.save(packed, path)

    again = GraphCollection(tiny_zoo)
    for first, second in zip(before, again.graphs(arch), strict=True):
        assert torch.equal(first.x, second.x) and torch.equal(first.edge_attr, second.edge_attr)
    assert torch.load(path, weights_only=True)["version"] == SCHEMA_VERSION


def test_a_zoo_and_its_conversion_read_alike(tiny_zoo, tmp_path):
    """The same NeRFs through both sources: same ids, labels, splits and graphs, architecture by architecture."""
    zoo = GraphCollection(tiny_zoo)
    sources = [e.source for e in zoo.entries]
    report = convert(sources, tmp_path / "conv", progress=False)
    assert report.converted == len(sources) and not report.failures
    converted = GraphCollection(tmp_path / "conv")
    assert converted.kind == "converted" and converted.archs == zoo.archs
    assert [(e.id, e.arch, e.label, e.split) for e in converted.entries] == [
        (e.id, e.arch, e.label, e.split) for e in zoo.entries
    ]
    assert converted.ids("train", zoo.archs) == zoo.ids("train", zoo.archs)
    arch, object_id = zoo.archs[1], zoo.entries[5].id
    assert torch.equal(converted.graph(arch, object_id).edge_attr, zoo.graph(arch, object_id).edge_attr)
    assert torch.equal(converted.nerf(arch, object_id).tensors["mlp.0"], zoo.nerf(arch, object_id).tensors["mlp.0"])


def test_a_collection_without_labels_or_splits_says_what_is_missing(tiny_zoo, tmp_path):
    conv = tmp_path / "conv"
    convert([e.source for e in GraphCollection(tiny_zoo).select("mlp")][:4], conv, progress=False)
    rows = json.loads((conv / "index.json").read_text())
    for row in rows:
        row.update(class_label=-1, split="")
    (conv / "index.json").write_text(json.dumps(rows))
    data = GraphCollection(conv)
    assert not data.has_labels and not data.has_splits
    with pytest.raises(WsrlError, match="training needs train/val/test splits"):
        data.require(splits=True, what="training")
    with pytest.raises(WsrlError, match="bench all needs class labels and train/val/test splits"):
        data.require(labels=True, splits=True, what="bench all")
    with pytest.raises(WsrlError, match="not a graph collection"):
        GraphCollection(tmp_path)
    (conv / "index.json").write_text("[{]")
    with pytest.raises(WsrlError, match=r"index\.json: not readable"):
        GraphCollection(conv)
