"""Fixtures for the availability tests: a programme and its staff, through the real services."""

from __future__ import annotations

import pytest

from people.models import User
from programmes.models import Programme, Role
from tests.support.factories import make_programme, make_staff


@pytest.fixture
def programme(db: None) -> Programme:
    return make_programme()


@pytest.fixture
def peer(programme: Programme) -> User:
    return make_staff(programme, Role.PEER_SUPPORTER)


@pytest.fixture
def supervisor(programme: Programme) -> User:
    return make_staff(programme, Role.SUPERVISOR)
