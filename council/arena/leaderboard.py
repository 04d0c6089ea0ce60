"""The leaderboard: every counted vote fitted at once, and the open votes kept apart.

Counted: not discarded by staff, no identity words in the answers, neither entrant
excluded. The fit covers every counted vote, so the ratings share one scale; a mode
filter only chooses which rows show, and ranks are taken among the rows shown.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from council.arena import ratings
from council.arena.models import Entrant, OpenVote, Vote
from council.comparisons.models import Role

CACHE_SECONDS = 3600
SEED = 0  # the same votes give the same intervals on every request


@dataclass(frozen=True)
class Board:
    rows: list[ratings.Standing]  # Standing.entrant is an Entrant
    votes: int
    method: str


def counted_votes():
    return Vote.objects.filter(discarded=False, names_model=False).exclude(
        battle__entrant_a__excluded=True).exclude(battle__entrant_b__excluded=True)


def board(mode: str | None = None) -> Board:
    """The standings (cached per set of counted votes), filtered to `mode` when given."""
    votes = list(counted_votes().order_by("id").values_list(
        "battle__entrant_a_id", "battle__entrant_b_id", "winner"))
    resamples = settings.COUNCIL_ARENA_BOOTSTRAP
    key = "council:arena:board:" + hashlib.sha256(repr((resamples, votes)).encode()).hexdigest()
    rows = cache.get(key)
    if rows is None:
        ids = sorted({a for a, _, _ in votes} | {b for _, b, _ in votes})
        index = {pk: k for k, pk in enumerate(ids)}
        score = {"A": 1.0, "B": 0.0}
        rows = ratings.standings(ids, [index[a] for a, _, _ in votes], [index[b] for _, b, _ in votes],
                                 [score.get(w, 0.5) for _, _, w in votes], resamples=resamples, seed=SEED)
        cache.set(key, rows, CACHE_SECONDS)
    entrants = Entrant.objects.select_related("model").in_bulk([row.entrant for row in rows])
    rows = [ratings.Standing(**{**row.__dict__, "entrant": entrants[row.entrant]}) for row in rows]
    if mode:
        rows = ratings.ranked([row for row in rows if row.entrant.mode == mode])
    shown = {row.entrant.id for row in rows}
    counted = sum(1 for a, b, _ in votes if a in shown or b in shown)
    return Board(rows, counted, ratings.method(resamples))


def board_json(result: Board) -> dict:
    return {
        "entries": [
            {"model": row.entrant.model.slug, "name": row.entrant.model.name, "mode": row.entrant.mode,
             "rating": round(row.rating, 1), "ci_low": round(row.ci_low, 1), "ci_high": round(row.ci_high, 1),
             "battles": row.battles, "rank": row.rank}
            for row in result.rows
        ],
        "votes": result.votes,
        "method": result.method,
    }


def open_votes(mode: str | None = None) -> list[dict]:
    """Per (model, mode): how often it was the preferred column among the turns someone marked.

    Not blind (the person saw the names), so never mixed into the ratings above.
    """
    tally: dict[tuple, dict] = {}
    for vote in OpenVote.objects.select_related("response__model").prefetch_related("comparison__responses__model"):
        for response in vote.comparison.responses.all():
            if response.role != Role.ANSWER or (mode and response.mode != mode):
                continue
            row = tally.setdefault((response.model.slug, response.mode),
                                   {"model": response.model.slug, "name": response.model.name,
                                    "mode": response.mode, "preferred": 0, "shown": 0})
            row["shown"] += 1
            row["preferred"] += response.id == vote.response_id
    rows = sorted(tally.values(), key=lambda r: (-r["preferred"] / r["shown"], -r["shown"], r["model"]))
    for row in rows:
        row["share"] = round(row["preferred"] / row["shown"], 3)
    return rows


CHART_WIDTH = 640
CHART_LABEL = 200  # room for the entrant's name on the left
ROW_HEIGHT = 28


def chart(rows: list[ratings.Standing]) -> dict | None:
    """Coordinates of an SVG dot-and-whisker chart (one row per entrant), or None without rows."""
    if not rows:
        return None
    low = min(r.ci_low for r in rows)
    high = max(r.ci_high for r in rows)
    step = 50 if high - low <= 400 else 100
    low, high = step * (low // step), step * (high // step + 1)
    span = CHART_WIDTH - CHART_LABEL - 20

    def x(value):
        return round(CHART_LABEL + (value - low) / (high - low) * span, 1)

    return {
        "width": CHART_WIDTH,
        "height": ROW_HEIGHT * len(rows) + 30,
        "axis_y": ROW_HEIGHT * len(rows) + 5,
        "ticks": [{"x": x(v), "label": int(v)} for v in range(int(low), int(high) + 1, step)],
        "mean_x": x(ratings.MEAN_RATING),
        "rows": [
            {"y": ROW_HEIGHT * k + ROW_HEIGHT // 2, "label": str(r.entrant), "x": x(r.rating),
             "x_low": x(r.ci_low), "x_high": x(r.ci_high), "ranked": r.rank is not None,
             "title": f"{r.entrant}: {r.rating:.0f} ({r.ci_low:.0f}–{r.ci_high:.0f}), {r.battles} battles"}
            for k, r in enumerate(rows)
        ],
    }
