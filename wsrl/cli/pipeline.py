"""The pipeline's commands: architectures, scenes, fitting, rendering, conversion, zoo, training, embedding,
benchmarks and the demo (the ``wsrl`` parser is :mod:`wsrl.cli.main`)."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from wsrl.converters import find_checkpoints, read_checkpoint
from wsrl.errors import WsrlError, about
from wsrl.files import save_png
from wsrl.nerf.archs import BENCHMARK_SEEN, get_arch, list_archs
from wsrl.nerf.checkpoint import load_nerf, save_nerf, stack_fields
from wsrl.nerf.fidelity import HELD_OUT_OFFSET, ground_truth_views
from wsrl.nerf.fit import FitConfig, batch_config, batches, fit_distill, fit_photometric
from wsrl.nerf.render import RenderConfig, image_grid, psnr, render_images
from wsrl.nerf.views import PosedViews, focal_length, load_views, save_views, sphere_poses
from wsrl.zoo.sdf import TEST_SCENES, SceneBatch


def cmd_archs(args: argparse.Namespace) -> int:
    """Print the registry at one scale (``seen``: the benchmark's default training architectures)."""
    print(f"{'name':<16}{'family':<10}{'bench':<8}{'params':>10}  tensors")
    for name in list_archs(args.scale):
        spec = get_arch(name, args.scale)
        shapes = ", ".join(f"{k}{list(v)}" for k, v in spec.tensor_shapes.items())
        role = "seen" if name in BENCHMARK_SEEN else "unseen"
        print(f"{name:<16}{spec.family:<10}{role:<8}{spec.n_params:>10,}  {shapes}")
    return 0


def _scene_views(name: str, n_views: int, res: int, offset: float = 0.0) -> PosedViews:
    """Ground-truth renders of a built-in test scene."""
    return ground_truth_views(SceneBatch([TEST_SCENES.get(name)()]), n_views, res, offset)


def cmd_scene(args: argparse.Namespace) -> int:
    """Write ground-truth views of a built-in scene in the transforms.json layout."""
    save_views(args.out, _scene_views(args.name, args.views, args.res), "train")
    save_views(args.out, _scene_views(args.name, args.test_views, args.res, HELD_OUT_OFFSET), "test")
    print(f"wrote {args.views} train + {args.test_views} test views of {args.name!r} to {args.out}")
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    """Fit one NeRF per scene (distillation) or per views folder (photometric), saving each batch as it finishes.

    A rerun with the same sources and settings skips the batches already saved and refits the others to the
    weights an uninterrupted run gives (:func:`wsrl.nerf.fit.batch_config`); outputs fitted with other settings
    are refused, not skipped."""
    spec = get_arch(args.arch, args.scale)
    out = writable_folder(Path(args.out))  # before the fitting, not after it
    sources = args.scene or args.views
    ids = [Path(s).name for s in sources]
    if len(set(ids)) != len(ids):
        raise WsrlError("two sources share a name; their outputs would collide")
    cfg = FitConfig(
        steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed, points=args.points, rays=args.rays
    )
    mode = "distill" if args.scene else "photometric"
    settings = {
        "arch": spec.name,
        "scale": args.scale,
        "mode": mode,
        "steps": cfg.steps,
        "lr": cfg.lr,
        "seed": cfg.seed,
        "batch_size": cfg.batch_size,
        "per_step": cfg.points if args.scene else cfg.rays,
    }
    parts = [
        part for part in batches(len(sources), cfg)
        if args.overwrite or not all(_fitted(out / f"{ids[i]}.pt", settings) for i in range(part.start, part.stop))
    ]  # fmt: skip
    todo = [i for part in parts for i in range(part.start, part.stop)]
    if len(todo) < len(sources):
        print(f"skipping {len(sources) - len(todo)} already fitted (use --overwrite to refit)")
    views = {i: load_views(sources[i], "train") for i in todo} if args.views else {}  # every folder checked first
    start = time.time()
    for part in parts:
        members = range(part.start, part.stop)
        metas = [{"object_id": ids[i], "fitted_from": sources[i], "mode": mode, "fit": settings} for i in members]
        part_cfg = batch_config(cfg, part)
        if args.scene:
            targets = [TEST_SCENES.get(s)().density_and_color for s in sources[part]]
            nerfs = fit_distill(spec, targets, part_cfg, metas)
        else:
            nerfs = fit_photometric(spec, [views[i] for i in members], part_cfg, metas=metas)
        for source, ident, nerf in zip(sources[part], ids[part], nerfs, strict=True):
            if args.render:
                held_out = _scene_views(source, 8, 64, HELD_OUT_OFFSET) if args.scene else load_views(source, "test")
                pred = _render_like(stack_fields([nerf]), held_out)
                nerf.meta["psnr"] = float(psnr(pred, held_out.images).mean())
                save_png(out / f"{ident}.png", image_grid(torch.cat([held_out.images, pred]), len(held_out.images)))
            save_nerf(out / f"{ident}.pt", nerf)
            extra = f"  held-out PSNR {nerf.meta['psnr']:.2f} dB" if "psnr" in nerf.meta else ""
            print(f"{out / (ident + '.pt')}{extra}")
    if todo:
        print(f"fitted {len(todo)} {spec.name} NeRF(s) in {time.time() - start:.1f}s")
    return 0


def _fitted(path: Path, settings: dict) -> bool:
    """Whether ``path`` holds a NeRF fitted with ``settings``; one fitted otherwise is a one-line error."""
    if not path.exists():
        return False
    found = load_nerf(path).meta.get("fit")
    if found != settings:
        diff = ", ".join(
            f"{k} {settings[k]!r} (file: {found.get(k)!r})" for k in settings if found.get(k) != settings[k]
        ) if isinstance(found, dict) else "settings this version of wsrl did not record"  # fmt: skip
        raise WsrlError(f"{path}: already fitted with other settings: {diff}; use --overwrite or another --out")
    return True


def writable_folder(folder: Path) -> Path:
    """``folder``, created if needed; a one-line error now if nothing can be written there."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise WsrlError(f"{folder}: output must be a folder, and a file is in the way") from None
    try:
        tempfile.TemporaryFile(dir=folder).close()  # what a write will meet (os.access says yes to root anywhere)
    except OSError as exc:
        raise WsrlError(f"{folder}: output folder is not writable ({exc.strerror})") from None
    return folder


def _render_like(field, views: PosedViews, n_samples: int = 96) -> torch.Tensor:
    """Render ``field`` (batch of one) from the cameras of ``views``."""
    h, w = views.images.shape[1:3]
    return render_images(field, 1, views.poses, w, h, views.focal, field.spec.aabb, RenderConfig(n_samples))[0]


def cmd_render(args: argparse.Namespace) -> int:
    """Render checkpoints from cameras on a sphere into one PNG each; a bad file is reported at the end, exit 1."""
    poses = sphere_poses(args.views)
    focal = focal_length(args.res)
    out, failures, names = writable_folder(Path(args.out)), [], set()
    for path in args.ckpt:
        name = Path(path).stem
        for n in range(2, len(args.ckpt) + 2):  # same file names from different folders must not overwrite
            if name not in names:
                break
            name = f"{Path(path).stem}_{n}"
        names.add(name)
        try:
            nerf = read_checkpoint(path)
        except WsrlError as exc:
            failures.append(str(exc))
            continue
        imgs = render_images(stack_fields([nerf]), 1, poses, args.res, args.res, focal, nerf.spec.aabb)[0]
        print(save_png(out / f"{name}.png", image_grid(imgs, min(args.views, 8))))
    for failure in failures:
        print(f"FAILED {failure}")
    return 1 if failures else 0


def cmd_convert(args: argparse.Namespace) -> int:
    """Convert checkpoints (files or directory trees) into parameter-graph shards."""
    from wsrl.graph.convert import convert

    sources = checkpoint_sources(args.src, args.out)
    report = convert(sources, args.out, convert_options(args), args.workers, args.shard_size)
    return print_convert_report(report)


def checkpoint_sources(sources: list[str], out: str | Path) -> list[Path]:
    """Checkpoint files of the given files and folders but those inside the output folder ``out`` (its own
    shards, when it lies in a source tree; said when any are left out); none at all is an error."""
    found = [p for src in sources for p in find_checkpoints(src)]
    own = Path(out).resolve()
    kept = [p for p in found if not p.resolve().is_relative_to(own)]
    if len(kept) < len(found):
        print(f"left out {len(found) - len(kept)} file(s) inside the output folder {out}")
    if not kept:
        raise WsrlError(f"no checkpoint files (*.pt, *.pth, *.ckpt) under {' '.join(sources)}")
    return kept


def convert_options(args: argparse.Namespace):
    from wsrl.graph.convert import ConvertOptions

    return ConvertOptions(fmt=args.format, arch=args.arch, max_edges=args.max_edges, values=args.values)


def print_convert_report(report) -> int:
    """One line of counts, one line per failed file; exit code 1 when any failed."""
    used = f" ({report.workers} worker processes)" if report.workers > 1 else ""
    print(
        f"converted {report.converted}, skipped {report.skipped} already converted, failed {len(report.failures)}"
        + used
    )
    for source, error in report.failures:
        print(f"FAILED {error}" if error.startswith(source) else f"FAILED {source}: {error}")
    return 1 if report.failures else 0


def cmd_zoo_build(args: argparse.Namespace) -> int:
    """Build (or resume) a procedural zoo: renders and fitted NeRFs of 13 classes in many architectures."""
    from wsrl.zoo.build import PRESETS, build_zoo, parse_shard, plan_zoo

    plan = plan_zoo(PRESETS[args.size], args.seed, args.archs, args.init)
    shard = parse_shard(args.shard)
    n_units = len(plan.objects) + len(plan.fit_units())
    print(
        f"zoo {args.size!r} seed {args.seed}, {plan.init} init: {len(plan.objects)} objects, "
        f"{len(plan.archs)} architectures, {n_units} units (shard {shard[0]}/{shard[1]}) -> {args.out}"
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


def train_config(args: argparse.Namespace):
    """The TrainConfig of parsed ``wsrl train`` arguments."""
    from wsrl.train.config import TrainConfig

    return TrainConfig(
        loss=args.loss,
        preset=args.encoder_preset,
        archs=tuple(args.archs),
        epochs=args.epochs,
        pairs_per_batch=args.pairs_per_batch,
        lr=args.lr,
        projector=not args.no_projector,
        value_noise=args.value_noise,
        node_probes=args.node_probes,
        output_readout=args.output_readout,
        seed=args.seed,
    )


def cmd_train(args: argparse.Namespace) -> int:
    """Train the GMN encoder on a collection (single process, or each rank of ``torchrun``)."""
    from wsrl.train.trainer import train

    cfg = train_config(args)
    rows = train(args.data, args.out, cfg, resume=args.resume, progress=not args.quiet, until_epoch=args.until_epoch)
    if rows:
        last = rows[-1]
        print(
            f"{args.out}: epoch {last['epoch']}, val loss {last['val_loss']:.4f}, "
            f"val cross-arch recall@1 {last['val_recall@1']:.3f}"
        )
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    """Embed every NeRF of a collection with a trained encoder or a baseline (untrained encoder, weight
    statistics, density probe); a baseline records ``--seen`` as its seen architectures, a trained encoder its run's."""
    from wsrl.encoder.checkpoint import encoder_ref, load_encoder
    from wsrl.encoder.config import ENCODER_PRESETS
    from wsrl.encoder.gmn import untrained_encoder
    from wsrl.graph.collection import GraphCollection
    from wsrl.search.store import embed_collection, probe_collection, weight_statistics_collection

    writable_folder(Path(args.out).parent)  # before the embedding, not after it
    data = GraphCollection(args.data, args.archs)
    reference = GraphCollection(args.reference) if args.reference else None
    seen = {"seen_archs": list(args.seen)}
    if (args.weight_statistics or args.density_probe) and reference is None:
        raise WsrlError(
            "a baseline is standardised per architecture against a reference population: pass --reference "
            "COLLECTION (its train split, or all of it without splits; may be the --data collection)"
        )
    if args.weight_statistics:
        store = weight_statistics_collection(data, reference, seen)
    elif args.density_probe:
        store = probe_collection(data, reference, seen)
    elif args.untrained:
        encoder = untrained_encoder(ENCODER_PRESETS[args.encoder_preset], args.seed)
        meta = {"encoder": f"untrained:{args.encoder_preset}:{args.seed}", **seen}
        store = embed_collection(encoder, data, reference, meta)
    else:
        store = embed_collection(load_encoder(args.ckpt), data, reference, {"encoder": encoder_ref(args.ckpt)})
    store.save(args.out)
    print(
        f"{args.out}: {len(store.object_id)} embeddings of size {store.embeddings.shape[1]} ({len(data.archs)} archs)"
    )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write a run's encoder in the Hugging Face layout (config.json, model.safetensors, README.md card)."""
    from wsrl.report.model_card import export_run

    folder = export_run(args.run, args.out, args.data, args.report)
    size = sum(f.stat().st_size for f in folder.iterdir())
    print(f"{folder}: {size / 2**20:.1f} MB (load with --ckpt {folder} or wsrl.load_encoder({str(folder)!r}))")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """k-NN classification or cross-architecture retrieval on an embedding store."""
    from wsrl.search.metrics import RETRIEVAL_KS
    from wsrl.search.protocol import classify, retrieve
    from wsrl.search.store import EmbeddingStore

    store = EmbeddingStore.load(args.embeddings)
    split = None if args.split == "all" else args.split
    if args.bench_command == "classify":
        if split is None:
            raise WsrlError("classification is fitted on the train split and scored on test or val, not all")
        with about(args.embeddings):
            result = classify(store, args.k, probe=args.probe, split=split, fit=args.fit, seed=args.seed)
        for arch, acc in result["per_arch"].items():
            print(f"{arch:<16}{100 * acc:6.1f}%")
        means = {k: "n/a" if result[k] is None else f"{100 * result[k]:.1f}%" for k in ("seen_mean", "unseen_mean")}
        name = f"k-NN (k={args.k})" if args.probe == "knn" else "MLP probe"
        name += ", fitted on the seen architectures" if args.fit == "seen" else ""
        print(f"{name} seen mean {means['seen_mean']}  unseen mean {means['unseen_mean']}")
    else:
        ks = tuple(sorted({*RETRIEVAL_KS, args.k}))
        with about(args.embeddings):
            result = retrieve(store, ks, split=split)
        for pair, row in result["pairs"].items():
            print(f"{pair:<32}" + "  ".join(f"{k} {v:.3f}" for k, v in row.items()))
        means = "  ".join(f"recall@{k} {result[f'cross_arch_recall@{k}_mean']:.3f}" for k in ks)
        print(f"cross-architecture means: {means}")
    if args.json:
        from wsrl.files import save_json

        save_json(args.json, result)
    return 0


def _print_summary(results: dict, out: Path) -> None:
    from wsrl.report.bench_all import SUMMARY_COLUMNS, summary_cells, summary_rows

    rows = summary_rows(results)
    columns = list(rows[0])[1:]
    print(f"{'method':<18}" + "".join(f"{SUMMARY_COLUMNS[c][3]:>12}" for c in columns))
    for row in rows:
        print(f"{row['method']:<18}" + "".join(f"{v:>12}" for v in summary_cells(row).values()))
    print("classification in %, on the test split; *: classifier fitted on the seen architectures only")
    print(f"report: {out / 'results.md'} (results.json, CSV files, pictures alongside)")


def cmd_bench_all(args: argparse.Namespace) -> int:
    """Embed a labelled collection with a trained encoder and the baselines; write and summarise the report."""
    from wsrl.report.bench_all import bench_all
    from wsrl.search.mlp_probe import MLPProbeConfig

    mlp = None if args.no_mlp_probe else MLPProbeConfig()
    results = bench_all(args.data, args.ckpt, args.out, args.k, mlp, args.seed)
    _print_summary(results, Path(args.out))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Build a demo zoo of objects the pretrained encoder never saw, score it and the baselines leave-one-out,
    index it and run one search, and train a short ``rec+con`` run on it (each step resumes)."""
    from wsrl.encoder.checkpoint import encoder_ref, training_seed
    from wsrl.report.held_out import held_out_report, summary_lines
    from wsrl.train.config import TrainConfig
    from wsrl.train.trainer import train
    from wsrl.zoo.build import PRESETS, build_zoo, plan_zoo

    if training_seed(args.ckpt) == args.seed:
        raise WsrlError(f"--seed {args.seed}: {args.ckpt} was trained on the zoo of this seed; choose another")
    out, started = Path(args.out), time.time()

    def step(i: int, text: str) -> None:
        print(f"[{i}/5] {text}  ({time.time() - started:.0f}s so far)", flush=True)

    step(1, f"demo zoo of seed {args.seed}, objects {args.ckpt} never saw -> {out / 'zoo'}")
    build_zoo(out / "zoo", plan_zoo(PRESETS["demo"], args.seed), progress=True)
    step(2, f"{args.ckpt} and the baselines, every NeRF against all the others -> {out / 'report'}")
    results = held_out_report(out / "zoo", encoder_ref(args.ckpt), out / "report")
    print("\n".join(summary_lines(results)))
    step(3, f"index of the demo zoo, one search -> {out / 'index'}")
    _demo_search(out, encoder_ref(args.ckpt))
    step(4, f"training rec+con on the demo zoo, {args.epochs} epochs -> {out / 'run'}")
    run = out / "run"
    train(out / "zoo", run, TrainConfig(epochs=args.epochs, seed=args.seed), resume=(run / "last.pt").exists())
    step(5, "the short run on the demo zoo's test split")
    _demo_short_run(out / "zoo", run)
    print(f"report: {out / 'report' / 'results.md'}; demo finished in {time.time() - started:.0f}s")
    return 0


def _demo_search(out: Path, ckpt: str) -> None:
    """An index of every demo NeRF but one, and ``wsrl search`` with that one (a test object of an architecture
    the encoder never trained on) as the query: its other architectures should come first."""
    from wsrl.cli.main import main
    from wsrl.search.index import META_FILE, NeRFIndex
    from wsrl.search.store import EmbeddingStore

    store = EmbeddingStore.load(out / "report" / "embeddings" / "trained.pt")
    unseen = [a for a in store.archs if a not in store.seen_archs]
    rows = enumerate(zip(store.arch, store.split, strict=True))
    query = next(i for i, (arch, split) in rows if arch == unseen[0] and split == "test")
    if not (out / "index" / META_FILE).exists():
        NeRFIndex.create(out / "index", store.rows([i for i in range(len(store)) if i != query]), ckpt)
    command = ["search", str(out / "index"), "--nerf", store.source[query], "-k", "8", "--picture"]
    command.append(str(out / "search.png"))
    print("wsrl " + " ".join(command))
    main(command)


def _demo_short_run(zoo: Path, run: Path) -> None:
    """The short run's k-NN and recall on the test split (13 objects per architecture: a check that training
    works, too few objects to compare methods; the held-out report does that)."""
    from wsrl.encoder.checkpoint import load_encoder
    from wsrl.graph.collection import GraphCollection
    from wsrl.search.protocol import classify, retrieve
    from wsrl.search.store import embed_collection

    data = GraphCollection(zoo, progress=False)
    store = embed_collection(load_encoder(run), data, data, {"encoder": str(run)})
    knn, recall = classify(store), retrieve(store, (1,))
    print(
        f"short run {run}: test k-NN seen {100 * knn['seen_mean']:.1f}%, unseen {100 * knn['unseen_mean']:.1f}%, "
        f"cross-arch recall@1 {recall['cross_arch_recall@1_mean']:.3f} ({len(store.select(None, 'test'))} test NeRFs)"
    )
