"""Rate limits on the doors an attacker would knock on. DRF's throttles, keyed sensibly."""

from __future__ import annotations

import hashlib
from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle


def _hashed(value: str) -> str:
    # Cache keys are visible to whoever reads the cache: never a raw username or phone number.
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]


class LoginIpThrottle(SimpleRateThrottle):
    scope = "login_ip"

    def get_cache_key(self, request: Request, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginUsernameThrottle(SimpleRateThrottle):
    scope = "login_username"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        username = request.data.get("username") if hasattr(request.data, "get") else None
        if not isinstance(username, str) or not username:
            return None
        return self.cache_format % {"scope": self.scope, "ident": _hashed(username)}


class SmsCodeIpThrottle(SimpleRateThrottle):
    scope = "sms_code_ip"

    def get_cache_key(self, request: Request, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class SmsCodePhoneThrottle(SimpleRateThrottle):
    scope = "sms_code_phone"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        phone = request.data.get("phone") if hasattr(request.data, "get") else None
        if not isinstance(phone, str) or not phone:
            return None
        digits = "".join(ch for ch in phone if ch.isdigit())
        return self.cache_format % {"scope": self.scope, "ident": _hashed(digits[-9:])}


class WsTicketThrottle(SimpleRateThrottle):
    scope = "ws_ticket"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if not request.user or not request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": str(request.user.pk)}
