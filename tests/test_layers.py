"""The package layout is the data flow: no module imports from a later stage (imports inside functions too)."""

from __future__ import annotations

import ast
from pathlib import Path

import wsrl

ROOT = Path(wsrl.__file__).parent
# stage of each top-level part, in data-flow order; a module may import its own stage and earlier ones
STAGES = {
    "errors": 0, "files": 0, "registry": 0, "classes": 0,
    "nerf": 1,
    "converters": 2, "zoo": 2,
    "graph": 3,
    "encoder": 4,
    "search": 5,
    "train": 6,
    "report": 7,
    "cli": 8,
}  # fmt: skip


def _part(module: str) -> str:
    return module.split(".")[1] if module.startswith("wsrl.") else ""


def _modules() -> list[tuple[str, Path]]:
    files = [(p, ROOT) for p in ROOT.rglob("*.py")]
    files += [(p, ROOT.parent / "converters") for p in (ROOT.parent / "converters").glob("*.py")]
    out = []
    for path, base in files:
        rel = path.relative_to(base).with_suffix("")
        prefix = "wsrl.converters" if base.name == "converters" else "wsrl"
        out.append((".".join([prefix, *rel.parts]).removesuffix(".__init__"), path))
    return out


def test_no_module_imports_a_later_stage():
    offences = []
    for module, path in _modules():
        part = _part(module)
        if part not in STAGES:  # wsrl/__init__.py and __main__.py sit above every stage
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                target = _part(name)
                if target in STAGES and STAGES[target] > STAGES[part]:
                    offences.append(f"{module} imports {name}")
    assert not offences, offences


def test_every_part_has_a_stage():
    parts = {p.name.removesuffix(".py") for p in ROOT.iterdir() if not p.name.startswith("__")} - {"__pycache__"}
    assert parts <= set(STAGES), parts - set(STAGES)
