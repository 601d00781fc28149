"""The training losses: SigLIP between architectures (``con``) and the rendering loss (``rec``)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wsrl.nerf.archs import SCENE_AABB
from wsrl.nerf.render import RenderConfig, render_rays
from wsrl.train.decoder import ImplicitDecoder

FOREGROUND_WEIGHT = 0.8  # nf2vec: foreground and background pixels weighted 0.8 / 0.2


class SigLIPLoss(nn.Module):
    """Sigmoid contrastive loss (Zhai et al. 2023) with learned temperature and bias.

    ``za[i]`` and ``zb[i]`` are the same object in two architectures (positives); every
    other pair is a negative. Loss = ``-1/P sum_ij log sigmoid(y_ij (t <za_i, zb_j> + b))``.
    """

    def __init__(self, log_temperature: float = math.log(10.0), bias: float = -10.0) -> None:
        super().__init__()
        self.log_temperature = nn.Parameter(torch.tensor(log_temperature))
        self.bias = nn.Parameter(torch.tensor(bias))

    def forward(self, za: Tensor, zb: Tensor) -> Tensor:
        za, zb = F.normalize(za, dim=-1), F.normalize(zb, dim=-1)
        logits = za @ zb.T * self.log_temperature.exp() + self.bias
        labels = 2.0 * torch.eye(za.shape[0], dtype=logits.dtype) - 1.0
        return -F.logsigmoid(labels * logits).sum() / za.shape[0]


def rendering_loss(
    decoder: ImplicitDecoder, z: Tensor, rays: dict[str, Tensor], n_samples: int, gen: torch.Generator
) -> Tensor:
    """Smooth-L1 between the decoder's renders and the input NeRFs' renders on the same rays,
    foreground (input opacity > 0.5) and background pixels weighted 0.8 / 0.2."""
    pred = render_rays(decoder.field(z), rays["origins"], rays["dirs"], SCENE_AABB, RenderConfig(n_samples), gen)
    err = F.smooth_l1_loss(pred["rgb"], rays["rgb"], reduction="none").mean(-1)  # [B, R]
    fg = rays["foreground"].to(err.dtype)
    fg_loss = (err * fg).sum() / fg.sum().clamp(min=1.0)
    bg_loss = (err * (1 - fg)).sum() / (1 - fg).sum().clamp(min=1.0)
    return FOREGROUND_WEIGHT * fg_loss + (1 - FOREGROUND_WEIGHT) * bg_loss
