"""Hostile and degenerate inputs through the real CLI (subprocess): each gets a one-line answer naming the file and
the tensor, the rest of the batch is converted, and what is written keeps the user's file mode."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from wsrl.nerf.checkpoint import load_nerf, save_nerf

FIXTURES = Path(__file__).parent / "fixtures"
ALIAS_BOMB = (
    "a: &a [x, x, x, x, x, x, x, x, x]\n"
    + "".join(f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True))
    + "method_name: *i\n"
)  # 9 ** 9 scalars in under 400 bytes


def wsrl(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``python -m wsrl ARGS`` under umask 022, as a user's shell would run it."""
    return subprocess.run(
        [sys.executable, "-m", "wsrl", *args], capture_output=True, text=True, cwd=cwd, timeout=300,
        preexec_fn=lambda: os.umask(0o022),
    )  # fmt: skip


@pytest.fixture
def hostile_folder(tmp_path: Path) -> Path:
    """One good NeRF and hostile ones: a finite but huge weight, an integer tensor, a flat box, a YAML alias bomb."""
    src = tmp_path / "src"
    src.mkdir()
    good = load_nerf(FIXTURES / "pretrained" / "mlp.pt")
    save_nerf(src / "good.pt", good)
    huge = load_nerf(FIXTURES / "pretrained" / "mlp.pt")
    huge.tensors["mlp.0"].view(-1)[3] = 1e20  # finite: passed every check, then embedded as NaN
    save_nerf(src / "huge.pt", huge)
    payload = torch.load(FIXTURES / "pretrained" / "mlp.pt", weights_only=True)
    payload["tensors"]["mlp.1"] = payload["tensors"]["mlp.1"].long()
    torch.save(payload, src / "integer.pt")
    payload = torch.load(FIXTURES / "pretrained" / "mlp.pt", weights_only=True)
    payload["spec"]["aabb"] = [0.0, 0.0, 0.0, 0.0, 1.0, 1.0]  # zero-size box: rendered garbage before
    torch.save(payload, src / "flat_box.pt")
    bomb = src / "bomb" / "nerfstudio_models"
    bomb.mkdir(parents=True)
    shutil.copy(next((FIXTURES / "nerfstudio" / "instant_ngp" / "nerfstudio_models").glob("*.ckpt")), bomb)
    (src / "bomb" / "config.yml").write_text(ALIAS_BOMB)
    return src


def test_hostile_checkpoints_are_refused_one_line_each_and_the_rest_converts(hostile_folder, tmp_path):
    assert len(ALIAS_BOMB) < 400
    result = wsrl("convert", str(hostile_folder), "--out", str(tmp_path / "graphs"), cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "converted 1, skipped 0 already converted, failed 4" in result.stdout
    failed = {
        line.split(":")[0].removeprefix("FAILED "): line for line in result.stdout.splitlines() if "FAILED" in line
    }
    assert (
        "tensor 'mlp.0' holds a value of magnitude 1e+20, expected at most 10000"
        in failed[str(hostile_folder / "huge.pt")]
    )
    assert "tensor 'mlp.1' has dtype torch.int64, expected floating point" in failed[str(hostile_folder / "integer.pt")]
    bomb_line = next(line for line in failed.values() if "config.yml" in line)
    assert "config.yml expands to over 100000 YAML nodes" in bomb_line and len(bomb_line) < 300
    failures = tmp_path / "graphs" / "failures.json"
    assert failures.stat().st_size < 2000 and len(json.loads(failures.read_text())) == 4
    assert "Traceback" not in result.stdout + result.stderr


def test_outputs_follow_the_umask(hostile_folder, tmp_path):
    (hostile_folder / "huge.pt").unlink()
    (hostile_folder / "integer.pt").unlink()
    (hostile_folder / "flat_box.pt").unlink()
    shutil.rmtree(hostile_folder / "bomb")
    assert wsrl("convert", str(hostile_folder), "--out", str(tmp_path / "graphs"), cwd=tmp_path).returncode == 0
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "graphs").rglob("*") if p.is_file()}
    assert modes and set(modes.values()) == {0o644}, modes


