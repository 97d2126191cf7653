"""Satisfaction tokens and checks: bound to ticket and rating by the secret; score = good / rated."""

from __future__ import annotations

import pytest

from maildesk.outbound import tokens
from maildesk.tickets import csat


def test_token_round_trip_and_forgeries() -> None:
    token = tokens.satisfaction_token("s3cret", 42, "good")
    assert tokens.read_satisfaction_token("s3cret", token) == (42, "good")
    tag = token.rsplit(".", 1)[1]
    for forged in (f"43.good.{tag}", f"42.bad.{tag}", token + "x", "42.good", "", "x.good." + tag, "４２.good." + tag):
        assert tokens.read_satisfaction_token("s3cret", forged) is None, forged
    assert tokens.read_satisfaction_token("other-secret", token) is None


def test_ratings_comments_and_score() -> None:
    assert csat.check_rating("bad") == "bad"
    with pytest.raises(csat.BadRating):
        csat.check_rating("meh")
    assert csat.check_comment("  ") is None and csat.check_comment(" ok ") == "ok"
    with pytest.raises(csat.BadRating):
        csat.check_comment("x" * (csat.MAX_COMMENT + 1))
    assert csat.score(3, 4) == 0.75 and csat.score(0, 0) is None
