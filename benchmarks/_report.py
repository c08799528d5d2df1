"""The one JSON layout every benchmark writes: {"ratios": {name: value}, "results": [...]}
plus optional extra keys (machine, meta). Imported by the scripts in this folder."""

from __future__ import annotations

import json
from pathlib import Path


def write_report(path, ratios: dict, results: list, **extra) -> None:
    """Write the benchmark report to path (nothing when path is None or empty)."""
    if path:
        Path(path).write_text(
            json.dumps({"ratios": ratios, "results": results, **extra}, indent=2, default=float)
        )
