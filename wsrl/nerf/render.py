"""Volume rendering in pure PyTorch: rays, samples inside the scene box, alpha compositing.

Every function is batched over ``B`` radiance fields: a field is any callable
``xyz [B, N, 3] -> (density [B, N], rgb [B, N, 3])`` (a :class:`RadianceField`,
a :class:`~wsrl.zoo.sdf.SceneBatch`, the decoder...). Samples are placed only where a
ray crosses the scene box, so no occupancy structure is needed at these sizes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from wsrl.nerf.checkpoint import NeRF, stack_fields
from wsrl.nerf.views import focal_length, look_at

FieldFn = Callable[[Tensor], tuple[Tensor, Tensor]]
WHITE = (1.0, 1.0, 1.0)


@dataclass(frozen=True)
class RenderConfig:
    """How to sample and composite: samples per ray, background colour, ray chunk size."""

    n_samples: int = 96
    background: tuple[float, float, float] = WHITE
    chunk: int = 512  # rays per field call (all fields together) when rendering whole images; small
    # chunks keep activations in cache


def camera_rays(poses: Tensor, width: int, height: int, focal: float) -> tuple[Tensor, Tensor]:
    """Rays through pixel centres of OpenGL cameras: origins and unit directions ``[V, H*W, 3]``."""
    j, i = torch.meshgrid(
        torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij"
    )
    dirs_cam = torch.stack(
        [(i + 0.5 - 0.5 * width) / focal, -(j + 0.5 - 0.5 * height) / focal, -torch.ones_like(i)], dim=-1
    ).reshape(-1, 3)
    dirs = dirs_cam @ poses[:, :3, :3].transpose(1, 2)  # [V, HW, 3]
    dirs = dirs / dirs.norm(dim=-1, keepdim=True)
    origins = poses[:, None, :3, 3].expand_as(dirs)
    return origins, dirs


def intersect_aabb(origins: Tensor, dirs: Tensor, aabb: Sequence[float]) -> tuple[Tensor, Tensor]:
    """Entry and exit distances of rays through the box (``near >= far`` where a ray misses)."""
    lo = torch.tensor(aabb[:3], dtype=origins.dtype)
    hi = torch.tensor(aabb[3:], dtype=origins.dtype)
    inv = 1.0 / torch.where(dirs.abs() < 1e-9, torch.full_like(dirs, 1e-9), dirs)
    t0, t1 = (lo - origins) * inv, (hi - origins) * inv
    near = torch.minimum(t0, t1).max(-1).values.clamp(min=0.0)
    far = torch.maximum(t0, t1).min(-1).values
    return near, far


def render_rays(
    field: FieldFn,
    origins: Tensor,
    dirs: Tensor,
    aabb: Sequence[float],
    config: RenderConfig = RenderConfig(),
    generator: torch.Generator | None = None,
) -> dict[str, Tensor]:
    """Composite ``config.n_samples`` samples per ray ``[B, R, 3]``.

    With a ``generator`` the samples are stratified (jittered within each bin, for
    training); without, they sit at bin centres (deterministic renders).
    Returns ``rgb [B, R, 3]``, ``opacity [B, R]`` and ``depth [B, R]``.
    """
    near, far = intersect_aabb(origins, dirs, aabb)
    hit = far > near
    span = torch.where(hit, far - near, torch.zeros_like(far))
    s = config.n_samples
    if generator is None:
        u = torch.full((*near.shape, s), 0.5)
    else:
        u = torch.rand((*near.shape, s), generator=generator)
    t = near[..., None] + span[..., None] * (torch.arange(s, dtype=near.dtype) + u) / s  # [B, R, S]
    xyz = origins[..., None, :] + dirs[..., None, :] * t[..., None]
    b, r = near.shape
    density, rgb = field(xyz.reshape(b, r * s, 3))
    density = density.reshape(b, r, s)
    rgb = rgb.reshape(b, r, s, 3)
    delta = (span / s)[..., None]
    alpha = 1.0 - torch.exp(-density * delta)
    transmittance = torch.cumprod(torch.cat([torch.ones_like(alpha[..., :1]), 1.0 - alpha + 1e-10], -1), -1)[..., :-1]
    weights = alpha * transmittance
    opacity = weights.sum(-1)
    background = torch.tensor(config.background, dtype=rgb.dtype)
    color = (weights[..., None] * rgb).sum(-2) + (1.0 - opacity[..., None]) * background
    depth = (weights * t).sum(-1)
    return {"rgb": color, "opacity": opacity, "depth": depth}


@torch.no_grad()
def render_images(
    field: FieldFn,
    batch_size: int,
    poses: Tensor,
    width: int,
    height: int,
    focal: float,
    aabb: Sequence[float],
    config: RenderConfig = RenderConfig(),
) -> Tensor:
    """Deterministic renders ``[B, V, H, W, 3]`` of ``B`` fields from the same ``V`` cameras."""
    origins, dirs = camera_rays(poses, width, height, focal)
    origins, dirs = origins.reshape(-1, 3), dirs.reshape(-1, 3)
    chunk = max(1, config.chunk // max(batch_size, 1))
    out = []
    for start in range(0, origins.shape[0], chunk):
        o = origins[start : start + chunk].expand(batch_size, -1, -1)
        d = dirs[start : start + chunk].expand(batch_size, -1, -1)
        out.append(render_rays(field, o, d, aabb, config)["rgb"])
    return torch.cat(out, dim=1).reshape(batch_size, poses.shape[0], height, width, 3)


def psnr(a: Tensor, b: Tensor) -> Tensor:
    """Peak signal-to-noise ratio (dB) over the last three dims, images in [0, 1]."""
    mse = ((a - b) ** 2).flatten(-3).mean(-1)
    return -10.0 * torch.log10(mse.clamp(min=1e-12))


def image_grid(images: Tensor, cols: int) -> Tensor:
    """Tile ``[N, H, W, 3]`` images into one ``[rows*H, cols*W, 3]`` picture (white filler)."""
    n, h, w, c = images.shape
    rows = -(-n // cols)
    canvas = torch.ones(rows * h, cols * w, c)
    for k in range(n):
        r, q = divmod(k, cols)
        canvas[r * h : (r + 1) * h, q * w : (q + 1) * w] = images[k]
    return canvas


PORTRAIT = (0.70, -0.52, 0.48)  # direction of the contact-sheet camera (front-left, above)


def portrait_pose() -> Tensor:
    eye = torch.tensor(PORTRAIT)
    return look_at(eye / eye.norm() * 2.7)[None]


def render_portrait(nerf: NeRF, res: int) -> Tensor:
    """One NeRF seen from the portrait camera, ``[res, res, 3]`` in [0, 1]."""
    img = render_images(stack_fields([nerf]), 1, portrait_pose(), res, res, focal_length(res), nerf.spec.aabb)
    return img[0, 0].clamp(0, 1)
