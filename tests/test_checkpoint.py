"""wsrl checkpoints: weights-only, atomic, validated."""

import pickle

import pytest
import torch

from wsrl.nerf.archs import get_arch
from wsrl.nerf.checkpoint import load_nerf, save_nerf, unstack_field
from wsrl.nerf.fields.field import RadianceField


@pytest.fixture
def nerf():
    return unstack_field(RadianceField.create(get_arch("triplane"), 1, seed=7), [{"object_id": "a"}])[0]


def test_round_trip_weights_only(tmp_path, nerf):
    path = save_nerf(tmp_path / "a.pt", nerf)
    raw = torch.load(path, weights_only=True)  # must not need any unpickling of code
    assert raw["format"] == "wsrl.nerf" and raw["spec"]["name"] == "triplane"
    back = load_nerf(path)
    assert back.spec == nerf.spec and back.meta == {"object_id": "a"}
    assert all(torch.equal(back.tensors[k], nerf.tensors[k]) for k in nerf.tensors)
    assert [p.name for p in tmp_path.iterdir()] == ["a.pt"]  # no temp file left


class _Evil:
    def __reduce__(self):
        return (exec, ("raise SystemExit('executed')",))


def test_refuses_pickled_code(tmp_path):
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"x": _Evil()}, f)
    with pytest.raises(ValueError, match="evil.pt: cannot read as a weights-only torch file"):
        load_nerf(path)


@pytest.mark.parametrize(
    "corrupt,message",
    [
        (lambda p: p["tensors"].pop("planes"), "tensor 'planes' missing"),
        (lambda p: p["tensors"].__setitem__("mlp.0", torch.zeros(3, 3)), r"tensor 'mlp.0' has shape \(3, 3\)"),
        (lambda p: p["tensors"]["mlp.1"].__setitem__((0, 0), float("nan")), "tensor 'mlp.1' contains NaN"),
        (lambda p: p["spec"].__setitem__("family", "voxels"), "unknown family"),
        (lambda p: p.__setitem__("format", "other"), "not a wsrl NeRF checkpoint"),
    ],
)
def test_bad_checkpoints_name_file_and_tensor(tmp_path, nerf, corrupt, message):
    path = save_nerf(tmp_path / "bad.pt", nerf)
    payload = torch.load(path, weights_only=True)
    corrupt(payload)
    torch.save(payload, path)
    with pytest.raises(ValueError, match=message) as info:
        load_nerf(path)
    assert "bad.pt" in str(info.value)


def test_truncated_file(tmp_path, nerf):
    path = save_nerf(tmp_path / "cut.pt", nerf)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="cut.pt"):
        load_nerf(path)


def test_a_nerf_cut_from_a_batch_saves_only_its_own_tensors(tmp_path):
    from wsrl.nerf.archs import get_arch
    from wsrl.nerf.checkpoint import save_nerf, unstack_field
    from wsrl.nerf.fields.field import RadianceField

    spec = get_arch("hash")
    nerf = unstack_field(RadianceField.create(spec, 16, seed=0))[3]
    path = save_nerf(tmp_path / "one.pt", nerf)
    assert path.stat().st_size < 1.5 * spec.n_params * 4 + 20_000  # not the 16-NeRF storage behind the views
