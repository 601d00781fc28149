"""wsrl's field and graph forward against nerfstudio 1.1.5's own outputs (tests/fixtures/nerfstudio).

The fixtures were written by nerfstudio's model code and evaluated by its field in eval mode
(``make_fixtures.py`` regenerates them). Density is compared everywhere, RGB wherever the point lies in
the field's box: outside it nerfstudio zeroes the density and evaluates the colour at the box corner,
a colour no renderer can see.
"""

import shutil
from pathlib import Path

import pytest
import torch
from wsrl.converters import ConversionError, read_checkpoint

from wsrl.graph.build import nerf_to_graph
from wsrl.graph.forward import graph_forward
from wsrl.nerf.checkpoint import stack_fields
from wsrl.nerf.fields.field import raw_to_density_color, unit_cube

FIXTURES = Path(__file__).parent / "fixtures" / "nerfstudio"
RUNS = sorted(p.name for p in FIXTURES.iterdir() if (p / "reference.pt").exists())
EXPECTED_RUNS = {
    "nerfacto_default", "nerfacto_zero_appearance", "nerfacto_no_appearance", "nerfacto_no_contraction",
    "nerfacto_init_density", "instant_ngp", "instant_ngp_bounded",
}  # fmt: skip
TOL = 1e-5  # both evaluate in float32 with the same operations; differences are rounding only


def test_every_configuration_has_a_fixture():
    assert set(RUNS) == EXPECTED_RUNS


def load(run: str):
    ref = torch.load(FIXTURES / run / "reference.pt", weights_only=True)
    nerf = read_checkpoint(FIXTURES / run / "nerfstudio_models" / "step-000000100.ckpt")
    x01 = unit_cube(nerf.spec, ref["points"])
    inside = ((x01 > 0) & (x01 < 1)).all(-1)
    return ref, nerf, inside


def close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    torch.testing.assert_close(actual, expected, rtol=TOL, atol=TOL)


@pytest.mark.parametrize("run", RUNS)
def test_field_matches_nerfstudio(run):
    ref, nerf, inside = load(run)
    density, rgb = stack_fields([nerf]).density_and_color(ref["points"][None], ref["directions"][None])
    close(density[0], ref["density"])
    close(rgb[0][inside], ref["rgb"][inside])
    assert inside.float().mean() > 0.5  # the colour check covers most points


@pytest.mark.parametrize("run", RUNS)
def test_graph_forward_matches_nerfstudio(run):
    ref, nerf, inside = load(run)
    raw = graph_forward(nerf_to_graph(nerf), ref["points"], ref["directions"])
    density, rgb = raw_to_density_color(nerf.spec, raw)
    close(density[inside], ref["density"][inside])
    close(rgb[inside], ref["rgb"][inside])


def test_method_names_the_architecture():
    assert load("nerfacto_default")[1].spec.name == "nerfacto"
    assert load("instant_ngp_bounded")[1].spec.name == "instant-ngp-bounded"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda text: "method_name: nerfacto\npipeline: [1, 2]\n", "'pipeline' must be a mapping, got list"),
        (lambda text: text.replace("method_name: nerfacto", "method_name: 5"), "'method_name' must be a string"),
        (
            lambda text: text.replace("average_init_density: 1.0", "average_init_density: -1.0"),
            "average_init_density must be a positive number",
        ),
        (lambda text: text.replace("num_levels: 4", "num_levels: 5"), "tensor 'field.num_levels' is 4"),
    ],
)
def test_bad_config_is_one_line(tmp_path, edit, message):
    run = tmp_path / "run"
    shutil.copytree(FIXTURES / "nerfacto_default", run)
    config = run / "config.yml"
    config.write_text(edit(config.read_text()))
    with pytest.raises(ConversionError, match=message) as info:
        read_checkpoint(run / "nerfstudio_models" / "step-000000100.ckpt")
    assert "\n" not in str(info.value) and "step-000000100.ckpt" in str(info.value)


def test_bounded_run_needs_its_box(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(FIXTURES / "nerfacto_no_contraction", run)
    ckpt = run / "nerfstudio_models" / "step-000000100.ckpt"
    payload = torch.load(ckpt, weights_only=True)
    del payload["pipeline"]["_model.field.aabb"]
    torch.save(payload, ckpt)
    with pytest.raises(ConversionError, match="tensor 'field.aabb' missing"):
        read_checkpoint(ckpt)
