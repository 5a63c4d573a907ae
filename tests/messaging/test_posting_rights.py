from __future__ import annotations

import pytest

from messaging.models import Conversation
from messaging.selectors import may_post
from programmes.models import EnrolmentStatus
from programmes.services import end_enrolment
from tests.support.factories import World

pytestmark = pytest.mark.django_db


def test_the_participant_and_the_assigned_peer_may_post(world: World) -> None:
    conversation = Conversation.objects.get(enrolment=world.own)
    assert may_post(world.own.participant.user, conversation)
    assert may_post(world.peer, conversation)
    assert not may_post(world.supervisor, conversation)
    assert not may_post(world.other_peer, conversation)


def test_nobody_posts_after_the_enrolment_ends(world: World) -> None:
    conversation = Conversation.objects.get(enrolment=world.own)
    end_enrolment(enrolment=world.own, status=EnrolmentStatus.WITHDRAWN, ended_by=world.admin)
    assert not may_post(world.own.participant.user, conversation)
    assert not may_post(world.peer, conversation)
