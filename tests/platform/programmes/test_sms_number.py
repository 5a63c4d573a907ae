"""A programme's SMS number routes unknown senders to its intake: it must be a real E.164
number, and no two programmes may claim the same one."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from peerlink.errors import DomainError
from tests.support.factories import make_programme

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("number", ["7805550000", "+1 780 555 0000", "+1234", "call us"])
def test_a_number_not_in_e164_form_is_refused_by_validation(number: str) -> None:
    programme = make_programme()
    programme.sms_number = number
    with pytest.raises(ValidationError) as excinfo:
        programme.full_clean()
    assert "sms_number" in excinfo.value.message_dict


def test_an_e164_number_is_accepted() -> None:
    programme = make_programme()
    programme.sms_number = "+17805550000"
    programme.full_clean()


def test_two_programmes_cannot_share_a_number() -> None:
    make_programme("first", sms_number="+17805550000")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_programme("second", sms_number="+17805550000")


def test_programmes_without_a_number_are_many() -> None:
    make_programme("first")
    make_programme("second")


def test_the_service_normalises_the_number_and_refuses_nonsense() -> None:
    assert make_programme("first", sms_number="+1 (780) 555-0000").sms_number == "+17805550000"
    with pytest.raises(DomainError):
        make_programme("second", sms_number="not a number")
