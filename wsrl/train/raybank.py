"""Ray banks for the rendering loss: what each NeRF of a collection renders along fixed rays.

For every architecture, a bank holds ``RAY_VIEWS`` fixed cameras' rays (shared by all NeRFs) and the RGB
and opacity each NeRF renders along them, cached in ``<collection>/cache/rays_<arch>.pt`` (weights-only).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm.auto import tqdm

from wsrl.files import envelope, has_envelope, save_torch
from wsrl.graph.collection import GraphCollection
from wsrl.nerf.archs import SCENE_AABB
from wsrl.nerf.checkpoint import stack_fields
from wsrl.nerf.render import RenderConfig, camera_rays, render_rays
from wsrl.nerf.views import focal_length, sphere_poses

RAY_VIEWS, RAY_RES, RAY_SAMPLES = 4, 24, 64  # ray bank: 4 cameras x 24^2 pixels, 64 samples per ray
RAY_OFFSET = 0.21  # camera spiral offset of the ray bank (neither the zoo's training nor held-out views)
RAY_CHUNK = 16  # NeRFs rendered together while building a bank
RAYS_FORMAT, RAYS_VERSION = "wsrl.raybank", 1


@dataclass
class RayBank:
    """Rays shared by all NeRFs of an architecture and what each NeRF renders along them."""

    origins: Tensor  # [R, 3]
    dirs: Tensor  # [R, 3]
    rgb: Tensor  # [n, R, 3]
    opacity: Tensor  # [n, R]


def ray_bank_rays() -> tuple[Tensor, Tensor]:
    """Origins and directions ``[R, 3]`` of the ray bank's cameras."""
    res = RAY_RES
    o, d = camera_rays(sphere_poses(RAY_VIEWS, offset=RAY_OFFSET), res, res, focal_length(res))
    return o.reshape(-1, 3), d.reshape(-1, 3)


@torch.no_grad()
def ray_bank(data: GraphCollection, arch: str) -> RayBank:
    """The (cached) ray bank of ``arch``: one row per NeRF of ``data.select(arch)``."""
    path = data.cache_dir / f"rays_{arch}.pt"
    payload = torch.load(path, map_location="cpu", weights_only=True) if path.exists() else None
    if not has_envelope(payload, RAYS_FORMAT, RAYS_VERSION):
        origins, dirs = ray_bank_rays()
        ids = [e.id for e in data.select(arch)]
        rgb, opacity = [], []
        for start in tqdm(range(0, len(ids), RAY_CHUNK), desc=f"ray bank {arch}", leave=False):
            nerfs = [data.nerf(arch, i) for i in ids[start : start + RAY_CHUNK]]
            b = len(nerfs)
            out = render_rays(
                stack_fields(nerfs), origins.expand(b, -1, -1), dirs.expand(b, -1, -1), SCENE_AABB,
                RenderConfig(RAY_SAMPLES),
            )  # fmt: skip
            rgb.append(out["rgb"])
            opacity.append(out["opacity"])
        body = {"origins": origins, "dirs": dirs, "rgb": torch.cat(rgb), "opacity": torch.cat(opacity)}
        payload = envelope(RAYS_FORMAT, RAYS_VERSION, body)
        save_torch(path, payload)
    return RayBank(**{k: payload[k] for k in ("origins", "dirs", "rgb", "opacity")})


class RayBanks:
    """The ray banks of several architectures of a collection, and random ray batches from them."""

    def __init__(self, data: GraphCollection, archs: list[str]) -> None:
        self.data = data
        self.banks = {arch: ray_bank(data, arch) for arch in archs}
        self.row = {arch: {e.id: i for i, e in enumerate(data.select(arch))} for arch in archs}

    def __getitem__(self, arch: str) -> RayBank:
        return self.banks[arch]

    def batch(self, arch_ids: list[tuple[str, str]], n_rays: int, gen: torch.Generator) -> dict[str, Tensor]:
        """``n_rays`` random bank rays per (arch, object id): origins, dirs ``[B, n, 3]``, rgb, foreground."""
        out: dict[str, list[Tensor]] = {"origins": [], "dirs": [], "rgb": [], "foreground": []}
        for arch, object_id in arch_ids:
            bank, i = self.banks[arch], self.row[arch][object_id]
            pick = torch.randint(bank.origins.shape[0], (n_rays,), generator=gen)
            out["origins"].append(bank.origins[pick])
            out["dirs"].append(bank.dirs[pick])
            out["rgb"].append(bank.rgb[i, pick])
            out["foreground"].append(bank.opacity[i, pick] > 0.5)
        return {k: torch.stack(v) for k, v in out.items()}
