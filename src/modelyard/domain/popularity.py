"""Popularity numbers of a repository from its dated events (docs/popularity.md explains the choices).

`downloads` is the sum of the last DOWNLOADS_WINDOW_DAYS UTC days, today included. `trendingScore` weighs each
day's likes and downloads by how recent the day is:

    score = sum over the last TRENDING_WINDOW_DAYS days of 0.5 ** (age / HALF_LIFE_DAYS)
                                                        * (likes + downloads / DOWNLOADS_PER_LIKE)

where `age` is the number of days before today (0 for today). Pure: the caller passes today and the events.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

DOWNLOADS_WINDOW_DAYS = 30
TRENDING_WINDOW_DAYS = 14
HALF_LIFE_DAYS = 3.0
# A like is a deliberate act, once per user; downloads repeat freely (CI jobs, caches being checked).
DOWNLOADS_PER_LIKE = 100


def downloads_window_start(today: date) -> date:
    return today - timedelta(days=DOWNLOADS_WINDOW_DAYS - 1)


def trending_window_start(today: date) -> date:
    return today - timedelta(days=TRENDING_WINDOW_DAYS - 1)


def recency_weight(today: date, day: date) -> float:
    """1 for today, halving every HALF_LIFE_DAYS; 0 outside the window (and for days after today)."""
    age = (today - day).days
    if age < 0 or age >= TRENDING_WINDOW_DAYS:
        return 0.0
    return 0.5 ** (age / HALF_LIFE_DAYS)


def trending_score(today: date, likes_by_day: Mapping[date, int], downloads_by_day: Mapping[date, int]) -> float:
    days = set(likes_by_day) | set(downloads_by_day)
    return sum(
        recency_weight(today, day) * (likes_by_day.get(day, 0) + downloads_by_day.get(day, 0) / DOWNLOADS_PER_LIKE)
        for day in days
    )
