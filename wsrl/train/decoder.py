"""The implicit decoder of the rendering loss: embedding + frequency-encoded position -> density, colour.

nf2vec-style: the embedding conditions an MLP field over the scene box, which
:func:`wsrl.nerf.render.render_rays` volume-renders like any NeRF (:meth:`ImplicitDecoder.field`).
The embedding enters the first layer as a per-NeRF bias (computed once per NeRF, not per point).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from wsrl.nerf.archs import SCENE_AABB
from wsrl.nerf.fields.encodings import frequency_encode
from wsrl.nerf.fields.field import trunc_exp


@dataclass(frozen=True, kw_only=True)
class DecoderConfig:
    """Size of the implicit decoder of the rendering loss."""

    width: int = 128
    depth: int = 4
    n_frequencies: int = 6

    def to_dict(self) -> dict:
        return asdict(self)


DECODER_PRESETS = {
    "mini": DecoderConfig(width=64, depth=3, n_frequencies=6),
    "paper": DecoderConfig(width=256, depth=4, n_frequencies=8),
}


class ImplicitDecoder(nn.Module):
    """``(z [B, D], xyz [B, N, 3]) -> (density [B, N], rgb [B, N, 3])``."""

    def __init__(self, embedding: int, config: DecoderConfig = DECODER_PRESETS["mini"]) -> None:
        super().__init__()
        self.config = config
        self.condition = nn.Linear(embedding, config.width)
        self.position = nn.Linear(6 * config.n_frequencies, config.width, bias=False)
        self.hidden = nn.ModuleList(nn.Linear(config.width, config.width) for _ in range(config.depth - 1))
        self.out = nn.Linear(config.width, 4)
        lo, hi = torch.tensor(SCENE_AABB[:3]), torch.tensor(SCENE_AABB[3:])
        self.register_buffer("lo", lo, persistent=False)
        self.register_buffer("size", hi - lo, persistent=False)

    def forward(self, z: Tensor, xyz: Tensor) -> tuple[Tensor, Tensor]:
        enc = frequency_encode((xyz - self.lo) / self.size, self.config.n_frequencies)
        h = torch.relu(self.position(enc) + self.condition(z)[:, None])
        for layer in self.hidden:
            h = torch.relu(layer(h))
        out = self.out(h)
        return trunc_exp(out[..., 3] - 1.0), torch.sigmoid(out[..., :3])

    def field(self, z: Tensor) -> Callable[[Tensor], tuple[Tensor, Tensor]]:
        """The batched radiance field of embeddings ``z`` (for the renderer)."""
        return lambda xyz: self(z, xyz)
