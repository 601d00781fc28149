"""The probe baseline: what a NeRF computes at a fixed grid of world points, read from its parameter graph.

A function-space description needs no learning and is blind to how the weights are arranged: any
architecture, any initialisation, any reparametrisation that keeps the function gives the same features.
It is therefore the strongest simple baseline a weight-space encoder has to beat. The field is evaluated with
:func:`~wsrl.graph.forward.graph_forward`, so the probe works for every format wsrl converts.

Features of one NeRF, at the centres of a ``res``³ grid of cells in its scene box:
``log(1 + density)`` per point, then RGB per point weighted by the cell's opacity ``1 - exp(-density · cell)``
(colour in empty space means nothing), ``4 · res³`` numbers in all.

The same points give the encoder's *node* probe features (Kofinas et al., ICLR 2024): what every neuron, input
and output emits there (:func:`node_probe_features`), so that nodes of any architecture and initialisation
carry a meaning in world space.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Data

from wsrl.graph.forward import graph_forward, node_signals
from wsrl.nerf.archs import ArchSpec
from wsrl.nerf.fields.field import raw_to_density_color

PROBE_RESOLUTION = 12  # points per axis


def probe_points(aabb: tuple[float, ...], res: int = PROBE_RESOLUTION) -> Tensor:
    """Cell centres ``[res³, 3]`` of a ``res``³ grid over the box ``(x0, y0, z0, x1, y1, z1)``, x fastest."""
    lo, hi = torch.tensor(aabb[:3]), torch.tensor(aabb[3:])
    t = (torch.arange(res, dtype=torch.float32) + 0.5) / res
    z, y, x = torch.meshgrid(t, t, t, indexing="ij")
    return lo + torch.stack([x, y, z], -1).reshape(-1, 3) * (hi - lo)


@torch.no_grad()
def probe_features(graph: Data, res: int = PROBE_RESOLUTION) -> Tensor:
    """The probe vector ``[4 · res³]`` of the NeRF that ``graph`` encodes (see the module docstring)."""
    spec = ArchSpec.from_dict(graph.spec)
    density, rgb = raw_to_density_color(spec, graph_forward(graph, probe_points(spec.aabb, res)))
    cell = (torch.tensor(spec.aabb[3:]) - torch.tensor(spec.aabb[:3])).mean() / res
    opacity = 1.0 - torch.exp(-density * cell)
    return torch.cat([torch.log1p(density), (rgb * opacity[:, None]).T.reshape(-1)])


@torch.no_grad()
def node_probe_features(graph: Data, res: int) -> Tensor:
    """``[num_nodes, res³ + 1]``: each network node's signal at the ``res``³ probe points divided by its RMS over
    them, then the log of that RMS; zeros for grid cells, table entries and silent nodes. Dividing by the RMS
    makes a ReLU neuron's pattern blind to the rescalings that keep the function."""
    spec = ArchSpec.from_dict(graph.spec)
    signals, net = node_signals(graph, probe_points(spec.aabb, res))
    rms = signals.pow(2).mean(0).sqrt()
    live = rms > 1e-8
    rms = rms.clamp(min=1e-8)
    pattern = torch.where(live[:, None], (signals / rms).T, 0.0)
    out = torch.zeros(graph.num_nodes, res**3 + 1)
    out[net] = torch.cat([pattern, torch.where(live, rms.log(), 0.0)[:, None]], 1)
    return out