def test_a_second_writer_of_one_folder_is_refused_naming_the_holder(hostile_folder, tmp_path):
    from wsrl.files import writer_lock

    out = tmp_path / "graphs"
    with writer_lock(out):  # this test process holds it, as a running `wsrl convert` would
        result = wsrl("convert", str(hostile_folder / "good.pt"), "--out", str(out), cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{out}: being written by another wsrl process (pid {os.getpid()}" in result.stderr
    assert not (out / "index.json").exists()
    assert wsrl("convert", str(hostile_folder / "good.pt"), "--out", str(out), cwd=tmp_path).returncode == 0


def test_already_converted_is_decided_by_the_file_not_the_path_string(hostile_folder, tmp_path):
    good, out = hostile_folder / "good.pt", tmp_path / "graphs"
    relative = os.path.relpath(good, tmp_path)
    result = wsrl("convert", str(good), relative, str(good), "--out", str(out), cwd=tmp_path)
    assert "converted 1, skipped 0" in result.stdout
    assert "converted 0, skipped 1" in wsrl("convert", relative, "--out", str(out), cwd=tmp_path).stdout
    nerf = load_nerf(good)
    nerf.tensors["mlp.0"] *= 0.5  # the checkpoint is replaced: its old graph must not be kept
    save_nerf(good, nerf)
    assert "converted 1, skipped 0" in wsrl("convert", str(good), "--out", str(out), cwd=tmp_path).stdout
    index = json.loads((out / "index.json").read_text())
    rows = index["rows"] if isinstance(index, dict) else index
    assert len(rows) == 1 and rows[0]["size"] == good.stat().st_size and rows[0]["shard"] == 1


def test_bad_views_and_bad_outputs_fail_before_any_fitting(tmp_path):
    views = tmp_path / "views"
    assert (
        wsrl("scene", "sphere_on_box", "--out", str(views), "--views", "2", "--res", "8", cwd=tmp_path).returncode == 0
    )
    doc_path = next(views.glob("transforms*.json"))
    doc = json.loads(doc_path.read_text())
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    fit = ("fit", "--arch", "mlp", "--views", str(views), "--steps", "1", "--out")
    result = wsrl(*fit, str(blocker / "out"), cwd=tmp_path)
    assert result.returncode == 2 and "output must be a folder, and a file is in the way" in result.stderr
    doc["frames"][0]["transform_matrix"][0][0] = float("nan")  # json writes NaN; fit wrote a NaN NeRF with exit 0
    doc_path.write_text(json.dumps(doc))
    result = wsrl(*fit, str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 2 and "transform_matrix must be 4x4 finite numbers" in result.stderr
    doc["frames"][0]["transform_matrix"][0][0] = 1.0
    doc["frames"][0]["file_path"] = "missing"
    doc_path.write_text(json.dumps(doc))
    result = wsrl(*fit, str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 2 and "missing.png: not a readable image (frame 0" in result.stderr
    assert not list((tmp_path / "out").glob("*.pt"))
    assert all("Traceback" not in r for r in (result.stderr, result.stdout))


def test_render_reports_bad_files_at_the_end_and_keeps_same_named_outputs(hostile_folder, tmp_path):
    twin = tmp_path / "other" / "good.pt"
    twin.parent.mkdir()
    shutil.copy(hostile_folder / "good.pt", twin)
    files = [hostile_folder / "huge.pt", hostile_folder / "good.pt", twin]
    result = wsrl(
        "render", *map(str, files), "--out", str(tmp_path / "png"), "--views", "1", "--res", "8", cwd=tmp_path
    )
    assert result.returncode == 1 and f"FAILED {hostile_folder / 'huge.pt'}: tensor 'mlp.0'" in result.stdout
    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == ["good.png", "good_2.png"]
