"""Shared fixtures: one tiny zoo (13 classes x 3 objects, the three seen architectures) per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from wsrl.nerf.fit import FitConfig
from wsrl.zoo.build import ZooPreset, build_zoo, plan_zoo

TINY = ZooPreset(
    name="tiny", objects_per_class=3, scale="mini", views=2, res=16,
    fit=FitConfig(steps=10, batch_size=16, pool=2048, progress=False), eval_views=1, eval_res=16, eval_samples=16,
)  # fmt: skip
TINY_ARCHS = ["mlp", "triplane", "hash"]


@pytest.fixture(scope="session")
def tiny_zoo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("zoo") / "tiny"
    report = build_zoo(root, plan_zoo(TINY, 0, TINY_ARCHS), progress=False)
    assert report.objects_done == 39 and report.fits_done == 3 * 3 and report.summary is not None
    return root


@pytest.fixture(scope="session")
def con_run(tiny_zoo, tmp_path_factory) -> Path:
    """A one-epoch ``con`` run on the tiny zoo."""
    from wsrl.train.config import TrainConfig
    from wsrl.train.trainer import train

    out = tmp_path_factory.mktemp("run") / "con"
    train(tiny_zoo, out, TrainConfig(loss="con", epochs=1, pairs_per_batch=4, archs=tuple(TINY_ARCHS)), progress=False)
    return out
