"""Training the GMN encoder on a zoo: ``rec``, ``con`` or ``rec+con``, one process or ``torchrun`` (DDP, gloo).

A run folder holds::

    RUN/config.json       the TrainConfig and the model configs
    RUN/last.pt           model, optimizer and schedule after the last finished epoch (resume point)
    RUN/best.pt           the epoch with the lowest validation loss, with the reference moments of its
                          training split per architecture (:mod:`wsrl.encoder.population`)
    RUN/metrics.jsonl     one row per epoch (also RUN/metrics.csv)
    RUN/renders/epoch_<e>.png   validation objects: input NeRF renders (top) vs decoder renders (bottom)

Every random draw of epoch ``e`` comes from generators seeded by ``(seed, e, step, rank)``
and the state is saved at epoch ends, so ``--resume`` continues bit-exactly on CPU.
"""

from __future__ import annotations

import copy
import json
import os
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch_geometric.data import Batch
from tqdm.auto import tqdm

from wsrl.encoder.checkpoint import RUN_FORMAT, RUN_VERSION, load_run
from wsrl.encoder.config import ENCODER_PRESETS, EncoderConfig
from wsrl.encoder.gmn import GMNEncoder, batch_graphs, embed_graphs, mlp
from wsrl.encoder.population import check_population, reference_norms
from wsrl.errors import WsrlError
from wsrl.files import envelope, save_csv, save_json, save_png, save_text, save_torch
from wsrl.graph.collection import GraphCollection
from wsrl.nerf.archs import SCENE_AABB
from wsrl.nerf.render import RenderConfig, image_grid, render_rays
from wsrl.search.metrics import recall_at_k
from wsrl.train.config import TrainConfig
from wsrl.train.decoder import DECODER_PRESETS, DecoderConfig, ImplicitDecoder
from wsrl.train.losses import SigLIPLoss, rendering_loss
from wsrl.train.raybank import RAY_RES, RayBanks
from wsrl.train.sampler import Pair, PairSampler

SIGLIP_LR_SCALE = 30.0


class WeightSpaceModel(nn.Module):
    """The encoder and, as the loss needs them, the decoder, the SigLIP temperature/bias and the projection head."""

    def __init__(self, loss: str, encoder: EncoderConfig, decoder: DecoderConfig, projector: bool = True) -> None:
        super().__init__()
        self.encoder = GMNEncoder(encoder)
        self.decoder = ImplicitDecoder(encoder.embedding, decoder) if "rec" in loss else None
        self.siglip = SigLIPLoss() if "con" in loss else None
        width = encoder.embedding
        self.projector = mlp(width, width, width) if "con" in loss and projector else None

    def forward(
        self, graphs: Batch, domain: Tensor, rays: dict[str, Tensor] | None, samples: int, gen: torch.Generator
    ) -> dict[str, Tensor]:
        """Losses of a batch whose first half and second half are the two sides of the pairs;
        ``domain`` is each graph's architecture index (the encoder standardises per architecture)."""
        z = self.encoder(graphs, domain)
        out = {}
        if self.siglip is not None:
            half = z.shape[0] // 2
            p = z if self.projector is None else self.projector(z)
            out["con"] = self.siglip(p[:half], p[half:])
        if self.decoder is not None:
            out["rec"] = rendering_loss(self.decoder, z, rays, samples, gen)
        return out


def total_loss(parts: dict[str, Tensor], cfg: TrainConfig) -> Tensor:
    if cfg.loss == "rec+con":
        return parts["rec"] + cfg.con_weight * parts["con"]
    return parts[cfg.loss]


