"""Posed image sets in the NeRF-synthetic ``transforms.json`` layout.

Cameras are pinhole, OpenGL convention (look down -z, y up in the camera frame),
``transform_matrix`` is camera-to-world, focal = ``0.5 W / tan(0.5 camera_angle_x)``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from wsrl.errors import WsrlError
from wsrl.files import load_json, save_json, save_png

DEFAULT_FOV = 0.6911112070083618  # NeRF-synthetic's camera_angle_x
DEFAULT_RADIUS = 2.7


@dataclass
class PosedViews:
    """Images ``[V, H, W, 3]`` in [0, 1], camera-to-world poses ``[V, 4, 4]`` and the horizontal FOV."""

    images: Tensor
    poses: Tensor
    camera_angle_x: float = DEFAULT_FOV

    @property
    def focal(self) -> float:
        return focal_length(self.images.shape[2], self.camera_angle_x)


def focal_length(width: int, camera_angle_x: float = DEFAULT_FOV) -> float:
    """Pinhole focal length in pixels: ``0.5 W / tan(0.5 camera_angle_x)``."""
    return 0.5 * width / math.tan(0.5 * camera_angle_x)


def look_at(eye: Tensor, target: Tensor | None = None, up: Tensor | None = None) -> Tensor:
    """Camera-to-world matrix of a camera at ``eye`` looking at ``target`` (z up)."""
    target = torch.zeros(3) if target is None else target
    up = torch.tensor([0.0, 0.0, 1.0]) if up is None else up
    back = eye - target
    back = back / back.norm()
    right = torch.linalg.cross(up, back)
    if right.norm() < 1e-6:  # looking straight up or down
        right = torch.tensor([1.0, 0.0, 0.0])
    right = right / right.norm()
    cam_up = torch.linalg.cross(back, right)
    c2w = torch.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, cam_up, back, eye
    return c2w


def sphere_poses(n: int, radius: float = DEFAULT_RADIUS, offset: float = 0.0) -> Tensor:
    """``n`` cameras on a Fibonacci sphere looking at the origin; ``offset`` in [0, 1) shifts the spiral
    (use a different offset for held-out views)."""
    golden = math.pi * (3.0 - math.sqrt(5.0))
    poses = []
    for i in range(n):
        z = 1.0 - 2.0 * (i + 0.5) / n
        z = max(min(z * 0.95, 0.95), -0.95)
        r = math.sqrt(1.0 - z * z)
        theta = golden * i + 2.0 * math.pi * offset
        eye = torch.tensor([r * math.cos(theta), r * math.sin(theta), z]) * radius
        poses.append(look_at(eye))
    return torch.stack(poses)


def save_views(folder: str | os.PathLike, views: PosedViews, split: str = "train") -> Path:
    """Write ``<split>/r_<i>.png`` and ``transforms_<split>.json`` (also ``transforms.json`` for train)."""
    folder = Path(folder)
    frames = []
    for i, (img, pose) in enumerate(zip(views.images, views.poses, strict=True)):
        save_png(folder / split / f"r_{i}.png", img)
        frames.append({"file_path": f"./{split}/r_{i}", "transform_matrix": pose.tolist()})
    doc = {"camera_angle_x": views.camera_angle_x, "frames": frames}
    save_json(folder / f"transforms_{split}.json", doc)
    if split == "train":
        save_json(folder / "transforms.json", doc)
    return folder


def load_views(folder: str | os.PathLike, split: str = "train") -> PosedViews:
    """Read a ``transforms_<split>.json`` (or ``transforms.json``) folder; RGBA is composited on white."""
    from PIL import Image

    folder = Path(folder)
    for name in (f"transforms_{split}.json", "transforms.json"):
        if (folder / name).exists():
            doc_path = folder / name
            break
    else:
        raise WsrlError(f"{folder}: no transforms_{split}.json or transforms.json")
    doc = load_json(doc_path, "transforms file")
    if not isinstance(doc, dict) or "camera_angle_x" not in doc or not doc.get("frames"):
        raise WsrlError(f"{doc_path}: expected 'camera_angle_x' and a non-empty 'frames' list")
    angle = doc["camera_angle_x"]
    if isinstance(angle, bool) or not isinstance(angle, (int, float)) or not 0 < angle < math.pi:
        raise WsrlError(f"{doc_path}: camera_angle_x must be a number in (0, pi), got {str(angle)[:40]}")
    images, poses = [], []
    for n, frame in enumerate(doc["frames"]):
        if not isinstance(frame, dict) or not isinstance(frame.get("file_path"), str):
            raise WsrlError(f"{doc_path}: frame {n} needs a string 'file_path' and a 'transform_matrix'")
        path = folder / frame["file_path"]
        if path.suffix == "":
            path = path.with_suffix(".png")
        try:
            rgba = np.asarray(Image.open(path).convert("RGBA"), dtype=np.float32) / 255.0
        except (OSError, ValueError) as exc:  # missing, truncated or not an image
            raise WsrlError(
                f"{path}: not a readable image (frame {n} of {doc_path.name}: {type(exc).__name__})"
            ) from None
        rgb = rgba[..., :3] * rgba[..., 3:] + (1.0 - rgba[..., 3:])
        images.append(torch.from_numpy(rgb))
        try:
            pose = torch.tensor(frame.get("transform_matrix"), dtype=torch.float32)
        except (TypeError, ValueError, RuntimeError):
            pose = torch.empty(0)
        if pose.shape != (4, 4) or not torch.isfinite(pose).all():
            raise WsrlError(f"{doc_path}: frame {frame['file_path']!r} transform_matrix must be 4x4 finite numbers")
        poses.append(pose)
    shapes = {tuple(i.shape) for i in images}
    if len(shapes) != 1:
        raise WsrlError(f"{doc_path}: images have different sizes {sorted(shapes)}")
    return PosedViews(torch.stack(images), torch.stack(poses), float(doc["camera_angle_x"]))
