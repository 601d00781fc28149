"""The ``wsrl`` command end to end (small settings)."""

import subprocess
import sys

import torch

from wsrl.cli import main
from wsrl.nerf import load_nerf


def test_archs_lists_thirteen(capsys):
    assert main(["archs", "--scale", "paper"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 14
    assert out[1].split()[:4] == ["mlp", "mlp", "seen", "18,432"]


def test_scene_fit_render_and_resume(tmp_path, capsys):
    views = tmp_path / "views"
    assert (
        main(["scene", "sphere_on_box", "--out", str(views), "--views", "4", "--test-views", "2", "--res", "16"]) == 0
    )
    assert (views / "transforms.json").exists() and (views / "test" / "r_1.png").exists()
    out = tmp_path / "fit"
    args = ["fit", "--arch", "hash", "--views", str(views), "--out", str(out)]
    args += ["--steps", "5", "--rays", "64", "--render"]
    assert main(args) == 0
    nerf = load_nerf(out / "views.pt")
    assert nerf.spec.name == "hash" and nerf.meta["mode"] == "photometric" and "psnr" in nerf.meta
    assert (out / "views.png").exists()
    before = torch.load(out / "views.pt", weights_only=True)["tensors"]["grid"]
    capsys.readouterr()
    assert main(args) == 0  # resumable: finished work is skipped
    assert "skipping 1 already fitted" in capsys.readouterr().out
    assert torch.equal(before, load_nerf(out / "views.pt").tensors["grid"])
    assert main(["render", str(out / "views.pt"), "--out", str(tmp_path / "r"), "--views", "2", "--res", "16"]) == 0
    assert (tmp_path / "r" / "views.png").exists()


def test_installed_package_runs_outside_the_checkout(tmp_path):
    """From another folder only the installed names resolve (``wsrl.converters``, not ``converters``)."""
    result = subprocess.run([sys.executable, "-m", "wsrl", "archs"], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "hash_levels8" in result.stdout
    code = "import wsrl.converters, wsrl.convert, wsrl.cli; print(wsrl.converters.FORMATS)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0 and "nerfstudio" in result.stdout, result.stderr
