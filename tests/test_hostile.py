"""Hostile and degenerate inputs through the real CLI: each gets a one-line answer naming the file and the tensor,
the rest of the batch is converted, and what is written keeps the user's file mode. Answers are read from
``wsrl.cli.main.main`` in this process (an escaping exception fails the test as a traceback would); a subprocess
runs where the process itself is under test (kill -9, Ctrl-C, umask, a second writer)."""

from __future__ import annotations

import errno
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
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
def cli(monkeypatch, capsys):
    """``wsrl ARGS`` run by ``main`` in this process from ``cwd``: exit code, stdout and stderr, as :func:`wsrl`."""
    from wsrl.cli.main import main

    def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
        monkeypatch.chdir(cwd)
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse: --help, usage errors
            code = exc.code
        out = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out.out, out.err)

    return run


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


def test_already_converted_is_decided_by_the_file_not_the_path_string(hostile_folder, tmp_path, cli):
    good, out = hostile_folder / "good.pt", tmp_path / "graphs"
    relative = os.path.relpath(good, tmp_path)
    result = cli("convert", str(good), relative, str(good), "--out", str(out), cwd=tmp_path)
    assert "converted 1, skipped 0" in result.stdout
    assert "converted 0, skipped 1" in cli("convert", relative, "--out", str(out), cwd=tmp_path).stdout
    nerf = load_nerf(good)
    nerf.tensors["mlp.0"] *= 0.5  # the checkpoint is replaced: its old graph must not be kept
    save_nerf(good, nerf)
    assert "converted 1, skipped 0" in cli("convert", str(good), "--out", str(out), cwd=tmp_path).stdout
    index = json.loads((out / "index.json").read_text())
    rows = index["rows"] if isinstance(index, dict) else index
    assert len(rows) == 1 and rows[0]["size"] == good.stat().st_size and rows[0]["shard"] == 1
    sequential = hostile_folder / "sequential.pt"  # other options convert again: the row must follow them
    torch.save(
        torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4)).state_dict(), sequential
    )
    assert "converted 1, skipped 0" in cli("convert", str(sequential), "--out", str(out), cwd=tmp_path).stdout
    result = cli("convert", str(sequential), "--arch", "my_mlp", "--out", str(out), cwd=tmp_path)
    assert "converted 1, skipped 0" in result.stdout
    rows = json.loads((out / "index.json").read_text())
    assert [r["arch"] for r in rows if r["source"] == str(sequential)] == ["my_mlp"]


