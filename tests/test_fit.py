"""Fitting quality (the foundation issue's acceptance) and determinism."""

import dataclasses

import pytest
import torch

from wsrl.nerf.archs import BENCHMARK_SEEN, get_arch, list_archs
from wsrl.nerf.fidelity import ground_truth_views, render_fidelity
from wsrl.nerf.fit import FitConfig, batch_config, batches, fit_distill, fit_photometric
from wsrl.zoo.sdf import SceneBatch, sphere_on_box

SCENE = sphere_on_box()


@pytest.mark.parametrize("name", list_archs("mini"))
def test_field_distillation_reaches_28db(name):
    """Default settings, every mini architecture, held-out views never seen while fitting."""
    nerfs = fit_distill(get_arch(name), [SCENE.density_and_color], FitConfig(progress=False))
    score = render_fidelity(nerfs, SceneBatch([SCENE])).psnr.item()
    assert score >= 28.0, f"{name}: {score:.2f} dB"


@pytest.fixture(scope="module")
def training_views():
    return ground_truth_views(SceneBatch([SCENE]))


@pytest.mark.parametrize("name", BENCHMARK_SEEN)
def test_photometric_reaches_25db(name, training_views):
    cfg = FitConfig(steps=400, rays=512, n_samples=48, progress=False)  # 30-37 dB at 400 steps (measured)
    nerfs = fit_photometric(get_arch(name), [training_views], cfg)
    score = render_fidelity(nerfs, SceneBatch([SCENE])).psnr.item()
    assert score >= 25.0, f"{name}: {score:.2f} dB"


def test_same_seed_same_weights_and_batch_independence():
    cfg = FitConfig(steps=30, batch_size=2, pool=4096, progress=False)
    targets = [SCENE.density_and_color] * 3  # 2 batches: [0, 1] and [2]
    a = fit_distill(get_arch("hash"), targets, cfg)
    b = fit_distill(get_arch("hash"), targets, cfg)
    for x, y in zip(a, b, strict=True):
        assert all(torch.equal(x.tensors[k], y.tensors[k]) for k in x.tensors)
    c = fit_distill(get_arch("hash"), targets, FitConfig(steps=30, batch_size=2, pool=4096, seed=1, progress=False))
    assert not torch.equal(a[0].tensors["grid"], c[0].tensors["grid"])
    assert not torch.equal(a[0].tensors["grid"], a[1].tensors["grid"])  # different init per NeRF
    for part in batches(len(targets), cfg):  # each batch alone, as a resumed fit runs it, gives the same weights
        alone = fit_distill(get_arch("hash"), targets[part], batch_config(cfg, part))
        for x, y in zip(a[part], alone, strict=True):
            assert all(torch.equal(x.tensors[k], y.tensors[k]) for k in x.tensors)


def test_fitting_reads_density_from_the_spec_and_refuses_colour_heads():

    spec = dataclasses.replace(
        get_arch("mlp"), name="mlp_density_last", n_outputs=5, density_index=4, density_shift=0.0
    )
    (nerf,) = fit_distill(spec, [SCENE.density_and_color], FitConfig(steps=300, pool=8192, progress=False))
    assert render_fidelity([nerf], SceneBatch([SCENE])).psnr.item() > 20.0  # trained through output 4
    with pytest.raises(ValueError, match="density_index >= 3"):
        dataclasses.replace(spec, density_index=0)
    head = dataclasses.replace(get_arch("hash"), name="with_head", head_layers=1, n_outputs=16)
    with pytest.raises(ValueError, match="colour head"):
        fit_distill(head, [SCENE.density_and_color], FitConfig(steps=1, progress=False))
