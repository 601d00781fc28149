"""Shared fixtures: one tiny zoo (13 classes x 3 objects, the three seen architectures) per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from wsrl.fit import FitConfig
from wsrl.zoo import ZooPreset, build_zoo, plan_zoo

TINY = ZooPreset("tiny", 3, "mini", 2, 16, FitConfig(steps=10, batch_size=16, pool=2048, progress=False), 1, 16, 16)
TINY_ARCHS = ["mlp", "triplane", "hash"]


@pytest.fixture(scope="session")
def tiny_zoo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("zoo") / "tiny"
    report = build_zoo(root, plan_zoo(TINY, 0, TINY_ARCHS), progress=False)
    assert report.objects_done == 39 and report.fits_done == 3 * 3 and report.summary is not None
    return root
