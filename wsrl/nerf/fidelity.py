"""How faithfully fitted NeRFs reproduce their ground truth: held-out renders and PSNR."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import Tensor

from wsrl.nerf.archs import SCENE_AABB
from wsrl.nerf.checkpoint import NeRF, stack_fields
from wsrl.nerf.render import FieldFn, RenderConfig, psnr, render_images
from wsrl.nerf.views import DEFAULT_FOV, PosedViews, focal_length, sphere_poses

HELD_OUT_OFFSET = 0.37  # spiral offset of held-out cameras; training views use offset 0
TRUTH_CHUNK = 1 << 14  # rays per call for ground-truth scenes: evaluated scene by scene, they need big calls


@dataclass
class Fidelity:
    """PSNR ``[B]`` (mean over views) and the renders ``[B, V, H, W, 3]`` behind it."""

    psnr: Tensor
    truth: Tensor
    fitted: Tensor


def held_out_poses(n_views: int = 6) -> Tensor:
    """Cameras that no fit in wsrl trains on (a shifted Fibonacci spiral)."""
    return sphere_poses(n_views, offset=HELD_OUT_OFFSET)


def ground_truth_views(
    truth: FieldFn, n_views: int = 36, res: int = 64, offset: float = 0.0, aabb: Sequence[float] = SCENE_AABB
) -> PosedViews:
    """Renders of one ground-truth field from ``n_views`` cameras on a sphere (``offset`` as
    :func:`~wsrl.nerf.views.sphere_poses`; :data:`HELD_OUT_OFFSET` gives the held-out set)."""
    poses = sphere_poses(n_views, offset=offset)
    focal = focal_length(res)
    cfg = RenderConfig(chunk=TRUTH_CHUNK)
    return PosedViews(render_images(truth, 1, poses, res, res, focal, aabb, cfg)[0], poses, DEFAULT_FOV)


def render_held_out(
    field: FieldFn, batch_size: int, n_views: int = 6, res: int = 64, config: RenderConfig = RenderConfig()
) -> Tensor:
    """Renders ``[B, V, H, W, 3]`` of a batched field from the held-out cameras."""
    focal = focal_length(res)
    return render_images(field, batch_size, held_out_poses(n_views), res, res, focal, SCENE_AABB, config)


def render_fidelity(
    nerfs: Sequence[NeRF], truth: FieldFn | Tensor, n_views: int = 6, res: int = 64, n_samples: int = 96
) -> Fidelity:
    """Render ``nerfs`` (one architecture) from held-out cameras and compare with the batched ground
    truth (a field, or its :func:`render_held_out` images when several architectures share them)."""
    b, cfg = len(nerfs), RenderConfig(n_samples)
    if isinstance(truth, Tensor):
        gt = truth
    else:
        gt = render_held_out(truth, b, n_views, res, RenderConfig(n_samples, chunk=TRUTH_CHUNK))
    fitted = render_held_out(stack_fields(nerfs), b, n_views, res, cfg)
    return Fidelity(psnr(fitted, gt).mean(-1), gt, fitted)
