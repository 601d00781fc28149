"""The procedural benchmark zoo: 13 classes of SDF objects, each fitted in every architecture.

A build is planned entirely from ``(preset, seed, init)`` (:func:`plan_zoo`), then done in
*units* that each write their files atomically and mark themselves finished last:

* one **object unit** per object: ``objects/<id>/`` with ``scene.json``, posed renders
  (``train/r_<i>.png``) and ``transforms.json`` (written last);
* one **fit unit** per (block of objects, architecture): ``nerfs/<arch>/<id>.pt`` for the
  block's objects, then ``fits/<arch>/block_<k>.json`` (PSNR per object, time).

A rerun skips finished units, so a killed build resumes where it stopped. ``--shard i/n``
takes every n-th unit; the blocks are fixed by the plan (not by the shard), so the shards
of a build together write exactly the files of a single run. The build that finds every
unit finished writes ``summary.json`` and ``contact_sheet.png``.
"""

from __future__ import annotations

import json
import os
import random
import time
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from wsrl.classes import CLASSES
from wsrl.errors import WsrlError
from wsrl.files import envelope, save_figure, save_json, save_text
from wsrl.nerf.archs import SCENE_AABB, get_arch, list_archs
from wsrl.nerf.checkpoint import save_nerf
from wsrl.nerf.fidelity import TRUTH_CHUNK, ground_truth_views, render_fidelity, render_held_out
from wsrl.nerf.fit import FitConfig, Pool, distill_pool, fit_distill
from wsrl.nerf.render import RenderConfig, portrait_pose, render_images, render_portrait
from wsrl.nerf.views import focal_length, save_views
from wsrl.zoo.folder import MANIFEST_FORMAT, MANIFEST_VERSION, SPLITS, Zoo
from wsrl.zoo.sdf import SceneBatch, SDFScene
from wsrl.zoo.shapes import make_object


@dataclass(frozen=True, kw_only=True)
class ZooPreset:
    """Size of a zoo and how its NeRFs are fitted and checked."""

    name: str
    objects_per_class: int
    scale: str  # architecture scale (``mini`` or ``paper``)
    views: int  # ground-truth renders per object (transforms.json)
    res: int
    fit: FitConfig
    eval_views: int = 2  # held-out renders per NeRF for its PSNR
    eval_res: int = 48
    eval_samples: int = 96
    val_fraction: float = 0.15
    test_fraction: float = 0.25


PRESETS = {
    "demo": ZooPreset(
        name="demo", objects_per_class=5, scale="mini", views=4, res=64,
        fit=FitConfig(steps=250, batch_size=64, pool=1 << 15, progress=False),
        eval_views=1, eval_res=48, eval_samples=64,
    ),
    "mini": ZooPreset(
        name="mini", objects_per_class=32, scale="mini", views=12, res=64,
        fit=FitConfig(steps=600, batch_size=64, pool=1 << 16, progress=False),
        eval_views=1, eval_res=48, eval_samples=96,
    ),
    "paper": ZooPreset(
        name="paper", objects_per_class=100, scale="paper", views=36, res=128,
        fit=FitConfig(steps=2000, batch_size=64, progress=False), eval_views=4, eval_res=64,
    ),
}  # fmt: skip


@dataclass(frozen=True)
class ZooObject:
    """One planned object: id, class, the seed of its shape and its split."""

    id: str
    class_name: str
    label: int
    seed: int
    split: str

    def scene(self) -> SDFScene:
        return make_object(self.class_name, self.seed)


# how the NeRFs of a zoo start: each from its own draw (as every real checkpoint does; the default), or every
# NeRF of an architecture from one draw per architecture (nf2vec's practice, which encoders learn to exploit)
INITS = ("independent", "shared")


@dataclass
class ZooPlan:
    """Everything a build writes, decided before any work: objects, architectures, fit blocks."""

    preset: ZooPreset
    seed: int
    archs: list[str]
    objects: list[ZooObject]
    blocks: list[list[int]] = field(default_factory=list)  # object indices fitted together
    init: str = INITS[0]

    def unit_seed(self, arch: str, block: int | None = None) -> int:
        """A seed of this zoo, architecture and fit block (``None``: of the architecture alone), stable
        across processes and shards."""
        return zlib.crc32(f"{self.seed}/{arch}/{'init' if block is None else block}".encode())

    def fit_units(self) -> list[tuple[int, str]]:
        return [(k, arch) for k in range(len(self.blocks)) for arch in self.archs]


def _split_counts(n: int, preset: ZooPreset) -> tuple[int, int]:
    n_test = max(1, round(n * preset.test_fraction))
    n_val = max(1, round(n * preset.val_fraction))
    if n_test + n_val >= n:
        raise WsrlError(f"preset {preset.name!r}: {n} objects per class leave no training objects")
    return n_val, n_test


