"""The paper's numbers beside ours: the ``paper`` section of a sweep file.

A sweep that reproduces a published experiment keeps the published values next to it, in its
own file, so `pyrodisent report` can print both in one table (``paper_comparison.md``):

.. code-block:: yaml

    paper:
      source: "PDisVAE, Table 4"
      by: method                        # the results.csv column whose values key the rows
      columns:                          # label -> results.csv column (ours)
        PC: metric.partial_correlation
        R2: metric.aligned_r2
      rows:                             # the paper's value per row and label: [mean, sd] or a string
        VAE: {PC: [1.01, 0.02], R2: [0.22, 0.04]}
        PDisVAE: {PC: [0.68, 0.04], R2: [0.54, 0.08]}
      reference:                        # single published numbers (a sanity line), printed as they are
        "PC of the true latents": "0.332 ± 0.006"
      claims:                           # the paper's claims, to be judged against the table
        - "PDisVAE has the lowest PC and the highest R²"

Our cells are mean ± sd over the finished trials of each row (sd with ddof = 1) and the number
of trials, ``n``, so a reader sees how many seeds stand behind each number.
"""

from __future__ import annotations

import math
from typing import Any

_KEYS = {"source", "by", "columns", "rows", "reference", "claims"}


def check_paper(value: Any) -> dict[str, Any]:
    """Validate a ``paper`` section (module docstring); returns it unchanged."""
    if not isinstance(value, dict):
        raise ValueError(f"a mapping with keys {sorted(_KEYS)}, got {value!r}")
    unknown = sorted(set(value) - _KEYS)
    if unknown:
        raise ValueError(f"unknown key(s) {unknown}; allowed: {', '.join(sorted(_KEYS))}")
    columns = value.get("columns") or {}
    if not isinstance(columns, dict) or not all(isinstance(c, str) for c in columns.values()):
        raise ValueError(f"'columns' maps a label to a results.csv column name, got {columns!r}")
    if columns and not isinstance(value.get("by"), str):
        raise ValueError("'by' names the results.csv column that keys the rows (e.g. method)")
    rows = value.get("rows") or {}
    if not isinstance(rows, dict):
        raise ValueError(f"'rows' maps a row key to {{label: value}}, got {rows!r}")
    for key, cells in rows.items():
        if not isinstance(cells, dict):
            raise ValueError(f"rows.{key}: a mapping {{label: [mean, sd] or text}}, got {cells!r}")
        for label, cell in cells.items():
            if label not in columns:
                raise ValueError(f"rows.{key}.{label}: no such label in 'columns' ({', '.join(columns)})")
            ok = isinstance(cell, str) or (
                isinstance(cell, list) and len(cell) in (1, 2) and all(isinstance(v, (int, float)) for v in cell)
            )
            if not ok:
                raise ValueError(f"rows.{key}.{label}: [mean, sd], [value] or a string, got {cell!r}")
    claims = value.get("claims") or []
    if not isinstance(claims, list) or not all(isinstance(c, str) for c in claims):
        raise ValueError(f"'claims' is a list of strings, got {claims!r}")
    reference = value.get("reference") or {}
    if not isinstance(reference, dict):
        raise ValueError(f"'reference' maps a label to the published value, got {reference!r}")
    return value


def _number(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def summarize(values: list[float]) -> tuple[float, float, int]:
    """(mean, sd with ddof = 1 — nan for one value, count)."""
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else math.nan
    return mean, sd, n


def _ours(values: list[float]) -> str:
    if not values:
        return "–"
    mean, sd, n = summarize(values)
    return f"{mean:.2f} ± {sd:.2f} (n={n})" if n > 1 else f"{mean:.2f} (n=1)"


def _theirs(cell: Any) -> str:
    if cell is None:
        return "–"
    if isinstance(cell, str):
        return cell
    return f"{cell[0]:.2f} ({cell[1]:.2f})" if len(cell) == 2 else f"{cell[0]:.2f}"


def comparison_table(rows: list[dict[str, Any]], paper: dict[str, Any]) -> list[str]:
    """Markdown lines: one row per value of ``paper.by`` (the paper's order first), for each
    label our mean ± sd (n) and the paper's value; then the reference values and the claims."""
    lines = [f"Paper: {paper.get('source', '(no source given)')}", ""]
    columns: dict[str, str] = paper.get("columns") or {}
    by = paper.get("by")
    published = paper.get("rows") or {}
    finished = [r for r in rows if r.get("state") == "finished"]
    if columns:
        keys = list(published) + [k for k in dict.fromkeys(str(r.get(by)) for r in finished) if k not in published]
        header = [by] + [f"{label} ({side})" for label in columns for side in ("ours", "paper")]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for key in keys:
            cells = [key]
            for label, column in columns.items():
                values = [v for r in finished if str(r.get(by)) == key for v in [_number(r.get(column))] if v is not None]
                cells += [_ours(values), _theirs((published.get(key) or {}).get(label))]
            lines.append("| " + " | ".join(cells) + " |")
        missing = sorted({c for c in columns.values() if not any(c in r for r in finished)})
        if finished and missing:
            lines.append(f"(no finished trial has the column(s) {', '.join(missing)})")
    for label, value in (paper.get("reference") or {}).items():
        lines.append(f"- {label}: paper {value}")
    if paper.get("claims"):
        lines += ["", "The paper's claims:"] + [f"- {c}" for c in paper["claims"]]
    return lines
