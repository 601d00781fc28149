"""The ``wsrl`` command: one entry point, one subcommand per job.

The parser imports only light modules (settings dataclasses, name registries); each command's module is
imported when that command runs, so ``wsrl --help`` and ``wsrl archs`` load neither faiss nor the trainer.
Defaults come from the settings dataclasses (``FitConfig``, ``TrainConfig``, ...), never typed twice.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import math
import sys
from collections.abc import Callable, Sequence

from wsrl import __version__
from wsrl.encoder.config import ENCODER_PRESETS, MIN_POPULATION
from wsrl.errors import WsrlError
from wsrl.graph.schema import DEFAULT_MAX_EDGES, VALUE_DTYPES
from wsrl.nerf.archs import BENCHMARK_SEEN, SCALES
from wsrl.search.codes import CODES as INDEX_CODES
from wsrl.search.metrics import FITS, PROBES, RETRIEVAL_KS
from wsrl.train.config import LOSSES, TrainConfig

SPLIT_CHOICES = ("test", "val", "all")
SHARD_SIZE = 256  # graphs per shard written by convert
DEMO_ENCODER, DEMO_SEED, DEMO_EPOCHS = "wsrl-mini", 1, 10
WORKERS_HELP = "worker processes reading checkpoints (only as many as pay: one per 2,500 and per free core)"
CKPT_HELP = "the encoder: a pretrained name (wsrl-mini), a pretrained folder, or a training run (folder or .pt)"


def _command(target: str):
    """``"module:function"`` of :mod:`wsrl.cli`, imported when the command runs."""
    module, name = target.split(":")
    return getattr(importlib.import_module(f"wsrl.cli.{module}"), name)


class _Defaults(argparse.HelpFormatter):
    """Help that states every option's default, also for options without a help text (None and False are left
    out: an absent option or an off switch)."""

    def _format_action(self, action: argparse.Action) -> str:
        text = action.help or ""
        shown = not any(action.default is v for v in (None, False, argparse.SUPPRESS))  # 0 is shown, False is not
        if action.option_strings and shown and "%(default" not in text:
            action = copy.copy(action)
            action.help = f"{text} (default: %(default)s)" if text else "default: %(default)s"
        return super()._format_action(action)


def _at_least(kind: type, low: float, *, above: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite ``kind`` of at least ``low`` (above it with ``above``)."""
    sign = ">" if above else ">="

    def parse(text: str) -> float:
        value = kind(text)
        if not math.isfinite(value) or value < low or (above and value == low):
            raise argparse.ArgumentTypeError(f"must be a finite number {sign} {low:g}, got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names it in "invalid int value: 'x'"
    return parse


_positive, _non_negative = _at_least(int, 1), _at_least(int, 0)
_positive_float, _non_negative_float = _at_least(float, 0, above=True), _at_least(float, 0)


def _add_reference_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--reference",
        help="a collection (zoo or wsrl convert output) whose NeRFs, its train split if it has one, standardise "
        f"each architecture the encoder has no stored moments for (at least {MIN_POPULATION} per architecture)",
    )


