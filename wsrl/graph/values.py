"""What a conversion worker computes for one checkpoint: its spec, its graph's parameter values and kept hash
rows, and its metadata; the main process puts them on the architecture's cached template
(:func:`wsrl.graph.build.template_for`) and
packs them without building a graph object.

Arrays go back as numpy: a torch tensor crosses processes through a shared-memory segment of its own, which cost
milliseconds a checkpoint (measured). This module imports neither torch-geometric nor the graph classes, so a
worker process starts in the time torch takes to import.
"""

from __future__ import annotations

from dataclasses import dataclass

from wsrl.converters import ConversionError, read_checkpoint
from wsrl.graph.build import nerf_values
from wsrl.graph.schema import DEFAULT_MAX_EDGES, VALUE_DTYPES


@dataclass(frozen=True, kw_only=True)
class ConvertOptions:
    """How checkpoints are read and graphs built."""

    fmt: str | None = None  # force a reader (default: detected by content)
    arch: str | None = None  # force the architecture name (nf2vec files do not store it)
    max_edges: int = DEFAULT_MAX_EDGES  # edge budget of one graph (hash grids are cut to fit)
    values: str = VALUE_DTYPES[0]  # the dtype shards store values in, one of VALUE_DTYPES


def read_values(job: tuple[str, ConvertOptions]) -> tuple[str, tuple | None, str | None]:
    """``(source, (spec, values, kept rows or None, meta), None)`` for a checkpoint read, or ``(source, None,
    reason)``: a bad file never stops the batch, and a reader bug is reported as unexpected."""
    source, opts = job
    try:
        nerf = read_checkpoint(source, opts.fmt, opts.arch)
        value, rows = nerf_values(nerf, opts.max_edges)
        return source, (nerf.spec, value.numpy(), None if rows is None else rows.numpy(), nerf.meta), None
    except ConversionError as exc:
        return source, None, str(exc)
    except Exception as exc:  # a reader bug must not kill the batch either; report it loudly
        return source, None, f"{source}: unexpected {type(exc).__name__}: {exc}"


def one_thread() -> None:
    """A worker's torch runs on one thread: the workers share the cores."""
    import torch

    torch.set_num_threads(1)
