"""Satisfaction (CSAT): the requester's one rating of a ticket, and the score over a period.

A rating is "good" or "bad" with an optional comment; it can be changed until the ticket is
closed. The score is good / rated. Pure checks here; the change itself is
TicketService.rate (one event in the timeline).
"""

from __future__ import annotations

RATINGS = ("good", "bad")
MAX_COMMENT = 2000


class BadRating(ValueError):
    """Not a rating we take; the message says why."""


def check_rating(rating: str) -> str:
    if rating not in RATINGS:
        raise BadRating(f"must be one of {', '.join(RATINGS)}")
    return rating


def check_comment(comment: str | None) -> str | None:
    comment = (comment or "").strip()
    if len(comment) > MAX_COMMENT:
        raise BadRating(f"use at most {MAX_COMMENT} characters")
    return comment or None


def score(good: int, rated: int) -> float | None:
    """The share of ratings that were good (0..1), None when nothing was rated."""
    return round(good / rated, 4) if rated else None
