"""The paper's MLP probe: a classifier trained on frozen embeddings, its epoch chosen on validation.

As Ballerini et al. (and nf2vec before them) describe it: embedding -> 512 -> 256 -> classes (the paper's
embeddings are 1024 wide), each hidden layer Linear, BatchNorm, ReLU, dropout 0.5; AdamW (lr 1e-4, weight
decay 1e-2) under a one-cycle schedule, batches of 256, 150 epochs; every training batch is enlarged by
within-class mixes (each embedding takes a random subset of coordinates from another of its class); accuracy
on the validation split every 5 epochs and at the last, the best of those epochs scored on the test split.
Seeded and run under a forked RNG, so the same seed gives the same accuracy on CPU.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass(frozen=True, kw_only=True)
class MLPProbeConfig:
    hidden: tuple[int, ...] = (512, 256)
    dropout: float = 0.5
    epochs: int = 150
    batch_size: int = 256
    lr: float = 1e-4
    weight_decay: float = 1e-2
    eval_every: int = 5
    mix: bool = True  # within-class coordinate mixes added to every batch


def probe_network(d_in: int, n_classes: int, cfg: MLPProbeConfig) -> nn.Sequential:
    layers: list[nn.Module] = []
    for d_out in cfg.hidden:
        layers += [nn.Linear(d_in, d_out), nn.BatchNorm1d(d_out), nn.ReLU(), nn.Dropout(cfg.dropout)]
        d_in = d_out
    return nn.Sequential(*layers, nn.Linear(d_in, n_classes))


def within_class_mixes(x: Tensor, y: Tensor, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """``x`` and ``y`` followed by one mix per row whose class has more than two rows in the batch: the row with
    the coordinates of a random same-class row wherever a uniform draw passes a random per-row threshold."""
    counts = torch.bincount(y)
    order = torch.argsort(y, stable=True)  # rows grouped by class; class c starts at starts[c]
    starts = torch.cumsum(counts, 0) - counts
    n_same = counts[y]
    pick = starts[y] + (torch.rand(len(y), generator=gen) * n_same).long().clamp(max=n_same - 1)
    take = torch.rand(x.shape, generator=gen) >= torch.rand(len(y), 1, generator=gen)
    mixed = torch.where(take, x[order[pick]], x)
    keep = n_same > 2
    return torch.cat([x, mixed[keep]]), torch.cat([y, y[keep]])


@torch.no_grad()
def _accuracy(net: nn.Module, x: Tensor, y: Tensor) -> float:
    net.eval()
    return float((net(x.float()).argmax(1) == y).float().mean())


def fit_mlp_probe(
    train: Tensor, train_labels: Sequence[int], val: Tensor, val_labels: Sequence[int], n_classes: int,
    seed: int = 0, cfg: MLPProbeConfig = MLPProbeConfig(),
) -> nn.Module:  # fmt: skip
    """The probe trained on ``train`` at its best validation epoch, in eval mode."""
    x, y = train.float(), torch.as_tensor(list(train_labels))
    xv, yv = val.float(), torch.as_tensor(list(val_labels))
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        net = probe_network(x.shape[1], n_classes, cfg)
        opt = torch.optim.AdamW(net.parameters(), cfg.lr, weight_decay=cfg.weight_decay)
        steps_per_epoch = -(-len(y) // cfg.batch_size)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=cfg.epochs * steps_per_epoch)
        best_acc, best = -1.0, net
        for epoch in range(cfg.epochs):
            net.train()
            order = torch.randperm(len(y), generator=gen)
            for s in range(0, len(y), cfg.batch_size):
                xb, yb = x[order[s : s + cfg.batch_size]], y[order[s : s + cfg.batch_size]]
                if cfg.mix:
                    xb, yb = within_class_mixes(xb, yb, gen)
                if len(yb) < 2:  # batch norm needs two rows
                    continue
                loss = nn.functional.cross_entropy(net(xb), yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
            if epoch % cfg.eval_every == 0 or epoch == cfg.epochs - 1:
                acc = _accuracy(net, xv, yv)
                if acc > best_acc:
                    best_acc, best = acc, copy.deepcopy(net)
    return best.eval()


def probe_accuracy(net: nn.Module, test: Tensor, test_labels: Sequence[int]) -> float:
    """Accuracy of a fitted probe on ``test``."""
    return _accuracy(net, test, torch.as_tensor(list(test_labels)))