def _distributed() -> tuple[int, int]:
    """Rank and world size under ``torchrun`` (gloo), else ``(0, 1)``."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def _barrier(world: int) -> None:
    if world > 1:
        dist.barrier()


def _generator(*keys: int) -> torch.Generator:
    seed = 0
    for k in keys:
        seed = (seed * 1_000_003 + k) % (1 << 62)
    return torch.Generator().manual_seed(seed)


def _sides(pairs: list[Pair]) -> list[tuple[str, str]]:
    """(arch, object id) of the first sides of the pairs, then of the second sides."""
    return [(a, i) for i, a, _ in pairs] + [(b, i) for i, _, b in pairs]


def augment_values(graphs: Batch, noise: float, gen: torch.Generator) -> Batch:
    """A copy of a batch of :class:`~wsrl.graph.param_graph.ParamGraph` whose parameter values are multiplied by
    ``1 + noise * N(0, 1)``."""
    out = copy.copy(graphs)  # shares every tensor but the new values
    out.value = graphs.value * (1 + noise * torch.randn(graphs.value.shape[0], generator=gen))
    return out


def _batch(
    data: GraphCollection, banks: RayBanks | None, pairs: list[Pair], cfg: TrainConfig, gen: torch.Generator,
    augment: bool,
):  # fmt: skip
    """Graphs (``augment``: with :func:`augment_values`), their architecture indices and (for ``rec``) rays
    of both sides of ``pairs``."""
    sides = _sides(pairs)
    domain = torch.tensor([cfg.archs.index(arch) for arch, _ in sides])
    rays = banks.batch(sides, cfg.rays, gen) if banks is not None else None
    graphs = batch_graphs([data.graph(arch, i) for arch, i in sides], cfg.node_probes)
    if augment and cfg.value_noise > 0:
        graphs = augment_values(graphs, cfg.value_noise, gen)
    return graphs, domain, rays


def cross_arch_recall(encoder: GMNEncoder, data: GraphCollection, ids: list[str], archs: list[str]) -> float:
    """Mean recall@1 over ordered pairs of different architectures: query in one, gallery in the other."""
    emb = {a: embed_graphs(encoder, [data.graph(a, i) for i in ids]) for a in archs}
    scores = [recall_at_k(emb[q], ids, emb[g], ids, (1,))[1] for q in archs for g in archs if q != g]
    return sum(scores) / len(scores)


@torch.no_grad()
def _validate(
    model: WeightSpaceModel, data: GraphCollection, banks: RayBanks | None, sampler: PairSampler, cfg: TrainConfig
) -> dict:
    model.eval()
    losses = []
    for step, pairs in enumerate(sampler.batches(0)):
        gen = _generator(cfg.seed, 999_999, step)
        graphs, domain, rays = _batch(data, banks, pairs, cfg, gen, augment=False)
        losses.append(float(total_loss(model(graphs, domain, rays, cfg.samples, gen), cfg)))
    recall = cross_arch_recall(model.encoder, data, sampler.ids, list(cfg.archs))
    model.train()
    return {"val_loss": sum(losses) / len(losses), "val_recall@1": recall}


@torch.no_grad()
def _render_check(
    model: WeightSpaceModel, data: GraphCollection, banks: RayBanks, ids: list[str], arch: str, path: Path
) -> None:
    """Input NeRF renders (top row) and decoder renders (bottom row) of the first ray-bank view."""
    model.eval()
    bank, pixels = banks[arch], RAY_RES * RAY_RES
    z = embed_graphs(model.encoder, [data.graph(arch, i) for i in ids])
    o, d = bank.origins[:pixels].expand(len(ids), -1, -1), bank.dirs[:pixels].expand(len(ids), -1, -1)
    pred = render_rays(model.decoder.field(z), o, d, SCENE_AABB, RenderConfig(64))["rgb"]
    truth = torch.stack([bank.rgb[banks.row[arch][i], :pixels] for i in ids])
    images = torch.cat([truth, pred]).reshape(-1, RAY_RES, RAY_RES, 3)
    save_png(path, image_grid(images, len(ids)))
    model.train()


def _training_data(data_dir: str | os.PathLike, cfg: TrainConfig) -> tuple[GraphCollection, RayBanks | None]:
    """The collection's graphs of the training architectures (built and cached now) and, for ``rec``, ray banks."""
    data = GraphCollection(data_dir, list(cfg.archs))
    data.require(splits=True, what="training")
    for arch in cfg.archs:
        data.graphs(arch)
    return data, RayBanks(data, list(cfg.archs)) if "rec" in cfg.loss else None


