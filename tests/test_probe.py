"""The probe baseline: the field itself at a fixed grid of points, read from the parameter graph."""

import pytest
import torch

from wsrl.graph.build import nerf_to_graph
from wsrl.graph.forward import graph_forward
from wsrl.graph.probe import PROBE_RESOLUTION, probe_features, probe_points
from wsrl.nerf.archs import get_arch, list_archs
from wsrl.nerf.checkpoint import NeRF, unstack_field
from wsrl.nerf.fields.field import RadianceField

N_POINTS = PROBE_RESOLUTION**3


def _nerf(name: str, seed: int = 1) -> NeRF:
    return unstack_field(RadianceField.create(get_arch(name), 1, seed=seed))[0]


def test_probe_points_are_cell_centres_of_the_box():
    pts = probe_points((-1.0, -1.0, -1.0, 1.0, 3.0, 1.0), res=4)
    assert pts.shape == (64, 3)
    assert torch.allclose(pts[0], torch.tensor([-0.75, -0.5, -0.75]))
    assert torch.allclose(pts[-1], torch.tensor([0.75, 2.5, 0.75]))
    assert torch.allclose(pts[1] - pts[0], torch.tensor([0.5, 0.0, 0.0]))  # x fastest


@pytest.mark.parametrize("name", list_archs("mini"))
def test_probe_is_the_field_at_the_grid(name):
    nerf = _nerf(name)
    with torch.no_grad():
        density, rgb = nerf.field().density_and_color(probe_points(nerf.spec.aabb)[None])
    feats = probe_features(nerf_to_graph(nerf))
    assert feats.shape == (4 * N_POINTS,)
    torch.testing.assert_close(feats[:N_POINTS], torch.log1p(density[0]), atol=1e-5, rtol=1e-5)
    cell = (torch.tensor(nerf.spec.aabb[3:]) - torch.tensor(nerf.spec.aabb[:3])).mean() / PROBE_RESOLUTION
    weighted = rgb[0] * (1 - torch.exp(-density[0] * cell))[:, None]
    torch.testing.assert_close(feats[N_POINTS:], weighted.T.reshape(-1), atol=1e-5, rtol=1e-5)


def test_probe_ignores_function_preserving_rescales():
    """Scaling a ReLU neuron's incoming row by c > 0 and its outgoing column by 1/c keeps the function: the
    probe is unchanged, while the weights (what a weight-space encoder reads) are not."""
    nerf = _nerf("mlp")
    scale = torch.empty(nerf.spec.hidden_width).uniform_(0.5, 2.0, generator=torch.Generator().manual_seed(0))
    tensors = dict(nerf.tensors)
    tensors["mlp.0"] = tensors["mlp.0"] * scale[:, None]
    tensors["mlp.1"] = tensors["mlp.1"] / scale[None, :]
    rescaled = NeRF(nerf.spec, tensors, dict(nerf.meta))
    assert not torch.allclose(rescaled.tensors["mlp.0"], nerf.tensors["mlp.0"])
    a, b = probe_features(nerf_to_graph(nerf)), probe_features(nerf_to_graph(rescaled))
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(a, probe_features(nerf_to_graph(_nerf("mlp", seed=2))), atol=1e-3)


def _rescale_hidden(nerf, layer: int, scale: torch.Tensor):
    """Multiply hidden layer ``layer``'s incoming rows by ``scale > 0`` and its outgoing columns by 1/scale."""
    t = dict(nerf.tensors)
    t[f"mlp.{layer}"] = t[f"mlp.{layer}"] * scale[:, None]
    t[f"mlp.{layer + 1}"] = t[f"mlp.{layer + 1}"] / scale[None, :]
    return NeRF(nerf.spec, t, nerf.meta)


def test_node_probe_features_are_the_field_and_blind_to_relu_rescaling():
    from wsrl.graph.probe import node_probe_features
    from wsrl.graph.schema import NODE_TYPES, NodeColumn

    nerf = unstack_field(RadianceField.create(get_arch("triplane_relu"), 1, seed=0))[0]
    graph = nerf_to_graph(nerf)
    feats = node_probe_features(graph, 3)
    kind = graph.x[:, NodeColumn.TYPE]
    assert feats.shape == (graph.num_nodes, 28) and torch.all(feats[kind == NODE_TYPES["plane_cell"]] == 0)
    # the output nodes' patterns are the field's raw outputs at the probe points, up to their RMS
    raw = graph_forward(graph, probe_points(nerf.spec.aabb, 3))
    out = feats[kind == NODE_TYPES["output"]]
    order = graph.x[kind == NODE_TYPES["output"], NodeColumn.POSITION].argsort()
    rms = raw.pow(2).mean(0).sqrt()
    torch.testing.assert_close(out[order, :27], (raw / rms).T, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(out[order, 27], rms.log(), atol=1e-5, rtol=1e-4)
    # rescaling ReLU neurons keeps the function, so every pattern; only the rescaled neurons' log-RMS moves
    scale = torch.rand(nerf.spec.hidden_width, generator=torch.Generator().manual_seed(0)) * 1.5 + 0.5
    again = node_probe_features(nerf_to_graph(_rescale_hidden(nerf, 0, scale)), 3)
    torch.testing.assert_close(again[:, :27], feats[:, :27], atol=1e-4, rtol=1e-4)
    moved = (again[:, 27] - feats[:, 27]).abs() > 1e-3
    hidden_first = (kind == NODE_TYPES["hidden"]) & (graph.x[:, NodeColumn.LAYER] == graph.x[:, NodeColumn.LAYER][
        kind == NODE_TYPES["hidden"]].min())  # fmt: skip
    assert moved.sum() > 0 and torch.all(hidden_first[moved])
