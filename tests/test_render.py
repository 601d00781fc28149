"""Rays, box intersection, compositing and PNG/transforms.json I/O."""

import math

import numpy as np
import pytest
import torch

from wsrl.nerf.archs import SCENE_AABB
from wsrl.nerf.render import RenderConfig, camera_rays, intersect_aabb, psnr, render_images, render_rays
from wsrl.nerf.views import PosedViews, load_views, look_at, save_views, sphere_poses


def test_centre_pixel_looks_down_minus_z_of_the_camera():
    pose = look_at(torch.tensor([0.0, -3.0, 0.0]))
    origins, dirs = camera_rays(pose[None], 3, 3, focal=2.0)
    torch.testing.assert_close(origins[0, 4], torch.tensor([0.0, -3.0, 0.0]))
    torch.testing.assert_close(dirs[0, 4], torch.tensor([0.0, 1.0, 0.0]), atol=1e-6, rtol=0)
    # OpenGL: image row 0 is the top, so its ray points up (+z world)
    assert dirs[0, 1, 2] > 0 and dirs[0, 7, 2] < 0
    assert dirs[0, 3, 0] < 0 and dirs[0, 5, 0] > 0  # left and right


def test_box_intersection():
    o = torch.tensor([[0.0, 0.0, -3.0], [2.0, 2.0, -3.0]])
    d = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    near, far = intersect_aabb(o, d, SCENE_AABB)
    torch.testing.assert_close(near[0], torch.tensor(2.3))
    torch.testing.assert_close(far[0], torch.tensor(3.7))
    assert far[1] <= near[1]  # miss


def test_constant_density_composites_analytically():
    sigma, colour = 2.0, torch.tensor([0.2, 0.4, 0.6])

    def field(xyz):
        return torch.full(xyz.shape[:-1], sigma), colour.expand(*xyz.shape[:-1], 3)

    o = torch.tensor([[[0.0, 0.0, -3.0], [5.0, 5.0, -3.0]]])
    d = torch.tensor([[[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]])
    out = render_rays(field, o, d, SCENE_AABB, RenderConfig(n_samples=32, background=(1.0, 1.0, 1.0)))
    opacity = 1 - math.exp(-sigma * 1.4)
    assert out["opacity"][0, 0].item() == pytest.approx(opacity, rel=1e-5)
    torch.testing.assert_close(out["rgb"][0, 0], colour * opacity + (1 - opacity), atol=1e-5, rtol=0)
    torch.testing.assert_close(out["rgb"][0, 1], torch.ones(3))  # ray misses the box: background


def test_stratified_samples_are_seeded():
    field = lambda xyz: (xyz.norm(dim=-1), xyz.abs().clamp(0, 1))  # noqa: E731
    o = torch.tensor([[[0.1, 0.2, -3.0]]])
    d = torch.tensor([[[0.0, 0.0, 1.0]]])
    a = render_rays(field, o, d, SCENE_AABB, generator=torch.Generator().manual_seed(5))["rgb"]
    b = render_rays(field, o, d, SCENE_AABB, generator=torch.Generator().manual_seed(5))["rgb"]
    assert torch.equal(a, b)


def test_views_round_trip_through_png(tmp_path):
    poses = sphere_poses(3)
    images = torch.rand(3, 8, 10, 3)
    save_views(tmp_path, PosedViews(images, poses), "train")
    back = load_views(tmp_path, "train")
    torch.testing.assert_close(back.poses, poses)
    assert back.images.shape == (3, 8, 10, 3)
    assert (back.images - images).abs().max() <= 0.5 / 255 + 1e-6  # 8-bit quantisation only
    assert not list(tmp_path.rglob("*.tmp"))


def test_psnr_and_render_images_shape():
    def field(xyz):
        return torch.zeros(xyz.shape[:-1]), torch.zeros(*xyz.shape[:-1], 3)

    imgs = render_images(field, 2, sphere_poses(2), 6, 4, 5.0, SCENE_AABB)
    assert imgs.shape == (2, 2, 4, 6, 3)
    assert torch.equal(imgs, torch.ones_like(imgs))  # empty field: white background
    assert psnr(imgs, imgs * 0.9).min().item() == pytest.approx(-10 * np.log10(0.01), rel=1e-4)
