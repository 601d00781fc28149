"""The procedural zoo: class generators, plans and splits, resumable and sharded builds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import TINY
from conftest import TINY_ARCHS as ARCHS

from wsrl.classes import CLASSES
from wsrl.cli.main import main
from wsrl.nerf.archs import get_arch
from wsrl.nerf.checkpoint import load_nerf
from wsrl.nerf.fit import initial_field
from wsrl.zoo.build import PRESETS, build_zoo, fit_config, parse_shard, plan_zoo
from wsrl.zoo.folder import Zoo
from wsrl.zoo.sdf import occupancy_grid
from wsrl.zoo.shapes import GENERATORS, make_object


def test_one_generator_per_class():
    assert set(GENERATORS) == set(CLASSES)


@pytest.mark.parametrize("name", CLASSES)
def test_objects_are_seeded_varied_and_inside_the_box(name):
    a, b = make_object(name, 0), make_object(name, 1)
    assert a.to_dict() == make_object(name, 0).to_dict()
    assert a.to_dict()["parts"] != b.to_dict()["parts"]
    occ = occupancy_grid(a, 48).reshape(48, 48, 48)
    assert occ.sum() > 8, "object too small to see"
    border = torch.cat([occ[0].flatten(), occ[-1].flatten(), occ[:, 0].flatten(), occ[:, -1].flatten()])
    assert border.sum() == 0 and occ[:, :, 0].sum() == 0 and occ[:, :, -1].sum() == 0, "object touches the box"


def test_colours_do_not_depend_on_class():
    """Main colours of many objects per class: every class spans the same hue range."""
    import colorsys

    for name in CLASSES:
        hues = [colorsys.rgb_to_hsv(*make_object(name, s).parts[0].color)[0] for s in range(40)]
        assert min(hues) < 0.2 and max(hues) > 0.8, name


def test_plan_splits_are_disjoint_per_class_and_seeded():
    plan = plan_zoo(PRESETS["mini"], seed=3)
    assert len(plan.objects) == 13 * 32
    assert len({o.id for o in plan.objects}) == len(plan.objects)
    for name in CLASSES:
        splits = [o.split for o in plan.objects if o.class_name == name]
        assert splits.count("test") == 8 and splits.count("val") == 5 and splits.count("train") == 19
    again = plan_zoo(PRESETS["mini"], seed=3)
    assert again.objects == plan.objects
    assert [o.split for o in plan_zoo(PRESETS["mini"], seed=4).objects] != [o.split for o in plan.objects]
    assert sorted(i for b in plan.blocks for i in b) == list(range(len(plan.objects)))


def test_parse_shard():
    assert parse_shard("1/3") == (1, 3)
    for bad in ("3/3", "x", "1/0"):
        with pytest.raises(ValueError, match="shard"):
            parse_shard(bad)


def _files(root: Path, skip_timed: bool) -> dict[str, bytes]:
    """Every file the build wrote under ``root`` (not ``cache/``, which training adds); with ``skip_timed``
    the files that record wall-clock times are left out."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        timed = rel.startswith("fits/") or rel == "summary.json"
        if p.is_file() and not rel.startswith("cache/") and not (skip_timed and timed):
            out[rel] = p.read_bytes()
    return out


def test_build_layout_and_metadata(tiny_zoo):
    zoo = Zoo(tiny_zoo)
    manifest = zoo.manifest()
    assert manifest["archs"] == ARCHS and len(manifest["objects"]) == 39
    test_ids = (tiny_zoo / "test.txt").read_text().split()
    assert len(test_ids) == 13 and all(o["split"] == "test" for o in manifest["objects"] if o["id"] in test_ids)
    obj = manifest["objects"][0]
    transforms = json.loads((zoo.object_dir(obj["id"]) / "transforms.json").read_text())
    assert len(transforms["frames"]) == 2
    nerf = load_nerf(zoo.nerf_path("hash", obj["id"]))
    assert nerf.meta["object_id"] == obj["id"] and nerf.meta["class_label"] == obj["label"]
    assert nerf.meta["split"] == obj["split"] and "psnr" in nerf.meta
    summary = json.loads((tiny_zoo / "summary.json").read_text())
    assert summary["archs"]["mlp"]["nerfs"] == 39 and summary["splits"] == {"train": 13, "val": 13, "test": 13}
    assert (tiny_zoo / "contact_sheet.png").stat().st_size > 1000


