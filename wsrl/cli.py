"""The ``wsrl`` command: one entry point, one subcommand per job."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from wsrl.archs import SCALES, get_arch, list_archs
from wsrl.atomic import save_png
from wsrl.converters import FORMATS, find_checkpoints
from wsrl.eval import PROBES
from wsrl.fidelity import HELD_OUT_OFFSET, ground_truth_views
from wsrl.fit import FitConfig, fit_distill, fit_photometric
from wsrl.nerf import load_nerf, save_nerf, stack_fields
from wsrl.render import RenderConfig, image_grid, psnr, render_images
from wsrl.sdf import TEST_SCENES, SceneBatch
from wsrl.views import PosedViews, focal_length, load_views, save_views, sphere_poses


def cmd_archs(args: argparse.Namespace) -> int:
    """Print the registry at one scale."""
    print(f"{'name':<16}{'family':<10}{'split':<8}{'params':>10}  tensors")
    for name in list_archs(args.scale):
        spec = get_arch(name, args.scale)
        shapes = ", ".join(f"{k}{list(v)}" for k, v in spec.tensor_shapes.items())
        print(f"{name:<16}{spec.family:<10}{'seen' if spec.seen else 'unseen':<8}{spec.n_params:>10,}  {shapes}")
    return 0


def _scene_views(name: str, n_views: int, res: int, offset: float = 0.0) -> PosedViews:
    """Ground-truth renders of a built-in test scene."""
    return ground_truth_views(SceneBatch([TEST_SCENES[name]()]), n_views, res, offset)


def cmd_scene(args: argparse.Namespace) -> int:
    """Write ground-truth views of a built-in scene in the transforms.json layout."""
    save_views(args.out, _scene_views(args.name, args.views, args.res), "train")
    save_views(args.out, _scene_views(args.name, args.test_views, args.res, HELD_OUT_OFFSET), "test")
    print(f"wrote {args.views} train + {args.test_views} test views of {args.name!r} to {args.out}")
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    """Fit one NeRF per scene (distillation) or per views folder (photometric)."""
    spec = get_arch(args.arch, args.scale)
    out = Path(args.out)
    sources = args.scene or args.views
    ids = [Path(s).name for s in sources]
    if len(set(ids)) != len(ids):
        print("error: two sources share a name; outputs would collide", file=sys.stderr)
        return 2
    todo = [(s, i) for s, i in zip(sources, ids, strict=True) if args.overwrite or not (out / f"{i}.pt").exists()]
    if len(todo) < len(sources):
        print(f"skipping {len(sources) - len(todo)} already fitted (use --overwrite to refit)")
    cfg = FitConfig(
        steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed, points=args.points, rays=args.rays
    )
    start = time.time()
    metas = [{"object_id": i, "source": s, "mode": "distill" if args.scene else "photometric"} for s, i in todo]
    if args.scene:
        targets = [TEST_SCENES[s]().density_and_color for s, _ in todo]
        nerfs = fit_distill(spec, targets, cfg, metas)
    else:
        views = [load_views(s, "train") for s, _ in todo]
        nerfs = fit_photometric(spec, views, cfg, metas=metas)
    elapsed = time.time() - start
    for (source, ident), nerf in zip(todo, nerfs, strict=True):
        if args.render:
            held_out = _scene_views(source, 8, 64, HELD_OUT_OFFSET) if args.scene else load_views(source, "test")
            pred = _render_like(stack_fields([nerf]), held_out)
            nerf.meta["psnr"] = float(psnr(pred, held_out.images).mean())
            save_png(out / f"{ident}.png", image_grid(torch.cat([held_out.images, pred]), len(held_out.images)))
        save_nerf(out / f"{ident}.pt", nerf)
        extra = f"  held-out PSNR {nerf.meta['psnr']:.2f} dB" if "psnr" in nerf.meta else ""
        print(f"{out / (ident + '.pt')}{extra}")
    if todo:
        print(f"fitted {len(todo)} {spec.name} NeRF(s) in {elapsed:.1f}s")
    return 0


def _render_like(field, views: PosedViews, n_samples: int = 96) -> torch.Tensor:
    """Render ``field`` (batch of one) from the cameras of ``views``."""
    h, w = views.images.shape[1:3]
    return render_images(field, 1, views.poses, w, h, views.focal, field.spec.aabb, RenderConfig(n_samples))[0]


def cmd_render(args: argparse.Namespace) -> int:
    """Render checkpoints from cameras on a sphere into one PNG each."""
    poses = sphere_poses(args.views)
    focal = focal_length(args.res)
    for path in args.ckpt:
        nerf = load_nerf(path)
        field = stack_fields([nerf])
        imgs = render_images(field, 1, poses, args.res, args.res, focal, nerf.spec.aabb)[0]
        target = save_png(Path(args.out) / f"{Path(path).stem}.png", image_grid(imgs, min(args.views, 8)))
        print(target)
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    """Convert checkpoints (files or directory trees) into parameter-graph shards."""
    from wsrl.convert import ConvertOptions, convert

    sources = [p for src in args.src for p in find_checkpoints(src)]
    if not sources:
        print(f"error: no checkpoint files (*.pt, *.pth, *.ckpt) under {' '.join(args.src)}", file=sys.stderr)
        return 2
    opts = ConvertOptions(args.format, args.arch, args.max_edges)
    report = convert(sources, args.out, opts, workers=args.workers, shard_size=args.shard_size)
    print(f"converted {report.converted}, skipped {report.skipped} already converted, failed {len(report.failures)}")
    for source, error in report.failures:
        print(f"FAILED {error}" if error.startswith(source) else f"FAILED {source}: {error}")
    return 1 if report.failures else 0


def cmd_zoo_build(args: argparse.Namespace) -> int:
    """Build (or resume) a procedural zoo: renders and fitted NeRFs of 13 classes in many architectures."""
    from wsrl.zoo import PRESETS, build_zoo, parse_shard, plan_zoo

    plan = plan_zoo(PRESETS[args.size], args.seed, args.archs)
    shard = parse_shard(args.shard)
    n_units = len(plan.objects) + len(plan.fit_units())
    print(
        f"zoo {args.size!r} seed {args.seed}: {len(plan.objects)} objects, {len(plan.archs)} architectures, "
        f"{n_units} units (shard {shard[0]}/{shard[1]}) -> {args.out}"
    )
    report = build_zoo(args.out, plan, shard, progress=not args.quiet)
    print(
        f"rendered {report.objects_done} objects, fitted {report.fits_done} blocks, "
        f"skipped {report.skipped} finished units in {report.seconds:.1f}s"
    )
    if report.summary is None:
        print("zoo not complete yet (other shards still to run); summary and contact sheet come with the last one")
        return 0
    summary = report.summary
    print(f"{'arch':<16}{'NeRFs':>6}{'mean PSNR':>11}{'worst':>8}  worst object")
    for arch, row in summary["archs"].items():
        print(f"{arch:<16}{row['nerfs']:>6}{row['psnr_mean']:>11.2f}{row['psnr_worst']:>8.2f}  {row['worst_object']}")
    print(f"splits {summary['splits']}; contact sheet {Path(args.out) / 'contact_sheet.png'}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Train the GMN encoder on a zoo (single process, or each rank of ``torchrun``)."""
    from wsrl.train import TrainConfig, train

    cfg = TrainConfig(
        loss=args.loss,
        scale=args.scale,
        epochs=args.epochs,
        pairs_per_batch=args.pairs_per_batch,
        lr=args.lr,
        projector=not args.no_projector,
        value_noise=args.value_noise,
        seed=args.seed,
    )
    rows = train(args.data, args.out, cfg, resume=args.resume, progress=not args.quiet, until_epoch=args.until_epoch)
    if rows:
        last = rows[-1]
        print(
            f"{args.out}: epoch {last['epoch']}, val loss {last['val_loss']:.4f}, "
            f"val cross-arch recall@1 {last['val_recall@1']:.3f}"
        )
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    """Embed every NeRF of a zoo with a trained encoder or a baseline (untrained encoder, weight statistics)."""
    from wsrl.dataset import ZooGraphs
    from wsrl.encoder import ENCODER_PRESETS
    from wsrl.index import embed_zoo, weight_statistics_zoo
    from wsrl.report import untrained_encoder
    from wsrl.train import load_encoder

    data = ZooGraphs(args.data, args.archs)
    meta = {"data": str(args.data)}
    if args.weight_statistics:
        store = weight_statistics_zoo(data, {**meta, "encoder": "weight_statistics"})
    elif args.untrained:
        encoder = untrained_encoder(ENCODER_PRESETS[args.scale], args.seed)
        store = embed_zoo(encoder, data, {**meta, "encoder": f"untrained:{args.scale}:{args.seed}"})
    else:
        store = embed_zoo(load_encoder(args.ckpt), data, {**meta, "encoder": str(args.ckpt)})
    store.save(args.out)
    print(
        f"{args.out}: {len(store.object_id)} embeddings of size {store.embeddings.shape[1]} ({len(data.archs)} archs)"
    )
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """k-NN classification or cross-architecture retrieval on an embedding store."""
    from wsrl.bench import classify, retrieve
    from wsrl.index import EmbeddingStore

    store = EmbeddingStore.load(args.embeddings)
    if args.bench_command == "classify":
        result = classify(store, args.k, probe=args.probe, split=args.split)
        for arch, acc in result["per_arch"].items():
            print(f"{arch:<16}{100 * acc:6.1f}%")
        means = {k: "n/a" if result[k] is None else f"{100 * result[k]:.1f}%" for k in ("seen_mean", "unseen_mean")}
        name = f"k-NN (k={args.k})" if args.probe == "knn" else "MLP probe"
        print(f"{name} seen mean {means['seen_mean']}  unseen mean {means['unseen_mean']}")
    else:
        result = retrieve(store, split=args.split)
        for pair, row in result["pairs"].items():
            print(f"{pair:<32}" + "  ".join(f"{k} {v:.3f}" for k, v in row.items()))
        print(f"cross-architecture recall@1 mean {result['cross_arch_recall@1_mean']:.3f}")
    if args.json:
        from wsrl.atomic import save_json

        save_json(args.json, result)
    return 0


