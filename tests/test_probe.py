"""The probe baseline: the field itself at a fixed grid of points, read from the parameter graph."""

import pytest
import torch

from wsrl.graph.build import nerf_to_graph
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
