from __future__ import annotations

import pytest

from peerlink.errors import DomainError
from programmes import services
from programmes.models import Arm, CaseloadAssignment, HandoffReason, Role
from tests.support.factories import enrol, make_programme, make_staff

pytestmark = pytest.mark.django_db


def test_a_new_programme_gets_the_four_epss_arms_with_their_services() -> None:
    programme = make_programme()
    services_by_arm = {arm.code: arm.services for arm in Arm.objects.filter(programme=programme)}
    assert services_by_arm == {
        "peer_support": {
            "peer_support": True,
            "supportive_texts": False,
            "reminder_texts": False,
            "surveys": True,
        },
        "peer_support_texts": {
            "peer_support": True,
            "supportive_texts": True,
            "reminder_texts": True,
            "surveys": True,
        },
        "texts": {
            "peer_support": False,
            "supportive_texts": True,
            "reminder_texts": True,
            "surveys": True,
        },
        "usual_care": {
            "peer_support": False,
            "supportive_texts": False,
            "reminder_texts": False,
            "surveys": True,
        },
    }


def test_arms_are_configurable_per_programme() -> None:
    programme = make_programme(
        arms=[
            services.ArmSpec(
                "chat",
                "Chat",
                peer_support=True,
                supportive_texts=False,
                reminder_texts=False,
                allocation_weight=2,
            ),
            services.ArmSpec(
                "control",
                "Control",
                peer_support=False,
                supportive_texts=False,
                reminder_texts=False,
            ),
        ]
    )
    assert list(
        Arm.objects.filter(programme=programme).values_list("code", "allocation_weight")
    ) == [("chat", 2), ("control", 1)]


def test_an_arm_without_peer_support_cannot_be_given_a_peer_supporter() -> None:
    programme = make_programme()
    peer = make_staff(programme, Role.PEER_SUPPORTER)
    enrolment = enrol(programme, peer_support=False)
    with pytest.raises(DomainError) as excinfo:
        services.assign_peer_supporter(
            enrolment=enrolment, peer_supporter=peer, assigned_by=None, reason=HandoffReason.INITIAL
        )
    assert excinfo.value.code == "arm_without_peer_support"
    assert not CaseloadAssignment.objects.exists()


def test_an_arm_with_peer_support_can_be_given_a_peer_supporter() -> None:
    programme = make_programme()
    peer = make_staff(programme, Role.PEER_SUPPORTER)
    enrolment = enrol(programme, peer_support=True)
    assignment = services.assign_peer_supporter(
        enrolment=enrolment, peer_supporter=peer, assigned_by=None, reason=HandoffReason.INITIAL
    )
    assert assignment.peer_supporter == peer
