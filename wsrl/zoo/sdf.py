"""Ground-truth radiance fields made of signed-distance primitives.

An :class:`SDFScene` is a union of coloured parts (box, rounded box, ellipsoid,
cylinder, capsule, cone, torus), each placed by a centre, a rotation and its own
sizes. Density is a soft occupancy ``sigma_max * sigmoid(-sdf / softness)``; the
colour at a point is the colour of the nearest part. Scenes are plain data
(:meth:`SDFScene.to_dict`) so a procedural object can be stored and rebuilt
bit-for-bit. World frame: z up, as NeRF-synthetic.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from wsrl.nerf.archs import SCENE_AABB
from wsrl.registry import Registry

LIGHT_DIR = (0.3922, -0.2942, 0.8716)  # unit vector towards the light, world frame (z up)
AMBIENT = 0.45
TEST_SCENES: Registry[Callable[[], SDFScene]] = Registry("test scene")  # built-in objects, by name
PRIMITIVES: Registry[Callable[[Tensor, tuple[float, ...]], Tensor]] = Registry("SDF primitive")


def _length2(a: Tensor, b: Tensor) -> Tensor:
    return torch.sqrt(a * a + b * b)


@PRIMITIVES.register("box")
def sdf_box(p: Tensor, size: tuple[float, ...]) -> Tensor:
    """Box of half-extents ``size = (hx, hy, hz)``."""
    q = p.abs() - torch.tensor(size[:3], dtype=p.dtype)
    return q.clamp(min=0).norm(dim=-1) + q.max(-1).values.clamp(max=0)


@PRIMITIVES.register("round_box")
def sdf_round_box(p: Tensor, size: tuple[float, ...]) -> Tensor:
    """Box of half-extents ``size[:3]`` with edges rounded by ``size[3]``."""
    r = size[3]
    return sdf_box(p, tuple(max(s - r, 1e-4) for s in size[:3])) - r


@PRIMITIVES.register("ellipsoid")
def sdf_ellipsoid(p: Tensor, size: tuple[float, ...]) -> Tensor:
    """Ellipsoid of radii ``size`` (bound-corrected approximation)."""
    radii = torch.tensor(size[:3], dtype=p.dtype)
    k0 = (p / radii).norm(dim=-1)
    k1 = (p / (radii * radii)).norm(dim=-1)
    return k0 * (k0 - 1.0) / k1.clamp(min=1e-9)


@PRIMITIVES.register("cylinder")
def sdf_cylinder(p: Tensor, size: tuple[float, ...]) -> Tensor:
    """Cylinder along z of radius ``size[0]`` and half-height ``size[1]``."""
    dx = _length2(p[..., 0], p[..., 1]) - size[0]
    dz = p[..., 2].abs() - size[1]
    return torch.minimum(torch.maximum(dx, dz), torch.zeros_like(dx)) + _length2(dx.clamp(min=0), dz.clamp(min=0))


@PRIMITIVES.register("capsule")
def sdf_capsule(p: Tensor, size: tuple[float, ...]) -> Tensor:
    """Capsule along z: radius ``size[0]``, segment half-length ``size[1]``."""
    z = p[..., 2] - p[..., 2].clamp(-size[1], size[1])
    return torch.sqrt(p[..., 0] ** 2 + p[..., 1] ** 2 + z * z) - size[0]


@PRIMITIVES.register("cone")
def sdf_cone(p: Tensor, size: tuple[float, ...]) -> Tensor:
    """Capped cone along z: bottom radius ``size[0]``, top radius ``size[1]``, half-height ``size[2]``."""
    r1, r2, h = size[:3]
    q_x = _length2(p[..., 0], p[..., 1])
    q_y = p[..., 2]
    k1x, k1y = r2, h
    k2x, k2y = r2 - r1, 2.0 * h
    ca_x = q_x - torch.minimum(q_x, torch.where(q_y < 0, torch.full_like(q_x, r1), torch.full_like(q_x, r2)))
    ca_y = q_y.abs() - h
    t = (((k1x - q_x) * k2x + (k1y - q_y) * k2y) / (k2x * k2x + k2y * k2y)).clamp(0.0, 1.0)
    cb_x = q_x - k1x + k2x * t
    cb_y = q_y - k1y + k2y * t
    sign = torch.where((cb_x < 0) & (ca_y < 0), -1.0, 1.0)
    return sign * torch.sqrt(torch.minimum(ca_x**2 + ca_y**2, cb_x**2 + cb_y**2))


@PRIMITIVES.register("torus")
def sdf_torus(p: Tensor, size: tuple[float, ...]) -> Tensor:
    """Torus in the xy plane: major radius ``size[0]``, tube radius ``size[1]``."""
    return _length2(_length2(p[..., 0], p[..., 1]) - size[0], p[..., 2]) - size[1]


def rotation_matrix(euler: Sequence[float]) -> Tensor:
    """Rotation ``Rz @ Ry @ Rx`` from angles in radians."""
    ax, ay, az = euler
    cx, sx, cy, sy, cz, sz = math.cos(ax), math.sin(ax), math.cos(ay), math.sin(ay), math.cos(az), math.sin(az)
    rx = torch.tensor([[1, 0, 0], [0, cx, -sx], [0, sx, cx]], dtype=torch.float64)
    ry = torch.tensor([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]], dtype=torch.float64)
    rz = torch.tensor([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]], dtype=torch.float64)
    return (rz @ ry @ rx).float()


@dataclass(frozen=True)
class Part:
    """One coloured primitive placed in the world."""

    kind: str
    size: tuple[float, ...]
    center: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rotation: tuple[float, float, float] = (0.0, 0.0, 0.0)  # Euler x, y, z (radians)
    color: tuple[float, float, float] = (0.8, 0.8, 0.8)

    def sdf(self, xyz: Tensor) -> Tensor:
        rot = rotation_matrix(self.rotation)
        local = (xyz - torch.tensor(self.center, dtype=xyz.dtype)) @ rot  # R^T (x - c), row vectors
        return PRIMITIVES.get(self.kind)(local, self.size)


@dataclass(frozen=True)
class SDFScene:
    """A union of parts rendered as a soft-surface radiance field."""

    parts: tuple[Part, ...]
    softness: float = 0.01
    sigma_max: float = 300.0
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    def sdf_and_part(self, xyz: Tensor) -> tuple[Tensor, Tensor]:
        """Signed distance ``[N]`` of the union and index ``[N]`` of the nearest part."""
        d = torch.stack([part.sdf(xyz) for part in self.parts], dim=-1)
        best = d.min(-1)
        return best.values, best.indices

    def normals(self, xyz: Tensor, eps: float = 2e-3) -> Tensor:
        """Unit SDF gradient ``[N, 3]`` by central differences."""
        offsets = torch.eye(3, dtype=xyz.dtype) * eps
        grads = [self.sdf_and_part(xyz + o)[0] - self.sdf_and_part(xyz - o)[0] for o in offsets]
        g = torch.stack(grads, dim=-1)
        return g / g.norm(dim=-1, keepdim=True).clamp(min=1e-9)

    def density_and_color(self, xyz: Tensor) -> tuple[Tensor, Tensor]:
        """Density ``[N]`` and RGB ``[N, 3]`` at world points ``[N, 3]``.

        The colour is the nearest part's albedo under fixed world lighting
        (ambient + Lambert from ``LIGHT_DIR``): view-independent, so any NeRF can
        represent it, yet shapes read as 3-D in renders.
        """
        sdf, part = self.sdf_and_part(xyz)
        density = self.sigma_max * torch.sigmoid(-sdf / self.softness)
        albedo = torch.tensor([p.color for p in self.parts], dtype=xyz.dtype)[part]
        # shading only where the surface is near (elsewhere the colour is never seen): ambient there
        near = (sdf.abs() < 8.0 * self.softness).nonzero().squeeze(-1)
        lambert = torch.zeros_like(sdf)
        light = torch.tensor(LIGHT_DIR, dtype=xyz.dtype)
        lambert[near] = (self.normals(xyz[near]) @ light).clamp(min=0.0)
        return density, albedo * (AMBIENT + (1.0 - AMBIENT) * lambert[:, None])

    def to_dict(self) -> dict:
        return {
            "parts": [
                {
                    "kind": p.kind,
                    "size": list(p.size),
                    "center": list(p.center),
                    "rotation": list(p.rotation),
                    "color": list(p.color),
                }
                for p in self.parts
            ],
            "softness": self.softness,
            "sigma_max": self.sigma_max,
            "meta": dict(self.meta),
        }

    @classmethod
    def from_dict(cls, d: dict) -> SDFScene:
        parts = tuple(
            Part(p["kind"], tuple(p["size"]), tuple(p["center"]), tuple(p["rotation"]), tuple(p["color"]))
            for p in d["parts"]
        )
        return cls(parts, d["softness"], d["sigma_max"], dict(d.get("meta", {})))


class SceneBatch:
    """Several scenes behind the batched field interface ``xyz [B, N, 3] -> ([B, N], [B, N, 3])``."""

    def __init__(self, scenes: Sequence[SDFScene]) -> None:
        self.scenes = list(scenes)

    def __call__(self, xyz: Tensor) -> tuple[Tensor, Tensor]:
        outs = [s.density_and_color(x) for s, x in zip(self.scenes, xyz, strict=True)]
        return torch.stack([o[0] for o in outs]), torch.stack([o[1] for o in outs])


@TEST_SCENES.register("sphere_on_box")
def sphere_on_box() -> SDFScene:
    """The built-in test object: a red sphere resting on a blue slab."""
    return SDFScene(
        (
            Part("round_box", (0.45, 0.35, 0.15, 0.03), (0.0, 0.0, -0.3), color=(0.15, 0.3, 0.8)),
            Part("ellipsoid", (0.3, 0.3, 0.3), (0.0, 0.0, 0.15), color=(0.85, 0.2, 0.15)),
        ),
        meta={"name": "sphere_on_box"},
    )


@TEST_SCENES.register("torus_and_cone")
def torus_and_cone() -> SDFScene:
    """A second test object: a yellow torus around a green cone."""
    return SDFScene(
        (
            Part("torus", (0.4, 0.1), (0.0, 0.0, -0.2), (0.3, 0.0, 0.0), color=(0.9, 0.8, 0.1)),
            Part("cone", (0.3, 0.05, 0.4), (0.0, 0.0, 0.1), color=(0.1, 0.7, 0.3)),
        ),
        meta={"name": "torus_and_cone"},
    )


def occupancy_grid(scene: SDFScene, res: int = 16, aabb: Sequence[float] = SCENE_AABB) -> Tensor:
    """Binary occupancy ``[res^3]`` of a ground-truth shape at cell centres of the scene box."""
    lo, hi = aabb[0], aabb[3]
    ticks = lo + (hi - lo) * (torch.arange(res, dtype=torch.float32) + 0.5) / res
    xyz = torch.stack(torch.meshgrid(ticks, ticks, ticks, indexing="ij"), -1).reshape(-1, 3)
    return (scene.sdf_and_part(xyz)[0] < 0).float()
