"""A form saved once however often it is sent (portal/services/submissions.py)."""

from datetime import timedelta

import pytest

from portal.errors import Invalid
from portal.services import submissions

import factories as make


def test_a_token_is_saved_once_and_a_form_without_one_every_time(db):
    token = submissions.new_token()
    assert submissions.first_time(db, token, at=make.AT) is True
    assert submissions.first_time(db, token, at=make.AT) is False
    assert submissions.first_time(db, None, at=make.AT) is True
    assert submissions.first_time(db, "", at=make.AT) is True


def test_the_first_copys_outcome_is_found_by_the_second(db):
    token = submissions.new_token()
    submissions.first_time(db, token, at=make.AT)
    submissions.remember(db, token, "/cases/synthetic")
    assert submissions.outcome_of(db, token) == "/cases/synthetic"


def test_a_token_the_portal_never_made_is_refused_in_words(db):
    with pytest.raises(Invalid) as refused:
        submissions.first_time(db, "<script>", at=make.AT)
    assert "open the page again" in refused.value.errors["submission"]


def test_a_save_rolled_back_keeps_no_token(db):
    token = submissions.new_token()
    with db.begin_nested() as inner:
        submissions.first_time(db, token, at=make.AT)
        inner.rollback()
    assert submissions.first_time(db, token, at=make.AT) is True


def test_tokens_a_month_old_are_let_go(db):
    old = submissions.new_token()
    submissions.first_time(db, old, at=make.AT - timedelta(days=31))
    submissions.first_time(db, submissions.new_token(), at=make.AT)
    assert submissions.outcome_of(db, old) is None
    assert submissions.first_time(db, old, at=make.AT) is True