def _print_summary(results: dict, out: Path) -> None:
    from wsrl.report import percent, ratio, summary_rows

    print(f"{'method':<20}{'cls seen %':>11}{'cls unseen %':>13}{'cross R@1':>11}{'cross R@5':>11}{'seen R@1':>10}")
    for row in summary_rows(results):
        cells = f"{percent(row['seen']):>11}{percent(row['unseen']):>13}{ratio(row['recall@1']):>11}"
        print(f"{row['method']:<20}{cells}{ratio(row['recall@5']):>11}{ratio(row['seen recall@1']):>10}")
    print(f"report: {out / 'results.md'} (results.json, CSV files, pictures alongside)")


def cmd_bench_all(args: argparse.Namespace) -> int:
    """Embed a zoo with a trained encoder and the baselines; write and summarise the report."""
    from wsrl.report import bench_all

    results = bench_all(args.data, args.ckpt, args.out, args.k, args.probe, args.seed)
    _print_summary(results, Path(args.out))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Build the demo zoo, train rec+con briefly, run the whole benchmark (each step resumes)."""
    from wsrl.report import bench_all
    from wsrl.train import TrainConfig, train
    from wsrl.zoo import PRESETS, build_zoo, plan_zoo

    out, started = Path(args.out), time.time()
    print(f"[1/3] demo zoo -> {out / 'zoo'}")
    build_zoo(out / "zoo", plan_zoo(PRESETS["demo"], args.seed), progress=True)
    print(f"[2/3] training rec+con, {args.epochs} epochs -> {out / 'run'}  ({time.time() - started:.0f}s so far)")
    run = out / "run"
    train(out / "zoo", run, TrainConfig(epochs=args.epochs, seed=args.seed), resume=(run / "last.pt").exists())
    print(f"[3/3] benchmark -> {out / 'report'}  ({time.time() - started:.0f}s so far)")
    results = bench_all(out / "zoo", run, out / "report", seed=args.seed)
    _print_summary(results, out / "report")
    print(f"demo finished in {time.time() - started:.0f}s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wsrl", description="Weight-space representation learning for NeRFs.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("archs", help="list the registered NeRF architectures")
    p.add_argument("--scale", choices=SCALES, default="mini")
    p.set_defaults(func=cmd_archs)

    p = sub.add_parser("scene", help="write ground-truth views of a built-in test scene (transforms.json layout)")
    p.add_argument("name", choices=sorted(TEST_SCENES))
    p.add_argument("--out", required=True)
    p.add_argument("--views", type=int, default=36)
    p.add_argument("--test-views", type=int, default=8)
    p.add_argument("--res", type=int, default=64)
    p.set_defaults(func=cmd_scene)

    p = sub.add_parser("fit", help="fit NeRFs of one architecture, many at once")
    p.add_argument("--arch", required=True)
    p.add_argument("--scale", choices=SCALES, default="mini")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--scene", nargs="+", choices=sorted(TEST_SCENES), help="field distillation from a built-in scene")
    src.add_argument("--views", nargs="+", help="photometric fit of transforms.json folders")
    p.add_argument("--out", required=True)
    defaults = FitConfig()
    p.add_argument("--steps", type=int, default=defaults.steps)
    p.add_argument("--batch-size", type=int, default=defaults.batch_size, help="NeRFs trained together")
    p.add_argument("--points", type=int, default=defaults.points, help="points per NeRF per step (distillation)")
    p.add_argument("--rays", type=int, default=defaults.rays, help="rays per NeRF per step (photometric)")
    p.add_argument("--lr", type=float, default=defaults.lr)
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--render", action="store_true", help="also render held-out views and report PSNR")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_fit)

    zoo = sub.add_parser("zoo", help="the procedural benchmark zoo").add_subparsers(dest="zoo_command", required=True)
    p = zoo.add_parser("build", help="build or resume a zoo: 13 classes, ground-truth renders, fitted NeRFs")
    p.add_argument("--size", choices=["demo", "mini", "paper"], default="demo")
    p.add_argument("--out", required=True)
    p.add_argument("--archs", nargs="+", help="architectures to fit (default: all 13 at the preset's scale)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--shard", default="0/1", help="i/n: build every n-th unit, starting at i")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_zoo_build)

    from wsrl.train import TrainConfig

    train_defaults = TrainConfig()
    p = sub.add_parser("train", help="train the GMN encoder on a zoo (rec, con or rec+con); torchrun-ready")
    p.add_argument("--data", required=True, help="a zoo folder (wsrl zoo build)")
    p.add_argument("--loss", choices=["rec", "con", "rec+con"], default="rec+con")
    p.add_argument("--out", required=True, help="the run folder")
    p.add_argument("--scale", choices=SCALES, default="mini", help="encoder/decoder size preset")
    p.add_argument("--epochs", type=int, default=train_defaults.epochs)
    p.add_argument("--pairs-per-batch", type=int, default=train_defaults.pairs_per_batch)
    p.add_argument("--lr", type=float, default=train_defaults.lr)
    p.add_argument("--no-projector", action="store_true", help="SigLIP on the embeddings, not on a projection")
    p.add_argument(
        "--value-noise", type=float, default=train_defaults.value_noise, help="relative noise on training weights"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last epoch")
    p.add_argument("--until-epoch", type=int, help="stop after this epoch (continue later with --resume)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("embed", help="embed every NeRF of a zoo with an encoder (or a baseline)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--ckpt", help="a run folder or checkpoint (wsrl train)")
    src.add_argument("--untrained", action="store_true", help="baseline: a freshly initialised encoder")
    src.add_argument("--weight-statistics", action="store_true", help="baseline: per-layer weight statistics")
    p.add_argument("--scale", choices=SCALES, default="mini", help="encoder preset for --untrained")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", required=True)
    p.add_argument("--archs", nargs="+")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_embed)

    bench = sub.add_parser("bench", help="benchmarks on an embedding store").add_subparsers(
        dest="bench_command", required=True
    )
    for name, text in (("classify", "classification per architecture"), ("retrieve", "retrieval matrix")):
        p = bench.add_parser(name, help=text)
        p.add_argument("embeddings")
        p.add_argument("--k", type=int, default=1)
        p.add_argument("--split", choices=("test", "val"), default="test", help="the split scored (val: for choosing)")
        if name == "classify":
            p.add_argument("--probe", choices=PROBES, default="knn", help="k-NN or the paper's MLP probe")
        p.add_argument("--json", help="also write the result as JSON")
        p.set_defaults(func=cmd_bench)
    p = bench.add_parser("all", help="embed a zoo, score the encoder and two baselines, write a report")
    p.add_argument("--data", required=True, help="a zoo folder")
    p.add_argument("--ckpt", required=True, help="a run folder or checkpoint (wsrl train)")
    p.add_argument("--out", required=True, help="the report folder")
    p.add_argument("--k", type=int, default=1)
    p.add_argument("--probe", choices=PROBES, default="knn")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_bench_all)

    p = sub.add_parser("demo", help="the whole pipeline on the small built-in zoo: build, train, benchmark")
    p.add_argument("--out", default="wsrl-demo", help="working folder (rerun to resume)")
    p.add_argument("--epochs", type=int, default=train_defaults.epochs)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("convert", help="convert NeRF checkpoints into parameter-graph shards")
    p.add_argument("src", nargs="+", help="checkpoint files or directories (searched recursively)")
    p.add_argument("--out", required=True)
    p.add_argument(
        "--format",
        choices=FORMATS,
        help="force a format instead of detecting it",
    )
    p.add_argument("--arch", help="force the architecture name (nf2vec files do not store it)")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--shard-size", type=int, default=256)
    p.add_argument(
        "--max-edges", type=int, default=200_000, help="edge budget of one graph (hash grids are cut to fit)"
    )
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("render", help="render wsrl checkpoints to PNG")
    p.add_argument("ckpt", nargs="+")
    p.add_argument("--out", required=True)
    p.add_argument("--views", type=int, default=8)
    p.add_argument("--res", type=int, default=96)
    p.set_defaults(func=cmd_render)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (KeyError, ValueError, FileNotFoundError) as exc:  # bad input: one clear line, no traceback
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
