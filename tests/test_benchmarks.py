"""The benchmark scripts that produce README numbers: seeds table and held-out robustness."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import torch

from wsrl.graph.collection import GraphCollection
from wsrl.nerf.checkpoint import load_nerf

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_robustness_refits_the_test_objects_from_fresh_initialisations(tiny_zoo, con_run, tmp_path, monkeypatch):
    from conftest import TINY

    from wsrl.zoo import build as zoo_build

    robustness = _script("robustness")
    monkeypatch.setitem(zoo_build.PRESETS, "tiny", TINY)
    out = tmp_path / "robust"
    monkeypatch.setattr(sys, "argv", ["robustness", "--zoo", str(tiny_zoo), "--ckpt", str(con_run), "--out", str(out)])
    robustness.main()
    zoo, refit = GraphCollection(tiny_zoo), GraphCollection(out / "refit")
    assert refit.ids() == zoo.ids("test") and refit.archs == zoo.archs
    for arch in zoo.archs:  # same object, new initialisation: different weights
        for e in refit.select(arch):
            twin = next(z for z in zoo.select(arch) if z.id == e.id)
            a, b = load_nerf(e.source).tensors, load_nerf(twin.source).tensors
            assert any(not torch.equal(a[k], b[k]) for k in a)
    results = json.loads((out / "robustness.json").read_text())["results"]
    assert set(results) == {"trained", "untrained", "weight_statistics", "probe"}
    for r in results.values():
        assert all(0.0 <= v <= 1.0 for v in r.values()) and set(r) == {
            "twin_recall@1", "class_accuracy", "cross_arch_recall@1"}  # fmt: skip
    assert "| probe |" in (out / "robustness.md").read_text()


def test_seeds_table_means_and_spreads(tmp_path):
    seeds_table = _script("seeds_table")
    runs = []
    for i, acc in enumerate((0.5, 0.7)):
        r = {"knn_accuracy": {"seen_mean": acc, "unseen_mean": acc / 2},
             "retrieval": {"cross_arch_recall@1_mean": acc, "cross_arch_recall@5_mean": 1.0,
                           "seen_cross_arch_recall@1_mean": None}}  # fmt: skip
        (tmp_path / f"r{i}").mkdir()
        (tmp_path / f"r{i}" / "results.json").write_text(json.dumps({**r, "baselines": {"probe": r}}))
        runs.append(tmp_path / f"r{i}")
    text = seeds_table.table(runs)
    assert "| trained | 60.0 ± 14.1 | 30.0 ± 7.1 | 0.600 ± 0.141 | 1.000 ± 0.000 | nan ± nan |" in text
    assert "MLP" not in text  # columns no report has are left out