def plan_zoo(
    preset: ZooPreset, seed: int = 0, archs: Sequence[str] | None = None, init: str = INITS[0]
) -> ZooPlan:  # fmt: skip
    """The objects of a build (class-major, ids ``<class>_<i>``), their splits and fit blocks."""
    if init not in INITS:
        raise WsrlError(f"zoo initialisation must be one of {INITS}, got {init!r}")
    archs = list(archs) if archs else list_archs(preset.scale)
    for name in archs:
        get_arch(name, preset.scale)  # unknown names fail before any work
    n = preset.objects_per_class
    n_val, n_test = _split_counts(n, preset)
    objects = []
    for label, name in enumerate(CLASSES):
        order = list(range(n))
        random.Random(f"split/{seed}/{name}").shuffle(order)
        split_of = {i: "test" if r < n_test else "val" if r < n_test + n_val else "train" for r, i in enumerate(order)}
        objects += [ZooObject(f"{name}_{i:04d}", name, label, seed * 1_000_003 + i, split_of[i]) for i in range(n)]
    n_blocks = -(-len(objects) // preset.fit.batch_size)  # equal blocks, none much smaller than the rest
    blocks = [list(range(len(objects)))[k::n_blocks] for k in range(n_blocks)]
    return ZooPlan(preset, seed, archs, objects, blocks, init)


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` with ``0 <= i < n``."""
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise WsrlError(f"--shard expects i/n (e.g. 0/4), got {text!r}") from None
    if not 0 <= i < n:
        raise WsrlError(f"--shard {text}: need 0 <= i < n")
    return i, n


def _manifest(plan: ZooPlan) -> dict:
    return envelope(MANIFEST_FORMAT, MANIFEST_VERSION, {
        "preset": asdict(plan.preset),
        "seed": plan.seed,
        "init": plan.init,
        "archs": plan.archs,
        "classes": list(CLASSES),
        "objects": [asdict(o) for o in plan.objects],
        "blocks": plan.blocks,
    })  # fmt: skip


def _object_unit(zoo: Zoo, plan: ZooPlan, obj: ZooObject) -> None:
    folder = zoo.object_dir(obj.id)
    scene = obj.scene()
    save_json(folder / "scene.json", scene.to_dict())
    views = ground_truth_views(SceneBatch([scene]), plan.preset.views, plan.preset.res)
    save_views(folder, views, "train")  # transforms.json last: marks the object done


def _block_pools(plan: ZooPlan, block: list[int]) -> list[Pool]:
    """Distillation points of each object, seeded by the object alone (same in every shard)."""
    pools = []
    for i in block:
        obj = plan.objects[i]
        gen = torch.Generator().manual_seed(obj.seed)
        pools.append(distill_pool(obj.scene().density_and_color, SCENE_AABB, plan.preset.fit.pool, gen))
    return pools


def fit_config(plan: ZooPlan, block: int, arch: str) -> FitConfig:
    """The preset's fitting settings for one unit: its own seed, and with shared initialisation the
    architecture's initialisation seed."""
    init_seed = plan.unit_seed(arch) if plan.init == "shared" else None
    return FitConfig(**{**asdict(plan.preset.fit), "seed": plan.unit_seed(arch, block), "init_seed": init_seed})


def _fit_unit(zoo: Zoo, plan: ZooPlan, block: int, arch: str, pools: list[Pool], truth: torch.Tensor) -> None:
    preset, idx = plan.preset, plan.blocks[block]
    spec = get_arch(arch, preset.scale)
    objs = [plan.objects[i] for i in idx]
    cfg = fit_config(plan, block, arch)
    metas = [{"object_id": o.id, "class": o.class_name, "class_label": o.label, "split": o.split} for o in objs]
    start = time.time()
    nerfs = fit_distill(spec, pools, cfg, metas)
    fit_time = time.time() - start
    scores = render_fidelity(nerfs, truth, preset.eval_views, preset.eval_res, preset.eval_samples).psnr
    for nerf, score in zip(nerfs, scores.tolist(), strict=True):
        nerf.meta["psnr"] = score
        save_nerf(zoo.nerf_path(arch, nerf.meta["object_id"]), nerf)
    psnrs = {o.id: s for o, s in zip(objs, scores.tolist(), strict=True)}
    record = {"arch": arch, "block": block, "fit_seconds": fit_time, "psnr": psnrs}
    save_json(zoo.block_record(arch, block), record)


@dataclass
class BuildReport:
    """What one build call did and, when the zoo is complete, its summary."""

    objects_done: int = 0
    fits_done: int = 0
    skipped: int = 0
    seconds: float = 0.0
    summary: dict | None = None


def build_zoo(
    out: str | os.PathLike, plan: ZooPlan, shard: tuple[int, int] = (0, 1), progress: bool = True
) -> BuildReport:
    """Build (or resume) this shard's units of ``plan`` under ``out``."""
    zoo, (i, n) = Zoo(out), shard
    start = time.time()
    report = BuildReport()
    manifest = _manifest(plan)
    if (zoo.root / "manifest.json").exists() and zoo.manifest() != manifest:
        raise WsrlError(f"{zoo.root}: holds a different zoo (preset, seed, init or archs differ); use another --out")
    save_json(zoo.root / "manifest.json", manifest)
    for split in SPLITS:
        save_text(zoo.root / f"{split}.txt", "".join(f"{o.id}\n" for o in plan.objects if o.split == split))

    object_units = [o for k, o in enumerate(plan.objects) if k % n == i]
    fit_units = [u for k, u in enumerate(plan.fit_units()) if k % n == i]
    todo_objects = [o for o in object_units if not (zoo.object_dir(o.id) / "transforms.json").exists()]
    todo_fits = [(b, a) for b, a in fit_units if not zoo.block_record(a, b).exists()]
    report.skipped = len(object_units) - len(todo_objects) + len(fit_units) - len(todo_fits)
    bar = tqdm(total=len(todo_objects) + len(todo_fits), desc="zoo", unit="unit", disable=not progress)
    for obj in todo_objects:
        bar.set_postfix_str(f"renders {obj.id}")
        _object_unit(zoo, plan, obj)
        report.objects_done += 1
        bar.update()
    for block in sorted({b for b, _ in todo_fits}):
        pools = _block_pools(plan, plan.blocks[block])
        scenes = SceneBatch([plan.objects[k].scene() for k in plan.blocks[block]])
        p = plan.preset
        cfg = RenderConfig(p.eval_samples, chunk=TRUTH_CHUNK)
        truth = render_held_out(scenes, len(scenes.scenes), p.eval_views, p.eval_res, cfg)
        for arch in [a for b, a in todo_fits if b == block]:
            bar.set_postfix_str(f"fit {arch} block {block}")
            _fit_unit(zoo, plan, block, arch, pools, truth)
            report.fits_done += 1
            bar.update()
    bar.close()
    if all(zoo.block_record(a, b).exists() for b, a in plan.fit_units()) and all(
        (zoo.object_dir(o.id) / "transforms.json").exists() for o in plan.objects
    ):
        report.summary = summarise(zoo, plan)
        contact_sheet(zoo, plan)
    report.seconds = time.time() - start
    return report


def summarise(zoo: Zoo, plan: ZooPlan) -> dict:
    """Counts, PSNR (mean and worst) and fitting time per architecture, from the block records."""
    per_arch = {}
    for arch in plan.archs:
        records = [json.loads(zoo.block_record(arch, b).read_text()) for b in range(len(plan.blocks))]
        scores = [s for r in records for s in r["psnr"].values()]
        worst = min(scores)
        per_arch[arch] = {
            "nerfs": len(scores),
            "psnr_mean": sum(scores) / len(scores),
            "psnr_worst": worst,
            "worst_object": next(k for r in records for k, v in r["psnr"].items() if v == worst),
            "fit_seconds": sum(r["fit_seconds"] for r in records),
        }
    splits = {s: sum(o.split == s for o in plan.objects) for s in SPLITS}
    summary = {"preset": plan.preset.name, "seed": plan.seed, "objects": len(plan.objects), "splits": splits}
    summary["archs"] = per_arch
    save_json(zoo.root / "summary.json", summary)
    return summary


def contact_sheet(zoo: Zoo, plan: ZooPlan, per_class: int = 5) -> Path:
    """A picture: ``per_class`` ground-truth objects per class, then one object in every architecture
    (at the preset's render resolution)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = plan.preset.res
    pose, focal, cfg = portrait_pose(), focal_length(res), RenderConfig(96, chunk=TRUTH_CHUNK)
    shown = {c: [o for o in plan.objects if o.class_name == c][:per_class] for c in CLASSES}
    cols = max(per_class, len(plan.archs) + 1)
    fig, axes = plt.subplots(len(CLASSES) + 1, cols, figsize=(cols * 1.1, (len(CLASSES) + 1) * 1.15))
    for ax in axes.flat:
        ax.axis("off")
    for r, (name, objs) in enumerate(shown.items()):
        scenes = SceneBatch([o.scene() for o in objs])
        imgs = render_images(scenes, len(objs), pose, res, res, focal, SCENE_AABB, cfg)[:, 0]
        for c, img in enumerate(imgs):
            axes[r, c].imshow(img.numpy())
        axes[r, 0].set_title(name, fontsize=7, loc="left")
    obj = plan.objects[0]
    gt = render_images(SceneBatch([obj.scene()]), 1, pose, res, res, focal, SCENE_AABB, cfg)[0, 0]
    row = axes[len(CLASSES)]
    row[0].imshow(gt.numpy())
    row[0].set_title(f"{obj.id} GT", fontsize=6)
    for c, arch in enumerate(plan.archs, start=1):
        nerf = zoo.load(arch, obj.id)
        row[c].imshow(render_portrait(nerf, res).numpy())
        row[c].set_title(f"{arch}\n{nerf.meta['psnr']:.1f} dB", fontsize=5)
    fig.tight_layout(pad=0.2)
    return save_figure(zoo.root / "contact_sheet.png", fig)