def _write_metrics(out: Path, rows: list[dict]) -> None:
    save_text(out / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    save_csv(out / "metrics.csv", rows)


def _metrics_rows(out: Path) -> list[dict]:
    """``metrics.jsonl`` of a run whose checkpoints predate the rows they carry."""
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def train(
    data_dir: str | os.PathLike,
    out: str | os.PathLike,
    cfg: TrainConfig = TrainConfig(),
    resume: bool = False,
    progress: bool = True,
    until_epoch: int | None = None,
) -> list[dict]:
    """Train (or resume) a run; returns the metric rows of all epochs so far.

    ``until_epoch`` stops after that epoch (the schedule still spans ``cfg.epochs``): a job cut
    into time slices, each continued with ``resume=True``.
    """
    rank, world = _distributed()
    out = Path(out)
    if (out / "last.pt").exists() and not resume:
        raise WsrlError(f"{out}: holds a run already; pass --resume to continue it or choose another --out")
    state = load_run(out / "last.pt") if resume and (out / "last.pt").exists() else None
    if state is not None:  # refuse other settings before anything is written or built
        now, then = json.loads(json.dumps(asdict(cfg))), json.loads(json.dumps(state["config"]))  # tuples as lists
        changed = {k: (v, now.get(k)) for k, v in then.items() if now.get(k) != v}
        if changed:
            said = ", ".join(f"{k} {new!r} (run: {old!r})" for k, (old, new) in sorted(changed.items()))
            raise WsrlError(f"{out}: --resume with other settings than the run's: {said}; resume with the run's own")
    enc_cfg = replace(ENCODER_PRESETS[cfg.preset], node_probes=cfg.node_probes, output_readout=cfg.output_readout)
    dec_cfg = DECODER_PRESETS[cfg.preset]
    if rank == 0:  # rank 0 builds the caches, the others then read them
        data, banks = _training_data(data_dir, cfg)
    _barrier(world)
    if rank != 0:
        data, banks = _training_data(data_dir, cfg)
    torch.manual_seed(cfg.seed)
    model = WeightSpaceModel(cfg.loss, enc_cfg, dec_cfg, cfg.projector)
    for arch in cfg.archs:  # each checkpoint stores the training split's moments (wsrl.encoder.population)
        check_population(arch, len(data.population(arch)))
    train_sampler = PairSampler(data.ids("train", cfg.archs), list(cfg.archs), cfg.pairs_per_batch, cfg.seed)
    val_ids = data.ids("val", cfg.archs)
    if len(val_ids) < 2:
        raise WsrlError(f"{data_dir}: the validation split has {len(val_ids)} objects; need at least 2")
    val_sampler = PairSampler(val_ids, list(cfg.archs), min(cfg.pairs_per_batch, len(val_ids)), cfg.seed)
    steps = len(train_sampler.batches(0, rank, world))
    # SigLIP's temperature and bias start at log 10 and -10 (built for batches of thousands); with a few
    # pairs per batch the bias must travel several units, so these two scalars learn 30x faster, undecayed
    siglip = list(model.siglip.parameters()) if model.siglip is not None else []
    rest = [p for n, p in model.named_parameters() if not n.startswith("siglip.")]
    groups = [{"params": rest, "weight_decay": cfg.weight_decay}]
    groups += [{"params": siglip, "weight_decay": 0.0}] if siglip else []
    max_lr = [cfg.lr, SIGLIP_LR_SCALE * cfg.lr][: len(groups)]
    opt = torch.optim.AdamW(groups, lr=cfg.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=cfg.epochs * steps)
    rows: list[dict] = []
    start_epoch, best = 0, float("inf")
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        start_epoch, best = state["epoch"] + 1, state["best_val"]
        rows = list(state["metrics"]) if "metrics" in state else _metrics_rows(out)[:start_epoch]
    runner = nn.parallel.DistributedDataParallel(model) if world > 1 else model
    if rank == 0:
        save_json(
            out / "config.json", {"train": asdict(cfg), "encoder": enc_cfg.to_dict(), "decoder": dec_cfg.to_dict()}
        )
    for epoch in range(start_epoch, min(cfg.epochs, until_epoch or cfg.epochs)):
        started, sums = time.time(), {}
        batches = train_sampler.batches(epoch, rank, world)
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{cfg.epochs} ({cfg.loss})", disable=not progress or rank != 0)
        for step, pairs in enumerate(bar):
            gen = _generator(cfg.seed, epoch, step, rank)
            graphs, domain, rays = _batch(data, banks, pairs, cfg, gen, augment=True)
            parts = runner(graphs, domain, rays, cfg.samples, gen)
            loss = total_loss(parts, cfg)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            for k, v in {"loss": loss, **parts}.items():
                sums[k] = sums.get(k, 0.0) + v.item()
            bar.set_postfix(loss=f"{loss.item():.4f}")
        if rank == 0:
            row = {"epoch": epoch + 1, "step": (epoch + 1) * steps, "lr": sched.get_last_lr()[0]}
            row.update({f"train_{k}": v / len(batches) for k, v in sums.items()})
            row.update(_validate(model, data, banks, val_sampler, cfg))
            row["seconds"] = time.time() - started
            rows.append(row)
            is_best = row["val_loss"] < best
            best = min(best, row["val_loss"])
            final = epoch + 1 == cfg.epochs
            # the reference moments of these weights (pooling the training split costs about half an epoch on
            # mini): for best.pt always, for last.pt at the end of the run
            populations = {a: data.population(a) for a in cfg.archs} if is_best or final else {}
            norms = reference_norms(model.encoder, populations)
            payload = envelope(RUN_FORMAT, RUN_VERSION, {
                "config": asdict(cfg),
                "encoder_config": enc_cfg.to_dict(),
                "decoder_config": dec_cfg.to_dict(),
                "epoch": epoch,
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "best_val": best,
                "norms": norms,
                "metrics": rows,  # the resume point carries its rows: a kill before metrics.jsonl loses none
            })  # fmt: skip
            if is_best:
                save_torch(out / "best.pt", payload)
            save_torch(out / "last.pt", payload)  # last: the resume point exists only once best is consistent
            _write_metrics(out, rows)
            if model.decoder is not None:
                _render_check(
                    model, data, banks, val_ids[:6], cfg.archs[0], out / "renders" / f"epoch_{epoch + 1:04d}.png"
                )
            if progress:
                print(
                    f"epoch {epoch + 1}: train {row['train_loss']:.4f}  val {row['val_loss']:.4f}  "
                    f"val cross-arch R@1 {row['val_recall@1']:.3f}  ({row['seconds']:.1f}s)"
                )
        _barrier(world)
    return rows
