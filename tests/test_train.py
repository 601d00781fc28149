"""Training: losses run end to end, resume is bit-exact, torchrun (gloo) works on CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from wsrl.train import TrainConfig, load_encoder, load_run, train

TINY_TRAIN = dict(epochs=2, pairs_per_batch=4, rays=32, samples=8, archs=("mlp", "triplane", "hash"))


@pytest.mark.parametrize("loss", ["rec", "con", "rec+con"])
def test_each_loss_trains_and_writes_a_run(tiny_zoo, tmp_path, loss):
    out = tmp_path / "run"
    rows = train(tiny_zoo, out, TrainConfig(loss=loss, **TINY_TRAIN), progress=False)
    assert [r["epoch"] for r in rows] == [1, 2]
    assert all(k in rows[0] for k in ("train_loss", "val_loss", "val_recall@1", "lr"))
    assert ("train_rec" in rows[0]) == ("rec" in loss) and ("train_con" in rows[0]) == ("con" in loss)
    assert (out / "metrics.csv").read_text().count("\n") == 3
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    assert json.loads((out / "config.json").read_text())["train"]["loss"] == loss
    assert ((out / "renders" / "epoch_0002.png").exists()) == ("rec" in loss)
    assert load_run(out / "best.pt")["epoch"] in (0, 1)
    encoder = load_encoder(out)
    assert not encoder.training


def test_resume_is_bit_exact(tiny_zoo, tmp_path):
    cfg = TrainConfig(loss="rec+con", **TINY_TRAIN)
    train(tiny_zoo, tmp_path / "straight", cfg, progress=False)
    train(tiny_zoo, tmp_path / "sliced", cfg, progress=False, until_epoch=1)
    assert load_run(tmp_path / "sliced" / "last.pt")["epoch"] == 0
    with pytest.raises(ValueError, match="--resume"):
        train(tiny_zoo, tmp_path / "sliced", cfg, progress=False)
    train(tiny_zoo, tmp_path / "sliced", cfg, progress=False, resume=True)
    a = load_run(tmp_path / "straight" / "last.pt")["model"]
    b = load_run(tmp_path / "sliced" / "last.pt")["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    rows = [json.loads(line) for line in (tmp_path / "sliced" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]


def test_torchrun_two_ranks_on_cpu(tiny_zoo, tmp_path):
    import socket

    out = tmp_path / "ddp"
    with socket.socket() as s:  # a free port: a fixed one may still be held by an earlier run
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={port}", "-m", "wsrl"]
    cmd += ["train", "--data", str(tiny_zoo), "--loss", "con", "--out", str(out), "--epochs", "1"]
    cmd += ["--pairs-per-batch", "3", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["step"] == 2  # 13 train objects, 3 pairs a batch: 4 batches, 2 per rank
    assert load_run(out / "last.pt")["epoch"] == 0


def test_embed_and_bench_cli(tiny_zoo, tmp_path, capsys):
    from wsrl.cli import main
    from wsrl.index import EmbeddingStore

    emb = tmp_path / "emb.pt"
    assert main(["embed", "--untrained", "--data", str(tiny_zoo), "--out", str(emb)]) == 0
    store = EmbeddingStore.load(emb)
    assert store.embeddings.shape == (39 * 3, 128) and store.archs == ["mlp", "triplane", "hash"]
    assert store.select("hash", "test").object_id == [line for line in (tiny_zoo / "test.txt").read_text().split()]
    assert main(["bench", "classify", str(emb), "--json", str(tmp_path / "c.json")]) == 0
    result = json.loads((tmp_path / "c.json").read_text())
    assert set(result["per_arch"]) == {"mlp", "triplane", "hash"} and result["unseen_mean"] is None
    assert main(["bench", "retrieve", str(emb), "--json", str(tmp_path / "r.json")]) == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert len(result["pairs"]) == 9 and result["pairs"]["mlp->mlp"]["recall@1"] == 1.0  # same NeRFs: exact match
    assert 0.0 <= result["cross_arch_recall@1_mean"] <= 1.0
    assert main(["embed", "--ckpt", str(tiny_zoo / "nothing"), "--data", str(tiny_zoo), "--out", str(emb)]) == 2
    assert "nothing" in capsys.readouterr().err
