from __future__ import annotations

from typing import Any

from rest_framework import serializers

from people.models import Channel, User
from people.selectors import staff_display_name
from programmes.models import StaffRole


class LoginSerializer(serializers.Serializer[Any]):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=256, trim_whitespace=False)


class SmsCodeRequestSerializer(serializers.Serializer[Any]):
    phone = serializers.CharField(max_length=32)


class SmsCodeVerifySerializer(serializers.Serializer[Any]):
    phone = serializers.CharField(max_length=32)
    code = serializers.CharField(max_length=12)


class TicketSerializer(serializers.Serializer[Any]):
    ticket = serializers.CharField()
    expires_in = serializers.IntegerField()


class TokenSerializer(serializers.Serializer[Any]):
    token = serializers.CharField()


class RoleSerializer(serializers.Serializer[Any]):
    programme = serializers.CharField()
    role = serializers.CharField()


class MeSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=["staff", "participant"])
    display_name = serializers.CharField()
    roles = RoleSerializer(many=True)
    participant_id = serializers.UUIDField(allow_null=True)
    preferred_channel = serializers.ChoiceField(choices=Channel.choices, allow_null=True)


class ChannelSerializer(serializers.Serializer[Any]):
    preferred_channel = serializers.ChoiceField(choices=Channel.choices)


def me_payload(user: User) -> dict[str, Any]:
    if user.is_participant:
        return {
            "id": user.id,
            "kind": "participant",
            "display_name": "",
            "roles": [],
            "participant_id": user.participant.id,
            "preferred_channel": user.participant.preferred_channel,
        }
    roles = (
        StaffRole.objects.filter(user=user)
        .select_related("programme")
        .order_by("programme__slug", "role")
    )
    return {
        "id": user.id,
        "kind": "staff",
        "display_name": staff_display_name(user),
        "roles": [{"programme": r.programme.slug, "role": r.role} for r in roles],
        "participant_id": None,
        "preferred_channel": None,
    }