def _add_convert_options(p: argparse.ArgumentParser) -> None:
    """How checkpoints are read (``convert``, ``index add``, ``search``): ConvertOptions' fields."""
    from wsrl.converters import FORMATS
    from wsrl.graph.values import ConvertOptions

    p.add_argument("--format", choices=FORMATS.names(), help="force a checkpoint format instead of detecting it")
    p.add_argument("--arch", help="force the architecture name (nf2vec files do not store it)")
    p.add_argument(
        "--max-edges", type=_positive, default=DEFAULT_MAX_EDGES, help="edge budget of one graph (hash grids are cut)"
    )
    p.add_argument(
        "--values", choices=VALUE_DTYPES, default=ConvertOptions.values,
        help="dtype of stored graph values (float16: ~0.57x the bytes, embeddings within 1e-5 cosine; README)",
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    from wsrl.nerf.fit import FitConfig
    from wsrl.zoo.build import INITS
    from wsrl.zoo.sdf import TEST_SCENES

    parser = argparse.ArgumentParser(
        prog="wsrl",
        description="Weight-space representation learning for NeRFs.",
        formatter_class=_Defaults,
    )
    parser.add_argument("--version", action="version", version=f"wsrl {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, target: str, text: str, parent=sub) -> argparse.ArgumentParser:
        p = parent.add_parser(name, help=text, description=text, formatter_class=_Defaults)
        p.set_defaults(func=target)
        return p

    p = command("archs", "pipeline:cmd_archs", "list the registered NeRF architectures")
    p.add_argument("--scale", choices=SCALES, default="mini", help="architecture size")

    p = command("scene", "pipeline:cmd_scene", "write ground-truth views of a built-in test scene (transforms.json)")
    p.add_argument("name", choices=TEST_SCENES.names())
    p.add_argument("--out", required=True)
    p.add_argument("--views", type=_positive, default=36)
    p.add_argument("--test-views", type=_positive, default=8)
    p.add_argument("--res", type=_positive, default=64)

    p = command("fit", "pipeline:cmd_fit", "fit NeRFs of one architecture, many at once")
    p.add_argument("--arch", required=True)
    p.add_argument("--scale", choices=SCALES, default="mini", help="architecture size")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--scene", nargs="+", choices=TEST_SCENES.names(), help="field distillation from a built-in scene")
    src.add_argument("--views", nargs="+", help="photometric fit of transforms.json folders")
    p.add_argument("--out", required=True)
    fit = FitConfig()
    p.add_argument("--steps", type=_positive, default=fit.steps)
    p.add_argument("--batch-size", type=_positive, default=fit.batch_size, help="NeRFs trained together")
    p.add_argument("--points", type=_positive, default=fit.points, help="points per NeRF per step (distillation)")
    p.add_argument("--rays", type=_positive, default=fit.rays, help="rays per NeRF per step (photometric)")
    p.add_argument("--lr", type=_positive_float, default=fit.lr)
    p.add_argument("--seed", type=int, default=fit.seed)
    p.add_argument("--render", action="store_true", help="also render held-out views and report PSNR")
    p.add_argument("--overwrite", action="store_true")

    p = command("render", "pipeline:cmd_render", "render NeRF checkpoints (any format wsrl reads) to PNG")
    p.add_argument("ckpt", nargs="+")
    p.add_argument("--out", required=True)
    p.add_argument("--views", type=_positive, default=8)
    p.add_argument("--res", type=_positive, default=96)

    p = command("convert", "pipeline:cmd_convert", "convert NeRF checkpoints into a graph collection (shards)")
    p.add_argument("src", nargs="+", help="checkpoint files or directories (searched recursively)")
    p.add_argument("--out", required=True)
    _add_convert_options(p)
    _add_reference_option(p)
    p.add_argument("--workers", type=_positive, default=1, help=WORKERS_HELP)
    p.add_argument("--shard-size", type=_positive, default=SHARD_SIZE)

    zoo = sub.add_parser("zoo", help="the procedural benchmark zoo").add_subparsers(dest="zoo_command", required=True)
    p = command("build", "pipeline:cmd_zoo_build", "build or resume a zoo: 13 classes, renders, fitted NeRFs", zoo)
    p.add_argument("--size", choices=["demo", "mini", "paper"], default="demo")
    p.add_argument("--out", required=True)
    p.add_argument("--archs", nargs="+", help="architectures to fit (default: all 13 at the preset's scale)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--init", choices=INITS, default=INITS[0], help="each NeRF its own initialisation, or one per arch")
    p.add_argument("--shard", default="0/1", help="i/n: build every n-th unit, starting at i")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    train = TrainConfig()
    p = command("train", "pipeline:cmd_train", "train the GMN encoder (rec, con or rec+con); torchrun-ready")
    p.add_argument("--data", required=True, help="a graph collection with splits: a zoo, or wsrl convert output")
    p.add_argument("--loss", choices=LOSSES, default=train.loss)
    p.add_argument("--out", required=True)
    p.add_argument("--encoder-preset", choices=sorted(ENCODER_PRESETS), default=train.preset, help="encoder size")
    p.add_argument("--archs", nargs="+", default=list(train.archs), help="the architectures to train on (seen)")
    p.add_argument("--epochs", type=_positive, default=train.epochs)
    p.add_argument("--pairs-per-batch", type=_positive, default=train.pairs_per_batch)
    p.add_argument("--lr", type=_positive_float, default=train.lr)
    p.add_argument("--no-projector", action="store_true", help="SigLIP on the embeddings, not on a projection")
    p.add_argument("--value-noise", type=_non_negative_float, default=train.value_noise,
                   help="relative noise on training weights")  # fmt: skip
    p.add_argument("--node-probes", type=_non_negative, default=train.node_probes,
                   help="nodes carry their signals at R^3 world points (0: off)")  # fmt: skip
    p.add_argument("--output-readout", action=argparse.BooleanOptionalAction, default=train.output_readout,
                   help="pool the output nodes' states apart from the edges'")  # fmt: skip
    p.add_argument("--seed", type=int, default=train.seed)
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last epoch")
    p.add_argument("--until-epoch", type=_positive, help="stop after this epoch (continue later with --resume)")
    p.add_argument("--quiet", action="store_true")

    p = command("export", "pipeline:cmd_export", "a run's encoder as a pretrained folder with its model card")
    p.add_argument("run", help="a training run folder")
    p.add_argument("--out", required=True, help="the pretrained folder (its name is the encoder's name)")
    p.add_argument("--data", help="the zoo it trained on (the card states its preset, seed and initialisation)")
    p.add_argument("--report", help="a `wsrl bench all` report of the run (the card states its results)")

    p = command("embed", "pipeline:cmd_embed", "embed every NeRF of a collection with an encoder (or a baseline)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--ckpt", help=CKPT_HELP)
    src.add_argument("--untrained", action="store_true", help="baseline: a freshly initialised encoder")
    src.add_argument("--weight-statistics", action="store_true", help="baseline: per-layer weight statistics")
    src.add_argument("--density-probe", action="store_true", help="baseline: density and colour at a fixed grid")
    p.add_argument("--encoder-preset", choices=sorted(ENCODER_PRESETS), default=train.preset, help="for --untrained")
    p.add_argument("--seen", nargs="+", default=list(BENCHMARK_SEEN), help="seen architectures recorded for a baseline")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", required=True, help="a zoo or wsrl convert output")
    _add_reference_option(p)
    p.add_argument("--archs", nargs="+")
    p.add_argument("--out", required=True)

    bench = sub.add_parser("bench", help="benchmarks on embeddings").add_subparsers(dest="bench_command", required=True)
    for name, text in (("classify", "classification per architecture"), ("retrieve", "cross-architecture retrieval")):
        p = command(name, "pipeline:cmd_bench", text, bench)
        p.add_argument("embeddings")
        p.add_argument("--k", type=_positive, default=1, help="k-NN neighbours; for retrieve, a recall@k beside "
                       + "/".join(map(str, RETRIEVAL_KS)))  # fmt: skip
        p.add_argument("--split", choices=SPLIT_CHOICES, default="test", help="the split scored (val: for choosing)")
        if name == "classify":
            p.add_argument("--probe", choices=PROBES, default="knn", help="k-NN or the paper's MLP probe")
            p.add_argument(
                "--fit",
                choices=FITS,
                default=FITS[0],
                help="fit on each architecture's own train split, or on the seen architectures' together",
            )
            p.add_argument("--seed", type=int, default=0, help="the MLP probe's seed")  # fmt: skip
        p.add_argument("--json", help="also write the result as JSON")
    p = command("all", "pipeline:cmd_bench_all", "embed a collection, score the encoder and baselines, report", bench)
    p.add_argument("--data", required=True, help="a labelled collection with splits (a zoo)")
    p.add_argument("--ckpt", required=True, help=CKPT_HELP)
    p.add_argument("--out", required=True, help="the report folder")
    p.add_argument("--k", type=_positive, default=1)
    p.add_argument("--no-mlp-probe", action="store_true", help="k-NN only (the MLP probe takes minutes)")
    p.add_argument("--seed", type=int, default=0)

    index = sub.add_parser("index", help="a persistent NeRF index").add_subparsers(dest="index_command", required=True)
    p = command("build", "search:cmd_index_build", "build an index from embeddings or a collection", index)
    p.add_argument("src", help="an embedding store (wsrl embed) or a collection (zoo or wsrl convert output)")
    p.add_argument("--ckpt", help=CKPT_HELP + " (required for a collection; default: the store's)")
    p.add_argument("--out", required=True)
    p.add_argument("--approximate", action="store_true", help="HNSW instead of exact search (for >= 10^6 NeRFs)")
    codes_help = "how the FAISS file stores a vector: 4, 2 or 1 byte per dimension (the store keeps float32)"
    p.add_argument("--codes", choices=INDEX_CODES, default=INDEX_CODES[0], help=codes_help)
    _add_reference_option(p)
    p = command("add", "search:cmd_index_add", "convert, embed and append checkpoints to an index", index)
    p.add_argument("index")
    p.add_argument("src", nargs="+", help="checkpoint files or directories (searched recursively)")
    _add_convert_options(p)
    _add_reference_option(p)
    p.add_argument("--workers", type=_positive, default=1, help=WORKERS_HELP)

    p = command("search", "search:cmd_search", "the NeRFs of an index nearest to a checkpoint")
    p.add_argument("index")
    p.add_argument("--nerf", required=True, help="a checkpoint in any format wsrl reads")
    p.add_argument("-k", "--k", type=_positive, default=10)
    p.add_argument("--picture", help="also write a PNG of the query and its hits, rendered from the NeRFs")
    _add_convert_options(p)

    p = command("demo", "pipeline:cmd_demo", "a pretrained encoder on objects it never saw, a search, a short training")
    p.add_argument("--out", default="wsrl-demo", help="working folder (rerun to resume)")
    p.add_argument("--ckpt", default=DEMO_ENCODER, help=CKPT_HELP)
    p.add_argument("--seed", type=int, default=DEMO_SEED,
                   help=f"the demo zoo's seed ({DEMO_ENCODER} trained on seed 0's zoo)")  # fmt: skip
    p.add_argument("--epochs", type=_positive, default=DEMO_EPOCHS, help="epochs of the short rec+con run")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _command(args.func)(args)
    except WsrlError as exc:  # bad input: one clear line, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the file system refused: a path that is a file, no permission, a full disk
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; what was written is kept, and a rerun resumes", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
