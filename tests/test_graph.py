"""Parameter graphs: schema, padding removal, bounded grids, and the graph forward."""

import pytest
import torch

from wsrl.graph.build import nerf_to_graph
from wsrl.graph.forward import graph_forward
from wsrl.graph.schema import EDGE_TYPES, NODE_TYPES
from wsrl.nerf.archs import SCALES, get_arch, list_archs
from wsrl.nerf.checkpoint import unstack_field
from wsrl.nerf.fields.field import RadianceField


def _nerf(name, scale="mini", seed=1):
    return unstack_field(RadianceField.create(get_arch(name, scale), 1, seed=seed))[0]


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("name", list_archs("mini"))
def test_graph_forward_reproduces_the_field(name, scale):
    nerf = _nerf(name, scale)
    xyz = torch.rand(128, 3, generator=torch.Generator().manual_seed(0)) * 1.4 - 0.7
    ref = nerf.field().raw(xyz[None])[0]
    torch.testing.assert_close(graph_forward(nerf_to_graph(nerf), xyz), ref, atol=1e-5, rtol=0)


def test_paper_mlp_graph_drops_padding():
    g = nerf_to_graph(_nerf("mlp", "paper"))
    # 144 inputs + 3x64 hidden + 4 outputs (12 padded outputs removed); no pad columns at 144
    assert g.num_nodes == 144 + 192 + 4
    assert g.num_edges == 64 * 144 + 2 * 64 * 64 + 4 * 64
    assert (g.x[:, 2] == NODE_TYPES["output"]).sum() == 4


def test_hash_pad_columns_become_one_bias_per_neuron():
    nerf = _nerf("hash", "paper")  # 8 grid features padded to 16 with 1.0
    g = nerf_to_graph(nerf)
    bias = g.edge_attr[:, 2] == EDGE_TYPES["bias"]
    assert bias.sum() == 64
    torch.testing.assert_close(g.edge_attr[bias, 0], nerf.tensors["mlp.0"][:, 8:].sum(1))
    assert (g.x[:, 2] == NODE_TYPES["hash_entry"]).sum() == 4 * 4096
    assert (g.edge_attr[:, 2] == EDGE_TYPES["hash"]).sum() == 32_768  # one edge per grid parameter


def test_bounded_hash_graph_keeps_largest_entries():
    nerf = _nerf("hash", "paper")
    grid = nerf.tensors["grid"]
    grid[100] = 5.0  # a "trained" entry among U(1e-4) initial ones
    g = nerf_to_graph(nerf, max_edges=14_000)  # the MLPs take 9,024 edges, the grid gets the rest
    assert g.num_edges <= 14_000
    assert (g.edge_attr[:, 2] == EDGE_TYPES["hash"]).sum() == 14_000 - 9_024
    assert 100 in g.grid_rows.tolist()
    with pytest.raises(ValueError, match="max_edges=9000 leaves no room for the hash grid"):
        nerf_to_graph(nerf, max_edges=9_000)
    assert g.grid_kept < 0.2
    # dropped entries read as zero: the graph forward equals the field with those rows zeroed
    kept = torch.zeros(grid.shape[0], dtype=torch.bool)
    kept[g.grid_rows] = True
    nerf.tensors["grid"] = torch.where(kept[:, None], grid, torch.zeros_like(grid))
    xyz = torch.rand(64, 3) * 1.4 - 0.7
    torch.testing.assert_close(graph_forward(g, xyz), nerf.field().raw(xyz[None])[0], atol=1e-5, rtol=0)


def test_triplane_edges_carry_plane_coordinates():
    g = nerf_to_graph(_nerf("triplane"))
    tri = g.edge_attr[g.edge_attr[:, 2] == EDGE_TYPES["triplane"]]
    assert tri.shape[0] == 3 * 16 * 16 * 8
    assert set(tri[:, 3].unique().tolist()) == {0.0, 1.0, 2.0}
    assert tri[:, 4:].min() == -1.0 and tri[:, 4:].max() == 1.0
