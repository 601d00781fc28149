"""The registry and tiny-cuda-nn's documented sizes (docs/formats.md §1.2.3, §1.3)."""

import dataclasses

import pytest

from wsrl.nerf.archs import BENCHMARK_SEEN, SCALES, ArchSpec, get_arch, list_archs, register_arch
from wsrl.nerf.layout import grid_levels, mlp_matrix_shapes, per_level_scale

BENCHMARK = [
    "mlp",
    "triplane",
    "hash",
    "mlp_2layers",
    "mlp_4layers",
    "mlp_128units",
    "mlp_sine",
    "triplane_res16",
    "triplane_feat8",
    "triplane_relu",
    "hash_table11",
    "hash_levels8",
    "hash_feat4",
]


@pytest.mark.parametrize("scale", SCALES)
def test_thirteen_architectures_three_seen(scale):
    assert list_archs(scale) == BENCHMARK
    assert [n for n in BENCHMARK_SEEN if n in list_archs(scale)] == ["mlp", "triplane", "hash"]
    families = {get_arch(n, scale).family for n in BENCHMARK}
    assert families == {"mlp", "triplane", "hash"}


def _mlp_params(shapes):
    return sum(o * i for o, i in shapes)


def test_gmnerf_paper_sizes():
    assert _mlp_params(get_arch("mlp", "paper").mlp_shapes) == 18_432
    assert get_arch("mlp", "paper").mlp_shapes == [(64, 144), (64, 64), (64, 64), (16, 64)]
    assert _mlp_params(get_arch("triplane", "paper").mlp_shapes) == 28_672
    assert get_arch("triplane", "paper").tensor_shapes["planes"] == (3, 32, 32, 16)
    hsh = get_arch("hash", "paper")
    assert _mlp_params(hsh.mlp_shapes) == 10_240
    assert hsh.grid_entries * hsh.hash_features == 32_768
    assert [(lv.resolution, lv.n_entries, lv.hashed) for lv in hsh.grid_levels] == [
        (16, 4096, False),
        (32, 4096, True),
        (64, 4096, True),
        (128, 4096, True),
    ]


def test_nerfstudio_and_kplanes_mlp_counts():
    assert _mlp_params(mlp_matrix_shapes(32, 64, 1, 16)) == 3_072  # nerfacto mlp_base network
    assert _mlp_params(mlp_matrix_shapes(63, 64, 2, 3)) == 9_216  # nerfacto mlp_head
    assert _mlp_params(mlp_matrix_shapes(10, 16, 1, 1)) == 512  # proposal MLP
    assert _mlp_params(mlp_matrix_shapes(96, 64, 1, 16)) == 7_168  # kplanes sigma_net
    assert mlp_matrix_shapes(100, 24, 0, 3, align=8) == [(8, 104)]  # Cutlass, no hidden layer, old padding


def test_nerfacto_hash_grid_size():
    levels = grid_levels(16, 16, per_level_scale(16, 2048, 16), 19)
    assert sum(lv.n_entries for lv in levels) * 2 == 12_196_240
    assert [lv.resolution for lv in levels[:5]] == [16, 23, 31, 43, 59]
    assert [lv.n_entries for lv in levels[:5]] == [4096, 12168, 29792, 79512, 205384]
    assert all(lv.hashed and lv.n_entries == 2**19 for lv in levels[5:])
    assert levels[15].resolution == 2048
    assert levels[15].scale == pytest.approx(2046.9987, abs=2e-3)


@pytest.mark.parametrize("max_res,expected", [(128, 766_528), (256, 860_160)])
def test_nerfacto_proposal_grid_sizes(max_res, expected):
    levels = grid_levels(5, 16, per_level_scale(16, max_res, 5), 17)
    assert sum(lv.n_entries for lv in levels) * 2 == expected


def test_spec_round_trip_and_registration():
    spec = get_arch("hash_levels8", "paper")
    assert ArchSpec.from_dict(spec.to_dict()) == spec
    custom = dataclasses.replace(get_arch("mlp"), name="mlp_custom_test", hidden_width=16)
    register_arch(custom)
    assert get_arch("mlp_custom_test") is custom
    with pytest.raises(ValueError, match="already registered"):
        register_arch(custom)
    with pytest.raises(KeyError, match="unknown architecture"):
        get_arch("nope")
    with pytest.raises(ValueError, match="unknown ArchSpec keys"):
        ArchSpec.from_dict({**spec.to_dict(), "bogus": 1})
