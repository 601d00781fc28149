"""Training and evaluation data from a zoo: parameter graphs and ray banks, cached per architecture.

For every architecture a zoo holds, :class:`ZooGraphs` keeps:

* the parameter graph of each NeRF (``cache/graphs_<arch>.pt``, the :func:`~wsrl.convert.pack_graphs` layout);
* for the rendering loss, a **ray bank**: what each NeRF renders from ``RAY_VIEWS`` fixed cameras
  (``cache/rays_<arch>.pt``: shared ray origins/directions, per-NeRF RGB and opacity).

Caches are written atomically on first use and reused (weights-only loads).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor
from torch_geometric.data import Data
from tqdm.auto import tqdm

from wsrl.archs import SCENE_AABB
from wsrl.atomic import save_torch
from wsrl.convert import pack_graphs, unpack_graphs
from wsrl.graph import SCHEMA_VERSION, nerf_to_graph
from wsrl.nerf import stack_fields
from wsrl.render import RenderConfig, camera_rays, render_rays
from wsrl.views import focal_length, sphere_poses
from wsrl.zoo import Zoo

RAY_VIEWS, RAY_RES, RAY_SAMPLES = 4, 24, 64  # ray bank: 4 cameras x 24^2 pixels, 64 samples per ray
RAY_OFFSET = 0.21  # camera spiral offset of the ray bank (neither the zoo's training nor held-out views)
RAY_CHUNK = 16  # NeRFs rendered together while building a bank


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


class ZooGraphs:
    """Graphs (and optionally ray banks) of a zoo's NeRFs, by architecture and object id."""

    def __init__(self, root: str | os.PathLike, archs: list[str] | None = None, rays: bool = False) -> None:
        self.zoo = Zoo(root)
        manifest = self.zoo.manifest()
        self.archs = archs or manifest["archs"]
        missing = sorted(set(self.archs) - set(manifest["archs"]))
        if missing:
            raise ValueError(f"{root}: the zoo has no NeRFs of {missing}; it holds {manifest['archs']}")
        self.objects = manifest["objects"]  # [{id, class_name, label, split, ...}]
        self.index = {o["id"]: i for i, o in enumerate(self.objects)}
        self.graphs = {arch: self._graphs(arch) for arch in self.archs}
        self.rays = {arch: self._rays(arch) for arch in self.archs} if rays else {}

    def ids(self, split: str | None = None) -> list[str]:
        return [o["id"] for o in self.objects if split is None or o["split"] == split]

    def graph(self, arch: str, object_id: str) -> Data:
        return self.graphs[arch][self.index[object_id]]

    def _cache(self, kind: str, arch: str) -> Path:
        return self.zoo.root / "cache" / f"{kind}_{arch}.pt"

    def _graphs(self, arch: str) -> list[Data]:
        """The cached graphs of ``arch``, built (again) when missing or of an older graph schema."""
        path = self._cache("graphs", arch)
        packed = torch.load(path, map_location="cpu", weights_only=True) if path.exists() else None
        if packed is None or packed.get("version") != SCHEMA_VERSION:
            graphs = [
                nerf_to_graph(self.zoo.load(arch, o["id"]))
                for o in tqdm(self.objects, desc=f"graphs {arch}", leave=False)
            ]
            packed = pack_graphs(graphs)
            save_torch(path, packed)
        return unpack_graphs(packed, str(path))

    @torch.no_grad()
    def _rays(self, arch: str) -> RayBank:
        path = self._cache("rays", arch)
        if not path.exists():
            origins, dirs = ray_bank_rays()
            rgb, opacity = [], []
            for start in tqdm(range(0, len(self.objects), RAY_CHUNK), desc=f"ray bank {arch}", leave=False):
                nerfs = [self.zoo.load(arch, o["id"]) for o in self.objects[start : start + RAY_CHUNK]]
                b = len(nerfs)
                out = render_rays(
                    stack_fields(nerfs),
                    origins.expand(b, -1, -1),
                    dirs.expand(b, -1, -1),
                    SCENE_AABB,
                    RenderConfig(RAY_SAMPLES),
                )
                rgb.append(out["rgb"])
                opacity.append(out["opacity"])
            payload = {"origins": origins, "dirs": dirs, "rgb": torch.cat(rgb), "opacity": torch.cat(opacity)}
            save_torch(path, payload)
        return RayBank(**torch.load(path, map_location="cpu", weights_only=True))

    def ray_batch(self, arch_ids: list[tuple[str, str]], n_rays: int, gen: torch.Generator) -> dict[str, Tensor]:
        """``n_rays`` random bank rays per (arch, object id): origins, dirs ``[B, n, 3]``, rgb, foreground."""
        out: dict[str, list[Tensor]] = {"origins": [], "dirs": [], "rgb": [], "foreground": []}
        for arch, object_id in arch_ids:
            bank, i = self.rays[arch], self.index[object_id]
            pick = torch.randint(bank.origins.shape[0], (n_rays,), generator=gen)
            out["origins"].append(bank.origins[pick])
            out["dirs"].append(bank.dirs[pick])
            out["rgb"].append(bank.rgb[i, pick])
            out["foreground"].append(bank.opacity[i, pick] > 0.5)
        return {k: torch.stack(v) for k, v in out.items()}
