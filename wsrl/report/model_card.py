"""``wsrl export``: a training run's encoder as a pretrained folder (Hugging Face layout) with its model card.

The card says what a user of the weights needs to trust them: the data (zoo preset, seed, initialisation,
splits), the command that trained them, the training time, and the results of ``wsrl bench all`` when a report
is given. Everything is read from the files the run, the zoo and the report wrote; nothing is typed in.
"""

from __future__ import annotations

import json
import os
from dataclasses import fields
from pathlib import Path

from wsrl import __version__
from wsrl.encoder.checkpoint import load_encoder
from wsrl.encoder.pretrained import save_pretrained
from wsrl.errors import WsrlError
from wsrl.files import load_json
from wsrl.report.bench_all import summary_cells, summary_rows
from wsrl.train.config import TrainConfig

# TrainConfig fields and their ``wsrl train`` flags where the name differs (booleans: the flag that turns off)
FLAGS = {"preset": "--encoder-preset", "projector": "--no-projector", "output_readout": "--no-output-readout"}
NO_FLAG = ("weight_decay", "con_weight", "rays", "samples")


def train_command(train: dict, data: str) -> str:
    """The ``wsrl train`` command line that reproduces a run's TrainConfig (non-default fields as flags)."""
    defaults = TrainConfig()
    parts = ["wsrl", "train", "--data", data]
    for f in fields(TrainConfig):
        value, default = train.get(f.name, getattr(defaults, f.name)), getattr(defaults, f.name)
        if f.name == "archs":
            value, default = tuple(value), tuple(default)
        if value == default and f.name not in ("loss", "epochs", "seed"):
            continue
        if f.name in NO_FLAG:
            raise WsrlError(f"TrainConfig.{f.name}={value!r} has no wsrl train flag; the card cannot state the command")
        flag = FLAGS.get(f.name, "--" + f.name.replace("_", "-"))
        if isinstance(value, bool):
            parts.append(flag)
        else:
            parts += [flag, *map(str, value)] if isinstance(value, tuple) else [flag, str(value)]
    return " ".join([*parts, "--out", "RUN"])


def _data_lines(data: Path | None) -> list[str]:
    if data is None:
        return ["- training data: not given to `wsrl export` (`--data`)"]
    manifest = load_json(data / "manifest.json", "zoo manifest")
    summary = load_json(data / "summary.json", "zoo summary") if (data / "summary.json").exists() else {}
    preset = manifest["preset"]["name"]
    lines = [
        f"- zoo: `wsrl zoo build --size {preset} --seed {manifest.get('seed')} --init {manifest.get('init')} "
        "--out ZOO` (procedural, rebuilt bit for bit from its seed; `data/README.md` of wsrl)",
        f"- data seed {manifest.get('seed')}, {manifest.get('init')} initialisation (every NeRF fitted from its own)",
    ]
    if summary.get("splits"):
        lines.append("- splits (objects): " + ", ".join(f"{k} {v}" for k, v in summary["splits"].items()))
    return lines


def _results_lines(report: Path | None) -> list[str]:
    if report is None:
        return ["No benchmark report was given to `wsrl export` (`--report`)."]
    results = load_json(report / "results.json", "bench all results")
    rows = summary_rows(results)
    columns = list(rows[0])[1:]
    lines = [
        f"`wsrl bench all --data ZOO --ckpt RUN --out REPORT` on `{results['data']}`, test split, one training seed; "
        "classification in %, recall over all pairs of architectures. The baselines need no training: the same "
        "encoder freshly initialised, per-layer weight statistics, and the density probe (each NeRF's density "
        "and colour at a fixed grid of points).",
        "",
        "| method | " + " | ".join(columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    lines += [f"| {r['method']} | " + " | ".join(summary_cells(r).values()) + " |" for r in rows]
    return lines


def model_card(name: str, run: Path, data: Path | None, report: Path | None) -> tuple[str, dict]:
    """The card's markdown and the facts it states (also stored in ``config.json``)."""
    config = load_json(run / "config.json", "run config")
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    train = config["train"]
    best = min(metrics, key=lambda r: r["val_loss"])
    seconds = sum(r["seconds"] for r in metrics)
    command = train_command(train, "ZOO")
    seed = load_json(data / "manifest.json", "zoo manifest")["seed"] if data else None
    facts = {"train_command": command, "data_seed": seed, "train_seconds": round(seconds, 1),
             "best_epoch": best["epoch"], "wsrl_version": __version__, "train": train}  # fmt: skip
    lines = [
        "---",
        "library_name: wsrl",
        "license: mit",
        "tags: [nerf, weight-space-learning, graph-metanetwork, retrieval]",
        "---",
        "",
        f"# {name}",
        "",
        f"A graph-metanetwork encoder of wsrl {__version__}: it embeds a NeRF's parameter graph (MLP, tri-plane or "
        "hash-grid NeRFs, any format wsrl converts) into one vector, for classification and search without "
        f"rendering. Loss `{train['loss']}`, trained on {', '.join(train['archs'])}; every other architecture is "
        "embedded against a reference population (`--reference`).",
        "",
        "```python",
        "import wsrl",
        f'encoder = wsrl.load_encoder("{name}")',
        "```",
        "",
        "## Training",
        "",
        *_data_lines(data),
        f"- command: `{command}`",
        f"- training time: {seconds / 60:.1f} min for {len(metrics)} epochs on the CPU it ran on "
        f"(sum of the epochs' wall times); weights of epoch {best['epoch']}, the lowest validation loss "
        f"({best['val_loss']:.4f}, validation cross-architecture recall@1 {best['val_recall@1']:.3f})",
        "",
        "## Results",
        "",
        *_results_lines(report),
        "",
        "## Files",
        "",
        "`config.json` (the encoder config, trained architectures, these facts), `model.safetensors` (weights and "
        "each trained architecture's standardisation moments as `norms/<arch>/<i>`), this card. No pickle.",
        "",
    ]
    return "\n".join(lines), facts


def export_run(
    run: str | os.PathLike, out: str | os.PathLike, data: str | os.PathLike | None, report: str | os.PathLike | None
) -> Path:
    """Write ``run``'s best encoder as a pretrained folder ``out`` (named by its last path part)."""
    run, out = Path(run), Path(out)
    card, facts = model_card(out.name, run, Path(data) if data else None, Path(report) if report else None)
    return save_pretrained(load_encoder(run), out, card, {"card": facts})
