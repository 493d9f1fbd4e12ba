"""The paper's numbers beside ours: the ``paper`` section of a sweep file.

A sweep that reproduces a published experiment keeps the published values next to it, in its
own file, so `pyrodisent report` can print both in one table (``paper_comparison.md``):

.. code-block:: yaml

    paper:
      source: "PDisVAE, Table 4"
      by: method                        # the results.csv column whose values key the rows,
                                        # or a list of columns ([method, rho]: rows "VAE / 0.9")
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
      test_against: PDisVAE             # optional: Welch's t-test of every other row against it

Our cells are mean ± sd (ddof = 1) over the finished trials of each row and their number ``n``,
so a reader sees how many seeds stand behind each number. With ``test_against``, each label also
gets the two-sided p-value of Welch's t-test between that row's trials and the named row's (the
paper's Fig. 3 and 8 mark pairwise t-tests), and :func:`plot_paper_boxplots` draws one box plot
per label with the rows in the paper's order.
"""

from __future__ import annotations

import math
from typing import Any

from scipy.stats import ttest_ind

_KEYS = {"source", "by", "columns", "rows", "reference", "claims", "test_against"}


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
    by = value.get("by")
    by_ok = isinstance(by, str) or (isinstance(by, list) and by and all(isinstance(c, str) for c in by))
    if columns and not by_ok:
        raise ValueError(
            "'by' names the results.csv column that keys the rows (e.g. method), or a list of "
            f"columns whose values join into the key (e.g. [method, rho] for rows 'VAE / 0.9'), got {by!r}"
        )
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
    if "test_against" in value and not isinstance(value["test_against"], str):
        raise ValueError(f"'test_against' names one row (a value of 'by'), got {value['test_against']!r}")
    reference = value.get("reference") or {}
    if not isinstance(reference, dict):
        raise ValueError(f"'reference' maps a label to the published value, got {reference!r}")
    return value


def cell_number(value: Any) -> float | None:
    """A results.csv cell as a finite float, or None (empty, boolean, text, nan or inf);
    the report's plots read cells the same way."""
    if isinstance(value, bool) or value is None or value == "":
        return None
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


def row_key(row: dict[str, Any], by: str | list[str]) -> str:
    """The comparison row a results.csv row belongs to: its ``by`` value, or its ``by`` values
    joined by " / " when ``by`` is a list."""
    if isinstance(by, str):
        return str(row.get(by))
    return " / ".join(str(row.get(c)) for c in by)


def _by_label(by: str | list[str]) -> str:
    return by if isinstance(by, str) else " / ".join(by)


def _values(finished: list[dict[str, Any]], by, key: str, column: str) -> list[float]:
    return [v for r in finished if row_key(r, by) == key for v in [cell_number(r.get(column))] if v is not None]


def welch_p(a: list[float], b: list[float]) -> float | None:
    """Two-sided p-value of Welch's t-test, or None with fewer than 2 values on a side."""
    if len(a) < 2 or len(b) < 2:
        return None
    return float(ttest_ind(a, b, equal_var=False).pvalue)


def row_keys(rows: list[dict[str, Any]], paper: dict[str, Any]) -> list[str]:
    """The rows of the comparison: the paper's order first, then any other value of ``by``."""
    published = list(paper.get("rows") or {})
    seen = dict.fromkeys(row_key(r, paper.get("by")) for r in rows if r.get("state") == "finished")
    return published + [k for k in seen if k not in published]


def comparison_table(rows: list[dict[str, Any]], paper: dict[str, Any]) -> list[str]:
    """Markdown lines: one row per value of ``paper.by`` (the paper's order first), for each
    label our mean ± sd (n), the paper's value and, with ``test_against``, Welch's p; then the
    reference values and the claims."""
    lines = [f"Paper: {paper.get('source', '(no source given)')}", ""]
    columns: dict[str, str] = paper.get("columns") or {}
    by = paper.get("by")
    published = paper.get("rows") or {}
    against = paper.get("test_against")
    finished = [r for r in rows if r.get("state") == "finished"]
    if columns:
        sides = ("ours", "paper") + ((f"p vs {against}",) if against else ())
        header = [_by_label(by)] + [f"{label} ({side})" for label in columns for side in sides]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for key in row_keys(rows, paper):
            cells = [key]
            for label, column in columns.items():
                values = _values(finished, by, key, column)
                cells += [_ours(values), _theirs((published.get(key) or {}).get(label))]
                if against:
                    p = None if key == against else welch_p(values, _values(finished, by, against, column))
                    cells.append("–" if p is None else f"{p:.2g}")
            lines.append("| " + " | ".join(cells) + " |")
        missing = sorted({c for c in columns.values() if not any(c in r for r in finished)})
        if finished and missing:
            lines.append(f"(no finished trial has the column(s) {', '.join(missing)})")
    for label, value in (paper.get("reference") or {}).items():
        lines.append(f"- {label}: paper {value}")
    if paper.get("claims"):
        lines += ["", "The paper's claims:"] + [f"- {c}" for c in paper["claims"]]
    return lines


def plot_paper_boxplots(rows: list[dict[str, Any]], paper: dict[str, Any], path) -> str:
    """One box plot per label of ``paper.columns`` over the rows (seeds as dots), the paper's
    Fig. 3(a) / 8(b) layout; the paper's mean is drawn as a red bar where it printed one."""
    # matplotlib: only when a report draws plots
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns: dict[str, str] = paper.get("columns") or {}
    by, published = paper.get("by"), paper.get("rows") or {}
    finished = [r for r in rows if r.get("state") == "finished"]
    keys = row_keys(rows, paper)
    fig, axes = plt.subplots(1, len(columns), figsize=(3.2 * len(columns), 3.2), squeeze=False)
    for ax, (label, column) in zip(axes[0], columns.items()):
        data = [_values(finished, by, k, column) for k in keys]
        ax.boxplot([d if d else [math.nan] for d in data], tick_labels=keys, widths=0.6)
        for i, d in enumerate(data, 1):
            ax.plot([i] * len(d), d, "k.", ms=4, alpha=0.6)
            cell = (published.get(keys[i - 1]) or {}).get(label)
            if isinstance(cell, list):
                ax.plot([i - 0.3, i + 0.3], [cell[0]] * 2, "r-", lw=2)
        n = sorted({len(d) for d in data if d})
        ax.set_title(f"{label} (n = {', '.join(map(str, n)) or 0} seeds)", fontsize=9)
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    fig.suptitle(paper.get("source", "") + " — boxes: ours; red bars: the paper's mean", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"wrote {path.name}: {', '.join(columns)} per {_by_label(by)}"

