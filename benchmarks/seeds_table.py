"""Mean ± standard deviation over seeds of ``wsrl bench all`` reports, as one markdown table.

    python benchmarks/seeds_table.py REPORT_s0 REPORT_s1 REPORT_s2 [--methods trained probe ...]

Each report's summary row of each method (``wsrl.report.bench_all.summary_rows``); classification columns in
percent, recall as fractions; a column some report lacks (``--no-mlp-probe``) is left out.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from wsrl.report.bench_all import SUMMARY_COLUMNS, summary_rows


def table(reports: list[Path], methods: list[str] | None = None) -> str:
    rows = [{r["method"]: r for r in summary_rows(json.loads((p / "results.json").read_text()))} for p in reports]
    names = methods or list(rows[0])
    columns = [c for c in SUMMARY_COLUMNS if all(c in run[m] for run in rows for m in names)]
    lines = [
        f"| method ({len(reports)} seeds) | " + " | ".join(columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for m in names:
        cells = []
        for c in columns:
            values = np.array([np.nan if run[m][c] is None else run[m][c] for run in rows], dtype=float)
            scale, digits = (100, 1) if SUMMARY_COLUMNS[c][2] == "percent" else (1, 3)
            mean, std = scale * values.mean(), scale * values.std(ddof=1) if len(values) > 1 else 0.0
            cells.append(f"{mean:.{digits}f} ± {std:.{digits}f}")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", type=Path)
    parser.add_argument("--methods", nargs="+")
    args = parser.parse_args()
    print(table(args.reports, args.methods))


if __name__ == "__main__":
    main()
