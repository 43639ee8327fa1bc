"""A small bar chart drawn as SVG on the server: no script, so it suits the CSP."""

from __future__ import annotations

from dataclasses import dataclass

from migrations_app.models import Run

HEIGHT = 160
BAR_WIDTH = 14
GAP = 10


@dataclass(frozen=True)
class Bar:
    x: int
    y: int
    height: int
    kind: str
    title: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    labels: list[tuple[int, str]]
    peak: int


def pair_chart(runs: list[Run]) -> Chart:
    """Inserted and updated (with adopted) records per run, side by side."""
    peak = max((max(r.inserted, r.updated + r.adopted) for r in runs), default=0)
    bars, labels = [], []
    for index, run in enumerate(runs):
        x = GAP + index * (2 * BAR_WIDTH + GAP)
        for offset, kind, value in (
            (0, "inserted", run.inserted),
            (BAR_WIDTH, "updated", run.updated + run.adopted),
        ):
            height = round(HEIGHT * value / peak) if peak else 0
            bars.append(
                Bar(
                    x + offset,
                    HEIGHT - height,
                    height,
                    kind,
                    f"Run {run.pk}, {run.created_at:%Y-%m-%d %H:%M}: {value} {kind}",
                )
            )
        labels.append((x + BAR_WIDTH, str(run.pk)))
    width = GAP + len(runs) * (2 * BAR_WIDTH + GAP)
    return Chart(max(width, 200), HEIGHT, bars, labels, peak)
