"""The ``wsrl`` command end to end (small settings)."""

import subprocess
import sys

import pytest
import torch

from wsrl.cli.main import main
from wsrl.nerf.checkpoint import load_nerf


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
    code = "import wsrl.converters, wsrl.graph.convert, wsrl.cli.main; print(wsrl.converters.FORMATS)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0 and "nerfstudio" in result.stdout, result.stderr


def test_help_loads_neither_faiss_nor_the_trainer():
    code = (
        "import sys; from wsrl.cli.main import build_parser; build_parser(); "
        "print(sorted(m for m in ('faiss', 'torch_geometric', 'wsrl.train.trainer') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stdout + result.stderr


def test_fit_saves_each_batch_and_a_resumed_fit_equals_an_uninterrupted_one(tmp_path, monkeypatch, capsys):
    from wsrl.cli import pipeline

    def fit(out, *extra):
        args = ["fit", "--arch", "mlp", "--scene", "sphere_on_box", "torus_and_cone", "--out", str(out)]
        return main([*args, "--steps", "20", "--points", "64", "--batch-size", "1", *extra])

    assert fit(tmp_path / "whole") == 0
    real, calls = pipeline.fit_distill, []

    def killed_in_batch_2(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "fit_distill", killed_in_batch_2)
    assert fit(tmp_path / "resumed") == 130  # Ctrl-C (or a kill) in batch 2
    assert [p.name for p in (tmp_path / "resumed").glob("*.pt")] == ["sphere_on_box.pt"]  # batch 1 kept
    monkeypatch.setattr(pipeline, "fit_distill", real)
    capsys.readouterr()
    assert fit(tmp_path / "resumed") == 0
    assert "skipping 1 already fitted" in capsys.readouterr().out
    for name in ("sphere_on_box", "torus_and_cone"):
        a, b = load_nerf(tmp_path / "whole" / f"{name}.pt"), load_nerf(tmp_path / "resumed" / f"{name}.pt")
        assert all(torch.equal(a.tensors[k], b.tensors[k]) for k in a.tensors)
    assert fit(tmp_path / "resumed", "--seed", "3") == 2  # other settings are refused, not skipped
    err = capsys.readouterr().err
    assert "sphere_on_box.pt: already fitted with other settings: seed 3 (file: 0)" in err and err.count("\n") == 1
    assert fit(tmp_path / "resumed", "--seed", "3", "--overwrite") == 0


def test_user_errors_are_one_line_and_bugs_keep_their_traceback(monkeypatch, capsys, tmp_path):
    from wsrl.cli import pipeline

    assert main(["embed", "--weight-statistics", "--data", str(tmp_path), "--out", str(tmp_path / "e.pt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "not a graph collection" in err

    def broken(args):
        return {}["a bug"]

    monkeypatch.setattr(pipeline, "cmd_archs", broken)
    with pytest.raises(KeyError):  # a programming error is not dressed up as a user error
        main(["archs"])
    with pytest.raises(SystemExit):
        main(["fit", "--arch", "mlp", "--scene", "sphere_on_box", "--out", str(tmp_path), "--steps", "0"])
    assert "must be a finite number >= 1" in capsys.readouterr().err
