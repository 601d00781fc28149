"""Fitting NeRFs, many of one architecture at once.

Two modes share one batched loop (``B`` NeRFs = one :class:`RadianceField` whose
tensors carry a leading batch dimension, trained by one Adam):

* **field distillation** (:func:`fit_distill`): supervise the raw density
  (log-space, floored) and the colour at 3-D points drawn from a ground-truth
  field: the fast path used to build benchmark data;
* **photometric** (:func:`fit_photometric`): supervise rendered pixels of posed
  images (``transforms.json`` layout): the real-world path.

The loss of a batch is the *sum* over NeRFs of each NeRF's mean loss, so every
NeRF trains exactly as it would alone. Each batch draws from its own generator,
seeded by ``cfg.seed`` plus the batch's first index: batch ``[a:b]`` of a fit
equals a fit of those targets alone with seed ``cfg.seed + a``, so a fit can be
saved, and resumed, one batch at a time (:func:`batch_config`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor
from tqdm.auto import tqdm

from wsrl.errors import WsrlError
from wsrl.nerf.archs import ArchSpec
from wsrl.nerf.checkpoint import NeRF, unstack_field
from wsrl.nerf.fields.field import RadianceField
from wsrl.nerf.render import RenderConfig, camera_rays, render_rays
from wsrl.nerf.views import PosedViews

Target = Callable[[Tensor], tuple[Tensor, Tensor]]  # xyz [N, 3] -> density [N], rgb [N, 3]


@dataclass(frozen=True, kw_only=True)
class FitConfig:
    """Optimisation settings shared by both modes."""

    steps: int = 2000
    batch_size: int = 64  # NeRFs trained together
    lr: float = 1e-2
    lr_final_ratio: float = 0.05  # cosine decay to lr * ratio
    seed: int = 0
    # distillation
    points: int = 512  # points per NeRF per step
    pool: int = 1 << 17  # ground-truth points precomputed per NeRF
    density_floor: float = 1e-2  # densities below this are all "empty"
    # photometric
    rays: int = 1024  # rays per NeRF per step
    n_samples: int = 64  # samples per ray while training
    progress: bool = True
    # one initialisation shared by every NeRF (drawn from this seed) instead of one per NeRF:
    # inr2vec/nf2vec found weight-space learning needs it, and the zoo uses it
    init_seed: int | None = None


def _check_fittable(spec: ArchSpec) -> None:
    """wsrl fits fields whose RGB comes from the MLP itself (no view-dependent colour head)."""
    if spec.head_shapes:
        raise WsrlError(f"arch {spec.name!r}: fitting NeRFs with a colour head (nerfacto-style) is not supported")


def initial_field(spec: ArchSpec, batch_size: int, cfg: FitConfig, start: int) -> RadianceField:
    """The starting NeRFs of a batch whose first NeRF is the ``start``-th of the fit: one shared draw with
    ``cfg.init_seed``, else draws of their own."""
    if cfg.init_seed is not None:
        return RadianceField.create(spec, batch_size, seed=cfg.init_seed, shared=True)
    return RadianceField.create(spec, batch_size, seed=cfg.seed + start)


def batches(n: int, cfg: FitConfig) -> Iterator[slice]:
    """The batches a fit of ``n`` targets trains one after the other."""
    for start in range(0, n, cfg.batch_size):
        yield slice(start, min(start + cfg.batch_size, n))


def batch_config(cfg: FitConfig, part: slice) -> FitConfig:
    """Settings under which fitting batch ``part`` alone gives the weights it gets inside the whole fit."""
    return replace(cfg, seed=cfg.seed + part.start)


def _optimize(field: RadianceField, loss_fn: Callable[[int], Tensor], cfg: FitConfig, desc: str) -> None:
    """Adam (eps 1e-15, as instant-ngp) with a cosine schedule; ``loss_fn(step)`` returns the summed loss."""
    opt = torch.optim.Adam(field.parameters(), lr=cfg.lr, betas=(0.9, 0.99), eps=1e-15)

    def schedule(step: int) -> float:
        return cfg.lr_final_ratio + (1 - cfg.lr_final_ratio) * 0.5 * (1 + math.cos(math.pi * step / cfg.steps))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
    bar = tqdm(range(cfg.steps), desc=desc, disable=not cfg.progress, leave=False)
    for step in bar:
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(step)
        loss.backward()
        opt.step()
        sched.step()
        if step % 50 == 0:
            bar.set_postfix(loss=f"{loss.item() / field.batch_size:.4f}")


Pool = tuple[Tensor, Tensor, Tensor]  # ground-truth xyz [P, 3], density [P], rgb [P, 3]


def distill_pool(target: Target, aabb: Sequence[float], n: int, gen: torch.Generator) -> Pool:
    """Ground-truth points of one field: 1/2 uniform in the box, 1/2 jittered around occupied points."""
    lo = torch.tensor(aabb[:3])
    size = torch.tensor(aabb[3:]) - lo
    candidates = lo + size * torch.rand(2 * n, 3, generator=gen)
    density, _ = target(candidates)
    occupied = candidates[density > density.max() * 0.05]
    if occupied.shape[0] == 0:
        occupied = candidates
    pick = torch.randint(occupied.shape[0], (n - n // 2,), generator=gen)
    jitter = torch.randn(pick.shape[0], 3, generator=gen) * size.max() * 0.02
    xyz = torch.cat([candidates[: n // 2], (occupied[pick] + jitter).clamp(lo, lo + size)])
    density, rgb = target(xyz)
    return xyz, density, rgb


def _distill_loss(
    field: RadianceField, pool: Tensor, floor: float, cfg: FitConfig, gen: torch.Generator
) -> Callable[[int], Tensor]:
    """Per step: ``cfg.points`` pool rows per NeRF; log-density (floored) and weighted colour errors."""
    b, n_pool, width = pool.shape
    rows = pool.reshape(b * n_pool, width)
    base = (torch.arange(b) * n_pool)[:, None]

    def loss_fn(step: int) -> Tensor:
        idx = torch.randint(n_pool, (b, cfg.points), generator=gen) + base
        batch = rows.index_select(0, idx.view(-1)).view(b, cfg.points, width)  # whole 8-float rows
        raw = field.raw(batch[..., :3])
        d_loss = (raw[..., field.spec.density_index].clamp(min=floor) - batch[..., 3]) ** 2
        c_loss = batch[..., 4:5] * (torch.sigmoid(raw[..., :3]) - batch[..., 5:]) ** 2
        return d_loss.mean(1).sum() * 0.1 + c_loss.mean((1, 2)).sum()

    return loss_fn


def fit_distill(
    spec: ArchSpec,
    targets: Sequence[Target | Pool],
    cfg: FitConfig = FitConfig(),
    metas: Sequence[dict] | None = None,
) -> list[NeRF]:
    """Fit one NeRF of ``spec`` per ground-truth field by point-wise distillation.

    A target is a field function or a precomputed :func:`distill_pool` (the zoo samples
    each object once and fits it in every architecture).
    """
    _check_fittable(spec)
    metas = list(metas) if metas is not None else [{} for _ in targets]
    out: list[NeRF] = []
    for part in batches(len(targets), cfg):
        gen = torch.Generator().manual_seed(cfg.seed + part.start)
        pools = [t if isinstance(t, tuple) else distill_pool(t, spec.aabb, cfg.pool, gen) for t in targets[part]]
        xyz, density, rgb = (torch.stack(p) for p in zip(*pools, strict=True))  # [B, P, ...]
        floor = math.log(cfg.density_floor) - spec.density_shift
        raw_target = (
            torch.log(density.clamp(min=cfg.density_floor)) - spec.density_shift
        )  # inverse of trunc_exp(x + shift)
        color_weight = (density / density.amax(1, keepdim=True).clamp(min=1e-6)).clamp(0.05, 1.0)
        # one [B, P, 8] table (xyz, raw target, colour weight, rgb) so a step gathers once
        pool = torch.cat([xyz, raw_target[..., None], color_weight[..., None], rgb], -1)
        field = initial_field(spec, pool.shape[0], cfg, part.start)
        loss_fn = _distill_loss(field, pool, floor, cfg, gen)
        _optimize(field, loss_fn, cfg, f"distill {spec.name} [{part.start}:{part.stop}]")
        out += unstack_field(field, metas[part])
    return out


def _photometric_loss(
    field: RadianceField,
    rays: tuple[Tensor, Tensor, Tensor],
    render: RenderConfig,
    cfg: FitConfig,
    gen: torch.Generator,
) -> Callable[[int], Tensor]:
    """Per step: ``cfg.rays`` random pixels per NeRF, rendered with stratified samples, MSE."""
    b, total = rays[0].shape[:2]

    def loss_fn(step: int) -> Tensor:
        idx = torch.randint(total, (b, cfg.rays), generator=gen)[..., None].expand(-1, -1, 3)
        o, d, c = (torch.gather(t, 1, idx) for t in rays)
        pred = render_rays(field, o, d, field.spec.aabb, render, generator=gen)["rgb"]
        return ((pred - c) ** 2).mean((1, 2)).sum()

    return loss_fn


def fit_photometric(
    spec: ArchSpec,
    views: Sequence[PosedViews],
    cfg: FitConfig = FitConfig(),
    render: RenderConfig = RenderConfig(),
    metas: Sequence[dict] | None = None,
) -> list[NeRF]:
    """Fit one NeRF of ``spec`` per posed image set by volume-rendering random rays."""
    _check_fittable(spec)
    metas = list(metas) if metas is not None else [{} for _ in views]
    train_render = RenderConfig(cfg.n_samples, render.background, render.chunk)
    out: list[NeRF] = []
    for part in batches(len(views), cfg):
        gen = torch.Generator().manual_seed(cfg.seed + part.start)
        rays = []
        for v in views[part]:
            o, d = camera_rays(v.poses, v.images.shape[2], v.images.shape[1], v.focal)
            rays.append((o.reshape(-1, 3), d.reshape(-1, 3), v.images.reshape(-1, 3)))
        n_rays = {r[0].shape[0] for r in rays}
        if len(n_rays) != 1:
            raise WsrlError("photometric batch: every view set must have the same number of pixels")
        origins, dirs, colors = (torch.stack(r) for r in zip(*rays, strict=True))
        field = initial_field(spec, origins.shape[0], cfg, part.start)
        loss_fn = _photometric_loss(field, (origins, dirs, colors), train_render, cfg, gen)
        _optimize(field, loss_fn, cfg, f"photometric {spec.name} [{part.start}:{part.stop}]")
        out += unstack_field(field, metas[part])
    return out
