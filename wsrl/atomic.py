"""Atomic file writes: a temporary file in the target folder, then ``os.replace``.

A job killed mid-write leaves either the old file or no file, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(f)`` on a temporary binary file and move it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_torch(path: str | os.PathLike, obj: Any) -> Path:
    """``torch.save`` atomically."""
    return atomic_write(path, lambda f: torch.save(obj, f))


def save_json(path: str | os.PathLike, obj: Any) -> Path:
    """JSON (indented, sorted keys) atomically."""
    text = json.dumps(obj, indent=2, sort_keys=True) + "\n"
    return atomic_write(path, lambda f: f.write(text.encode()))


def save_png(path: str | os.PathLike, image: torch.Tensor | np.ndarray) -> Path:
    """An ``[H, W, 3]`` float image in [0, 1] (or uint8) as PNG, atomically."""
    from PIL import Image

    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    if image.dtype != np.uint8:
        image = (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return atomic_write(path, lambda f: Image.fromarray(image).save(f, format="PNG"))


def save_text(path: str | os.PathLike, text: str) -> Path:
    """UTF-8 text atomically."""
    return atomic_write(path, lambda f: f.write(text.encode()))


def save_csv(path: str | os.PathLike, rows: list[dict]) -> Path:
    """Rows of equal keys as CSV (header from the first row) atomically."""
    import csv
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return save_text(path, buf.getvalue())


def save_figure(path: str | os.PathLike, figure: Any, dpi: int = 110) -> Path:
    """A matplotlib figure as PNG, atomically; the figure is closed."""
    import matplotlib.pyplot as plt

    try:
        return atomic_write(path, lambda f: figure.savefig(f, format="png", dpi=dpi))
    finally:
        plt.close(figure)