def test_bad_views_and_bad_outputs_fail_before_any_fitting(tmp_path, cli):
    views = tmp_path / "views"
    assert (
        cli("scene", "sphere_on_box", "--out", str(views), "--views", "2", "--res", "8", cwd=tmp_path).returncode == 0
    )
    doc_path = next(views.glob("transforms*.json"))
    doc = json.loads(doc_path.read_text())
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    fit = ("fit", "--arch", "mlp", "--views", str(views), "--steps", "1", "--out")
    result = cli(*fit, str(blocker / "out"), cwd=tmp_path)
    assert result.returncode == 2 and "output must be a folder, and a file is in the way" in result.stderr
    doc["frames"][0]["transform_matrix"][0][0] = float("nan")  # json writes NaN; fit wrote a NaN NeRF with exit 0
    doc_path.write_text(json.dumps(doc))
    result = cli(*fit, str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 2 and "transform_matrix must be 4x4 finite numbers" in result.stderr
    doc["frames"][0]["transform_matrix"][0][0] = 1.0
    doc["frames"][0]["file_path"] = "missing"
    doc_path.write_text(json.dumps(doc))
    result = cli(*fit, str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 2 and "missing.png: not a readable image (frame 0" in result.stderr
    (views / "missing.png").write_bytes(b"not a picture")
    result = cli(*fit, str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 2 and "missing.png: not a readable image (frame 0" in result.stderr
    assert not list((tmp_path / "out").glob("*.pt"))
    assert all("Traceback" not in r for r in (result.stderr, result.stdout))


def test_render_reports_bad_files_at_the_end_and_keeps_same_named_outputs(hostile_folder, tmp_path, cli):
    twin = tmp_path / "other" / "good.pt"
    twin.parent.mkdir()
    shutil.copy(hostile_folder / "good.pt", twin)
    files = [hostile_folder / "huge.pt", hostile_folder / "good.pt", twin]
    result = cli("render", *map(str, files), "--out", str(tmp_path / "png"), "--views", "1", "--res", "8", cwd=tmp_path)
    assert result.returncode == 1 and f"FAILED {hostile_folder / 'huge.pt'}: tensor 'mlp.0'" in result.stdout
    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == ["good.png", "good_2.png"]


def write_hostile_inputs(root: Path, zoo: Path, run: Path) -> dict[str, str]:
    """Broken files for the matrix below, written under ``root`` from a zoo and a trained run; their paths by name."""
    root.mkdir(parents=True, exist_ok=True)
    paths = {"zoo": str(zoo), "run": str(run), "root": str(root)}

    def path(name: str) -> Path:
        paths[name.split(".")[0].replace("/", "_")] = str(root / name)
        return root / name

    payload = torch.load(FIXTURES / "pretrained" / "mlp.pt", weights_only=True)
    torch.save(payload, path("good.pt"))
    torch.save({**payload, "meta": [1, 2]}, path("meta_list.pt"))
    torch.save({**payload, "spec": {**payload["spec"], "aabb": [float("nan"), 0, 0, 1, 1, 1]}}, path("nan_box.pt"))
    path("random.pt").write_bytes(bytes(range(256)) * 20)
    relu_net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4))
    torch.save(relu_net.state_dict(), path("sequential.pt"))
    path("a_file").write_text("x")
    subprocess.run([sys.executable, "-m", "wsrl", "embed", "--ckpt", str(run), "--data", str(zoo), "--out",
                    str(path("store.pt"))], check=True, capture_output=True)  # fmt: skip
    store = torch.load(root / "store.pt", weights_only=True)
    rows = ("embeddings", "object_id", "label", "arch", "split", "source")

    def save_rows(name: str, keep) -> None:
        index = [i for i, (a, s) in enumerate(zip(store["arch"], store["split"], strict=True)) if keep(a, s)]
        torch.save({**store, **{k: [store[k][i] for i in index] for k in rows[1:]},
                    "embeddings": store["embeddings"][index]}, path(name))  # fmt: skip

    save_rows("one_arch.pt", lambda a, s: a == "mlp")
    save_rows("empty.pt", lambda a, s: False)
    save_rows("no_test.pt", lambda a, s: s != "test")
    nan = store["embeddings"].clone()
    nan[0, 0] = float("nan")
    torch.save({**store, "embeddings": nan}, path("nan.pt"))
    torch.save({**store, "label": store["label"][:-1]}, path("short.pt"))
    path("truncated.pt").write_bytes((root / "store.pt").read_bytes()[:1000])
    shutil.copytree(run, path("bad_run"))
    (root / "bad_run" / "best.pt").write_bytes((run / "best.pt").read_bytes()[:3000])
    path("bad_index").mkdir()
    (root / "bad_index" / "index.json").write_text("{not json")
    return paths


@dataclass(frozen=True)
class Case:
    """One hostile input: the ``wsrl`` arguments (``{name}`` is a path of :func:`write_hostile_inputs`), the exit
    code and what the answer says (in its last line; for exit 1 in its ``FAILED`` line)."""

    item: int  # the item of issue #19 it belongs to
    name: str
    args: str  # split like a shell line
    code: int
    says: str


CASES = [
    Case(2, "NaN in an embedding store", "bench classify {nan}", 2,
         "nan.pt: embedding store: embeddings contain NaN"),
    Case(2, "store columns of other lengths", "bench retrieve {short}", 2,
         "short.pt: embedding store: embeddings (117, 128) do not match its rows"),
    Case(6, "resume with other settings", "train --data {zoo} --out {run} --resume --epochs 3", 2,
         "--resume with other settings than the run's: epochs 3 (run: 1)"),
    Case(8, "output on a file system that takes no writes", "convert {good} --out /proc/wsrl-out", 2,
         "/proc/wsrl-out"),
    Case(8, "output folder path through a file", "embed --ckpt {run} --data {zoo} --out {a_file}/e.pt", 2,
         "a_file: output must be a folder, and a file is in the way"),
    Case(9, "truncated embedding store", "bench classify {truncated}", 2,
         "truncated.pt: cannot read as a weights-only torch file"),
    Case(9, "truncated run checkpoint", "embed --ckpt {bad_run} --data {zoo} --out {root}/e.pt", 2,
         "best.pt: cannot read as a weights-only torch file"),
    Case(9, "retrieval in one architecture", "bench retrieve {one_arch}", 2,
         "one_arch.pt: cross-architecture retrieval needs two architectures"),
    Case(9, "retrieval in an empty store", "bench retrieve {empty}", 2,
         "empty.pt: cross-architecture retrieval needs two architectures"),
    Case(9, "retrieval without a test split", "bench retrieve {no_test}", 2,
         "no_test.pt: no embeddings of split 'test'"),
    Case(9, "classification without a test split", "bench classify {no_test}", 2,
         "no_test.pt: arch 'mlp': classification needs embeddings of splits 'train' and 'test'"),
    Case(9, "corrupt index.json", "embed --ckpt {run} --data {bad_index} --out {root}/e.pt", 2,
         "bad_index/index.json: not readable as a wsrl convert index"),
    Case(9, "checkpoint meta not a mapping", "convert {meta_list} --out {root}/g_meta", 1,
         "meta_list.pt: entry 'meta' must be a mapping of names to values, got list"),
    Case(10, "--steps 0", "fit --arch mlp --scene sphere_on_box --out {root}/f --steps 0", 2,
         "argument --steps: must be a finite number >= 1, got 0"),
    Case(10, "--steps -5", "fit --arch mlp --scene sphere_on_box --out {root}/f --steps -5", 2,
         "argument --steps: must be a finite number >= 1, got -5"),
    Case(10, "--batch-size 0", "fit --arch mlp --scene sphere_on_box --out {root}/f --batch-size 0", 2,
         "argument --batch-size: must be a finite number >= 1"),
    Case(10, "fit --lr -1", "fit --arch mlp --scene sphere_on_box --out {root}/f --lr -1", 2,
         "argument --lr: must be a finite number > 0, got -1"),
    Case(10, "--views 0", "scene sphere_on_box --out {root}/v --views 0", 2,
         "argument --views: must be a finite number >= 1"),
    Case(10, "--k 0", "bench classify {truncated} --k 0", 2,
         "argument --k: must be a finite number >= 1"),
    Case(10, "--epochs 0", "train --data {zoo} --out {root}/t --epochs 0", 2,
         "argument --epochs: must be a finite number >= 1"),
    Case(10, "--pairs-per-batch 0", "train --data {zoo} --out {root}/t --pairs-per-batch 0", 2,
         "argument --pairs-per-batch: must be a finite number >= 1"),
    Case(10, "train --lr nan", "train --data {zoo} --out {root}/t --lr nan", 2,
         "argument --lr: must be a finite number > 0, got nan"),
    Case(10, "--value-noise -1", "train --data {zoo} --out {root}/t --value-noise -1", 2,
         "argument --value-noise: must be a finite number >= 0"),
    Case(10, "--node-probes -2", "train --data {zoo} --out {root}/t2 --node-probes -2", 2,
         "argument --node-probes: must be a finite number >= 0"),
    Case(10, "--max-edges 0", "convert {good} --out {root}/g --max-edges 0", 2,
         "argument --max-edges: must be a finite number >= 1"),
    Case(11, "--arch naming a registered name for a Sequential", "convert {sequential} --arch mlp --out {root}/g", 1,
         "'mlp' is a registered architecture, and this file defines a layout of its own"),
    Case(11, "NaN in the scene box", "render {nan_box} --out {root}/png --views 1 --res 8", 1,
         "nan_box.pt: bad architecture spec: arch 'mlp': scene box must be 6 finite numbers, min < max"),
    Case(11, "random bytes", "convert {random} --out {root}/g_random", 1,
         "random.pt: not a weights-only torch checkpoint (UnpicklingError"),
    Case(12, "--version", "--version", 0,
         "wsrl 0.2.0"),
    Case(12, "--help states defaults", "fit --help", 0,
         "--steps STEPS         default: 2000"),
]  # fmt: skip


@pytest.fixture(scope="module")
def hostile_inputs(tiny_zoo, con_run, tmp_path_factory) -> dict[str, str]:
    return write_hostile_inputs(tmp_path_factory.mktemp("hostile"), tiny_zoo, con_run)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_matrix(case: Case, hostile_inputs, tmp_path, cli):
    """Each case through the CLI: its exit code, its one-line answer, and never a traceback."""
    result = cli(*(a.format(**hostile_inputs) for a in shlex.split(case.args)), cwd=tmp_path)
    assert result.returncode == case.code, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Traceback" not in result.stdout + result.stderr
    if case.code == 1:
        line = next(line for line in result.stdout.splitlines() if line.startswith("FAILED "))
    else:
        line = (result.stderr if case.code else result.stdout).strip().splitlines()[-1 if case.code else 0]
    assert case.says in line or (case.code == 0 and case.says in result.stdout), line
    if case.code == 2 and not case.says.startswith("argument"):
        assert result.stderr.count("\n") == 1 or result.stderr.splitlines()[-1].startswith("error: "), result.stderr
    assert "weights_only=False" not in result.stdout + result.stderr  # never advise unpickling


def test_resume_with_other_settings_writes_nothing(hostile_inputs, tmp_path, cli):
    run = Path(hostile_inputs["run"])
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    args = ("train", "--data", hostile_inputs["zoo"], "--out", str(run), "--resume", "--loss", "rec")
    result = cli(*args, cwd=tmp_path)
    assert result.returncode == 2 and "loss 'rec' (run: 'con')" in result.stderr
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before


def test_fit_killed_in_a_batch_keeps_the_batches_before_and_resumes_to_the_same_weights(tmp_path):
    """kill -9 after the first batch is written: a rerun fits the rest to the weights of an uninterrupted fit;
    a rerun with another architecture is refused, not skipped."""
    args = shlex.split("fit --arch mlp --scene sphere_on_box torus_and_cone --steps 500 --batch-size 1")
    assert wsrl(*args, "--out", str(tmp_path / "whole"), cwd=tmp_path).returncode == 0
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "wsrl", *args, "--out", str(out)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 120
    while not (out / "sphere_on_box.pt").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (out / "sphere_on_box.pt").exists() and not (out / "torus_and_cone.pt").exists()
    result = wsrl(*args, "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0 and "skipping 1 already fitted" in result.stdout
    for name in ("sphere_on_box", "torus_and_cone"):
        a, b = load_nerf(tmp_path / "whole" / f"{name}.pt"), load_nerf(out / f"{name}.pt")
        assert all(torch.equal(a.tensors[k], b.tensors[k]) for k in a.tensors)
    args[2] = "hash"
    result = wsrl(*args, "--out", str(out), cwd=tmp_path)
    assert result.returncode == 2 and "already fitted with other settings: arch 'hash' (file: 'mlp')" in result.stderr


def test_ctrl_c_exits_130_with_one_line_and_keeps_what_was_written(tmp_path):
    out = tmp_path / "fit"
    args = shlex.split("fit --arch mlp --scene sphere_on_box torus_and_cone --steps 2000 --batch-size 1")
    # a shell's background job (`cmd &`) starts with SIGINT ignored, and a child inherits that: give it back
    # its default, as a terminal's Ctrl-C finds it
    proc = subprocess.Popen([sys.executable, "-m", "wsrl", *args, "--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    deadline = time.time() + 120
    while not (out / "sphere_on_box.pt").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == "interrupted; what was written is kept, and a rerun resumes"
    assert load_nerf(out / "sphere_on_box.pt").spec.name == "mlp"


def test_a_full_disk_is_one_line_and_loses_nothing_written(hostile_inputs, tmp_path, monkeypatch, capsys):
    from wsrl.cli.main import main

    out = tmp_path / "graphs"
    assert main(["convert", hostile_inputs["good"], "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    capsys.readouterr()
    assert main(["convert", hostile_inputs["sequential"], "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No space left on device" in err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before  # no temporary files either


def test_convert_into_a_folder_of_its_own_source_tree(hostile_folder, tmp_path):
    for name in ("huge.pt", "integer.pt", "flat_box.pt"):
        (hostile_folder / name).unlink()
    shutil.rmtree(hostile_folder / "bomb")
    out = hostile_folder / "graphs"
    assert "converted 1, skipped 0" in wsrl("convert", str(hostile_folder), "--out", str(out), cwd=tmp_path).stdout
    result = wsrl("convert", str(hostile_folder), "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0 and "FAILED" not in result.stdout
    assert "left out 1 file(s) inside the output folder" in result.stdout and "converted 0, skipped 1" in result.stdout


def test_convert_killed_twice_resumes_to_the_bytes_of_an_uninterrupted_run(tmp_path):
    from wsrl.nerf.archs import get_arch
    from wsrl.nerf.checkpoint import unstack_field
    from wsrl.nerf.fields.field import RadianceField

    src = tmp_path / "src"
    src.mkdir()
    for i, nerf in enumerate(unstack_field(RadianceField.create(get_arch("mlp"), 120, seed=0))):
        save_nerf(src / f"{i:03d}.pt", nerf)
    args = ["convert", str(src), "--shard-size", "1", "--out"]
    assert wsrl(*args, str(tmp_path / "whole"), cwd=tmp_path).returncode == 0
    out = tmp_path / "killed"
    for kills in range(2):
        proc = subprocess.Popen([sys.executable, "-m", "wsrl", *args, str(out)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)  # fmt: skip
        deadline = time.time() + 120
        while len(list(out.glob("shard_*.pt"))) < 30 * (kills + 1) and proc.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert 0 < len(list(out.glob("shard_*.pt"))) < 120  # killed mid-way
    assert wsrl(*args, str(out), cwd=tmp_path).returncode == 0

    def files(folder: Path) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in folder.iterdir() if p.name.startswith(("shard_", "index"))}

    assert files(out) == files(tmp_path / "whole")
