"""Server-rendered SVG charts: small pure functions, no JavaScript, no fetched asset.

Every label goes through :func:`markupsafe.escape`; each chart has a ``<title>`` and
``<desc>`` (read by screen readers) and prints its numbers as text, so it reads without colour.
Series are told apart by pattern (solid, hatched, outlined) as well as by colour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None  # 0..1; None: no data
    text: str  # printed beside the bar


def _e(value: object) -> str:
    return str(escape(str(value)))


def rate_bars(title: str, bars: Sequence[Bar], width: int = 420) -> Markup:
    """Horizontal bars (pass rate per platform/arch), the percentage written at the end."""
    row_h, label_w, pad = 18, 130, 4
    plot_w = width - label_w - 90
    height = pad * 2 + row_h * max(1, len(bars))
    parts = [f'<svg class="xt-chart" role="img" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
             f"<title>{_e(title)}</title>",
             "<desc>" + _e("; ".join(f"{b.label}: {b.text}" for b in bars) or "no data")
             + "</desc>"]
    for i, bar in enumerate(bars):
        y = pad + i * row_h
        parts.append(f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end" '
                     f'class="xt-chart-label">{_e(bar.label[:24])}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{plot_w}" height="{row_h - 6}" '
                     'class="xt-bar-bg"/>')
        if bar.value is not None:
            w = round(plot_w * max(0.0, min(1.0, bar.value)), 1)
            parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{w}" height="{row_h - 6}" '
                         'class="xt-bar"/>')
        parts.append(f'<text x="{label_w + plot_w + 6}" y="{y + 13}" '
                     f'class="xt-chart-label">{_e(bar.text)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every value above went through _e()


@dataclass(frozen=True)
class Series:
    name: str
    values: tuple[int, ...]
    css: str  # xt-s0 | xt-s1 | xt-s2: fill/pattern per series


def grouped_bars(title: str, labels: Sequence[str], series: Sequence[Series],
                 width: int = 640, height: int = 200) -> Markup:
    """Vertical grouped bars (open / new / fixed per week), value printed above each bar."""
    left, bottom, top = 36, 34, 16
    plot_h = height - bottom - top
    top_value = max([1, *(v for s in series for v in s.values)])
    group_w = (width - left - 8) / max(1, len(labels))
    bar_w = max(2.0, (group_w - 6) / max(1, len(series)))
    desc = "; ".join(f"{lab}: " + ", ".join(f"{s.name} {s.values[i]}" for s in series)
                     for i, lab in enumerate(labels))
    parts = [f'<svg class="xt-chart" role="img" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
             '<defs><pattern id="xt-hatch" width="4" height="4" patternUnits="userSpaceOnUse" '
             'patternTransform="rotate(45)"><rect width="2" height="4" class="xt-hatch"/>'
             "</pattern></defs>",
             f"<title>{_e(title)}</title>", f"<desc>{_e(desc or 'no data')}</desc>",
             f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 4}" y2="{top + plot_h}" '
             'class="xt-axis"/>',
             f'<text x="{left - 4}" y="{top + 4}" text-anchor="end" class="xt-chart-label">'
             f"{top_value}</text>"]
    for i, lab in enumerate(labels):
        gx = left + i * group_w + 3
        for j, s in enumerate(series):
            v = s.values[i]
            h = round(plot_h * v / top_value, 1)
            x = round(gx + j * bar_w, 1)
            parts.append(f'<rect x="{x}" y="{round(top + plot_h - h, 1)}" '
                         f'width="{round(bar_w - 1, 1)}" height="{h}" class="{s.css}">'
                         f"<title>{_e(f'{lab} {s.name}: {v}')}</title></rect>")
            if v and bar_w >= 9:
                parts.append(f'<text x="{round(x + bar_w / 2, 1)}" '
                             f'y="{round(top + plot_h - h - 2, 1)}" text-anchor="middle" '
                             f'class="xt-chart-num">{v}</text>')
        parts.append(f'<text x="{round(gx + group_w / 2, 1)}" y="{height - bottom + 14}" '
                     f'text-anchor="middle" class="xt-chart-label">{_e(lab)}</text>')
    lx = left
    for s in series:
        parts.append(f'<rect x="{lx}" y="{height - 12}" width="10" height="10" class="{s.css}"/>'
                     f'<text x="{lx + 14}" y="{height - 3}" class="xt-chart-label">'
                     f"{_e(s.name)}</text>")
        lx += 24 + 7 * len(s.name)
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every value above went through _e()