def test_same_seed_is_byte_identical_and_shards_add_up(tiny_zoo, tmp_path):
    sharded = tmp_path / "sharded"
    plan = plan_zoo(TINY, 0, ARCHS)
    first = build_zoo(sharded, plan, (0, 2), progress=False)
    assert first.summary is None and first.objects_done == 20 and first.fits_done == 5
    assert not (sharded / "contact_sheet.png").exists()
    second = build_zoo(sharded, plan, (1, 2), progress=False)
    assert second.objects_done == 19 and second.fits_done == 4 and second.summary is not None
    assert _files(sharded, skip_timed=True) == _files(tiny_zoo, skip_timed=True)


def test_resume_redoes_only_unfinished_units(tiny_zoo, tmp_path):
    import shutil

    root = tmp_path / "resumed"
    shutil.copytree(tiny_zoo, root)
    zoo, plan = Zoo(root), plan_zoo(TINY, 0, ARCHS)
    lost_object = plan.objects[5].id
    (zoo.object_dir(lost_object) / "transforms.json").unlink()  # killed before the object's last write
    zoo.block_record("mlp", 1).unlink()  # killed before the block was marked done
    (root / "nerfs" / "mlp" / ".half-written.pt.tmp").write_bytes(b"junk")  # what a kill mid-write leaves
    report = build_zoo(root, plan, progress=False)
    assert (report.objects_done, report.fits_done, report.skipped) == (1, 1, 39 + 9 - 2)
    assert (
        _files(root, skip_timed=True).keys() - {"nerfs/mlp/.half-written.pt.tmp"}
        == _files(tiny_zoo, skip_timed=True).keys()
    )
    assert load_nerf(zoo.nerf_path("mlp", plan.objects[1].id)).tensors.keys()


def test_a_different_zoo_in_the_same_folder_is_refused(tiny_zoo):
    with pytest.raises(ValueError, match="different zoo"):
        build_zoo(tiny_zoo, plan_zoo(TINY, 1, ARCHS), progress=False)
    with pytest.raises(ValueError, match="different zoo"):
        build_zoo(tiny_zoo, plan_zoo(TINY, 0, ARCHS, init="shared"), progress=False)


def test_independent_init_draws_every_nerf_apart_and_shared_one_per_arch(tiny_zoo):
    """The default zoo starts each NeRF from its own draw, as real checkpoints are; ``shared`` starts every NeRF
    of an architecture from one draw, a different one per architecture (the hash variants share MLP shapes)."""
    assert Zoo(tiny_zoo).manifest()["init"] == "independent"
    independent, shared = plan_zoo(TINY, 0, ARCHS), plan_zoo(TINY, 0, ARCHS, init="shared")
    cfgs = {(b, a): fit_config(independent, b, a) for b in range(len(independent.blocks)) for a in ARCHS}
    assert all(c.init_seed is None for c in cfgs.values())
    assert len({c.seed for c in cfgs.values()}) == len(cfgs)  # every unit its own draws
    shared_seeds = {a: {fit_config(shared, b, a).init_seed for b in range(len(shared.blocks))} for a in ARCHS}
    assert all(len(s) == 1 for s in shared_seeds.values()) and len(set.union(*shared_seeds.values())) == len(ARCHS)
    spec = get_arch("mlp", TINY.scale)
    fields = [initial_field(spec, 3, fit_config(p, 0, "mlp"), 0) for p in (independent, shared)]
    assert not torch.equal(fields[0].mlp[0][0], fields[0].mlp[0][1])
    assert torch.equal(fields[1].mlp[0][0], fields[1].mlp[0][1])
    with pytest.raises(ValueError, match="initialisation must be one of"):
        plan_zoo(TINY, 0, ARCHS, init="nope")


def test_cli_rejects_unknown_archs(tmp_path, capsys):
    assert main(["zoo", "build", "--size", "demo", "--out", str(tmp_path / "z"), "--archs", "nope"]) == 2
    assert "unknown architecture 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "z").exists()
