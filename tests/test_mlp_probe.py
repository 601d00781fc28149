"""The paper's MLP probe and the stricter classification protocol (a classifier fitted on seen architectures)."""

from __future__ import annotations

import pytest
import torch

from wsrl.errors import WsrlError
from wsrl.search.mlp_probe import MLPProbeConfig, fit_mlp_probe, probe_accuracy, probe_network, within_class_mixes
from wsrl.search.protocol import classify
from wsrl.search.store import EmbeddingStore


def _blobs(n_per_class: int, seed: int, dim: int = 16, spread: float = 0.3) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    centres = torch.randn(4, dim, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(4).repeat(n_per_class)
    return centres[labels] + spread * torch.randn(len(labels), dim, generator=gen), labels


def test_the_paper_architecture():
    net = probe_network(1024, 13, MLPProbeConfig())
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(1024, 512), (512, 256), (256, 13)]
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in net) == 2
    assert [m.p for m in net if isinstance(m, torch.nn.Dropout)] == [0.5, 0.5]


def test_within_class_mixes_stay_in_their_class():
    x, y = _blobs(5, seed=1)
    mx, my = within_class_mixes(x, y, torch.Generator().manual_seed(0))
    assert torch.equal(mx[: len(y)], x) and torch.equal(my[: len(y)], y) and len(my) == 2 * len(y)
    for row, label in zip(mx[len(y) :], my[len(y) :], strict=True):
        same = x[y == label]
        assert torch.all((row[None] == same).any(0))  # every coordinate from a row of the same class


def test_probe_learns_separable_classes_and_is_seeded():
    x, y = _blobs(40, seed=1)
    xv, yv = _blobs(10, seed=2)
    xt, yt = _blobs(10, seed=3)
    net = fit_mlp_probe(x, y.tolist(), xv, yv.tolist(), 4)
    assert not net.training and probe_accuracy(net, xt, yt.tolist()) >= 0.95
    again = fit_mlp_probe(x, y.tolist(), xv, yv.tolist(), 4)
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), again.state_dict().values(), strict=True))
    shuffled = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(0))]
    noise = fit_mlp_probe(x, shuffled.tolist(), xv, yv.tolist(), 4)
    assert probe_accuracy(noise, xt, yt.tolist()) < 0.7


def _store() -> EmbeddingStore:
    """Two architectures whose class signal sits in different coordinates: each is separable on its own, but a
    classifier fitted on 'a' alone cannot read 'b'."""
    rows, labels, archs, splits, ids = [], [], [], [], []
    for arch, axis in (("a", 0), ("b", 8)):
        for split, n, seed in (("train", 10, 1), ("val", 3, 2), ("test", 5, 3)):
            x, y = _blobs(n, seed, dim=16, spread=0.1)
            z = torch.zeros_like(x)
            z[:, axis : axis + 4] = torch.nn.functional.one_hot(y, 4).float() * 3 + 0.1 * x[:, :4]
            rows.append(z)
            labels += y.tolist()
            archs += [arch] * len(y)
            splits += [split] * len(y)
            ids += [f"{arch}{split}{i}" for i in range(len(y))]
    return EmbeddingStore(torch.cat(rows), ids, labels, archs, splits, {"seen_archs": ["a"]})


@pytest.mark.parametrize("probe", ["knn", "mlp"])
def test_fitting_on_seen_architectures_is_stricter(probe):
    store = _store()
    own = classify(store, probe=probe, mlp=MLPProbeConfig(epochs=60))
    strict = classify(store, probe=probe, fit="seen", mlp=MLPProbeConfig(epochs=60))
    assert own["per_arch"] == pytest.approx({"a": 1.0, "b": 1.0}, abs=0.05)
    assert strict["per_arch"]["a"] == pytest.approx(1.0, abs=0.05) and strict["per_arch"]["b"] <= 0.5
    assert strict["fit"] == "seen" and strict["unseen_mean"] == strict["per_arch"]["b"]
    with pytest.raises(WsrlError, match="fit must be one of"):
        classify(store, fit="all")
