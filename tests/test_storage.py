"""Values-only graph files: templates stored once and shared when loaded, values as float32 or float16."""

from __future__ import annotations

import json
import os

import pytest
import torch
from torch import nn
from wsrl.converters import read_checkpoint

from wsrl.errors import WsrlError
from wsrl.graph.build import nerf_to_graph
from wsrl.graph.collection import GraphCollection
from wsrl.graph.convert import convert
from wsrl.graph.files import load_shard, pack_graphs, unpack_graphs
from wsrl.graph.param_graph import param_graph, sibling
from wsrl.graph.values import ConvertOptions


def _zoo_sources(tiny_zoo) -> list[str]:
    return [e.source for e in GraphCollection(tiny_zoo).entries]


def test_shards_store_each_template_once_and_loaded_graphs_share_it(tiny_zoo, tmp_path):
    sources = _zoo_sources(tiny_zoo)
    convert(sources, tmp_path / "conv", shard_size=len(sources), progress=False)
    (shard,) = tmp_path.joinpath("conv").glob("shard_*.pt")
    packed = torch.load(shard, weights_only=True)
    archs = {read_checkpoint(s).spec.name for s in sources}
    assert len(packed["templates"]) == len(archs) < len(sources)
    assert json.loads(packed["source"]) == sources  # string columns: one JSON text each
    graphs = load_shard(shard)
    by_arch: dict[str, list] = {}
    for g in graphs:
        by_arch.setdefault(g.arch, []).append(g)
    for same in by_arch.values():
        first, second = same[:2]
        assert first.edge_index.data_ptr() == second.edge_index.data_ptr()  # shared, not copied
        assert not torch.equal(first.value, second.value)
        built = nerf_to_graph(read_checkpoint(first.source))
        assert torch.equal(first.edge_attr, built.edge_attr) and torch.equal(first.x, built.x)
    # the stored bytes are about the checkpoints' own (each template once, 4 bytes per parameter)
    checkpoint_bytes = sum(os.path.getsize(s) for s in sources)
    assert shard.stat().st_size < 1.5 * checkpoint_bytes


def test_unregistered_structures_take_their_template_from_their_first_graph(tmp_path):
    torch.manual_seed(0)
    sources = []
    for i in range(3):
        path = tmp_path / "src" / f"seq{i}.pt"
        path.parent.mkdir(exist_ok=True)
        torch.save(nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 4)).state_dict(), path)
        sources.append(path)
    convert(sources, tmp_path / "conv", progress=False)
    (shard,) = tmp_path.joinpath("conv").glob("shard_*.pt")
    assert len(torch.load(shard, weights_only=True)["templates"]) == 1
    graphs = load_shard(shard)
    assert len({g.edge_meta.data_ptr() for g in graphs}) == 1
    for g, source in zip(graphs, sources, strict=True):
        assert torch.equal(g.edge_attr, nerf_to_graph(read_checkpoint(source)).edge_attr)


def test_float16_values_halve_the_bytes_and_keep_the_graph(tiny_zoo, tmp_path):
    sources = _zoo_sources(tiny_zoo)
    sizes = {}
    for values in ("float32", "float16"):
        convert(sources, tmp_path / values, ConvertOptions(values=values), shard_size=len(sources), progress=False)
        (shard,) = tmp_path.joinpath(values).glob("shard_*.pt")
        sizes[values] = shard.stat().st_size
    n_values = torch.load(shard, weights_only=True)["values"].numel()
    assert sizes["float32"] - sizes["float16"] > 0.99 * 2 * n_values  # 2 bytes saved per value, templates as they were
    for full, half in zip(load_shard(next((tmp_path / "float32").glob("shard_*.pt"))),
                          load_shard(next((tmp_path / "float16").glob("shard_*.pt"))), strict=True):  # fmt: skip
        assert half.value.dtype == torch.float32  # read back as float32 for the encoder
        torch.testing.assert_close(half.value, full.value, rtol=1e-3, atol=1e-4)
        assert torch.equal(half.edge_meta, full.edge_meta)
    # another value precision is another conversion: the second run reconverts, it does not skip
    report = convert(sources, tmp_path / "float32", ConvertOptions(values="float16"), progress=False)
    assert report.converted == len(sources) and report.skipped == 0


def test_sibling_graphs_equal_graphs_built_attribute_by_attribute():
    template = {"x": torch.rand(5, 3), "edge_index": torch.tensor([[0, 1], [2, 3]]), "edge_meta": torch.rand(2, 5)}
    prototype = param_graph(template, torch.zeros(0))
    made = sibling(prototype, value=torch.tensor([1.0, 2.0]), arch="a", class_label=3)
    slow = param_graph(template, torch.tensor([1.0, 2.0]), arch="a", class_label=3)
    assert sorted(made.keys()) == sorted(slow.keys()) and made.num_nodes == slow.num_nodes == 5
    assert torch.equal(made.edge_attr, slow.edge_attr) and made.arch == "a" and made.class_label == 3
    assert prototype.value.numel() == 0 and "arch" not in prototype  # the prototype is left as it was


@pytest.mark.parametrize(
    "column, text, says",
    [("source", "not json", "JSONDecodeError"), ("arch", "[1, 2]", "graphs disagree")],
)
def test_a_malformed_string_column_is_one_line_naming_the_file(tiny_zoo, column, text, says):
    packed = pack_graphs([nerf_to_graph(read_checkpoint(s)) for s in _zoo_sources(tiny_zoo)[:2]])
    packed[column] = text
    with pytest.raises(WsrlError, match=f"shard_x.pt: malformed wsrl graph file.*{says}"):
        unpack_graphs(packed, "shard_x.pt")
