"""The 12-week trend as a small PNG (matplotlib, Agg backend, imported only when a chart is
drawn: the service and the text renderer never load it)."""

from __future__ import annotations

import io
from collections.abc import Sequence

from reports.model import TrendPoint


def trend_png(points: Sequence[TrendPoint], *, title: str = "") -> bytes:
    """Open bugs as a line, new and fixed per week as bars; 600x240 px, deterministic bytes for
    the same data (no timestamp in the PNG), so an unchanged chart is recognised as unchanged."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(6, 2.4), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    labels = [p.week[-3:] for p in points]
    xs = list(range(len(points)))
    ax.bar([x - 0.2 for x in xs], [p.new for p in points], width=0.4, label="new",
           color="#d9822b")
    ax.bar([x + 0.2 for x in xs], [p.fixed for p in points], width=0.4, label="fixed",
           color="#3c9d4e")
    ax2 = ax.twinx()
    ax2.plot(xs, [p.open for p in points], color="#1a55a0", marker="o", markersize=3,
             label="open")
    ax.set_xticks(xs, labels, fontsize=7)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax2.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.tick_params(axis="y", labelsize=7)
    ax2.tick_params(axis="y", labelsize=7)
    ax.set_ylabel("new / fixed", fontsize=7)
    ax2.set_ylabel("open", fontsize=7)
    if title:
        ax.set_title(title, fontsize=8)
    handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    ax.legend(handles=handles, fontsize=7, loc="upper left", frameon=False)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()
