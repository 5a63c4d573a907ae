"""Sign-in endpoints. Thin: validation by serializers, work by access.services."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate, login, logout
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_protect, ensure_csrf_cookie
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.authtoken.models import Token
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access import services
from access.permissions import AllowAnyone, SignedIn, is_staff_member, service_user
from access.serializers import (
    ChannelSerializer,
    LoginSerializer,
    MeSerializer,
    SmsCodeRequestSerializer,
    SmsCodeVerifySerializer,
    TicketSerializer,
    TokenSerializer,
    me_payload,
)
from access.throttles import (
    LoginIpThrottle,
    LoginUsernameThrottle,
    SmsCodeIpThrottle,
    SmsCodePhoneThrottle,
    WsTicketThrottle,
)
from audit.services import record
from peerlink.errors import DomainError
from people.models import User

BAD_CREDENTIALS = DomainError(
    "invalid_credentials",
    "The username or password is wrong.",
    http_status=status.HTTP_401_UNAUTHORIZED,
)


def _staff_user(request: Request) -> User:
    serializer = LoginSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    user = authenticate(
        request._request,
        username=serializer.validated_data["username"],
        password=serializer.validated_data["password"],
    )
    if user is None or not isinstance(user, User) or user.is_participant:
        record(action="auth.login_failed", details={"channel": "password"})
        raise BAD_CREDENTIALS
    if not (is_staff_member(user) or user.is_superuser):
        record(action="auth.login_failed", actor=user, details={"reason": "no_role"})
        raise BAD_CREDENTIALS
    return user


@method_decorator(ensure_csrf_cookie, name="dispatch")
class CsrfView(APIView):
    """Sets the CSRF cookie that browser clients send back on state-changing requests."""

    permission_classes = [AllowAnyone]

    @extend_schema(responses={204: None})
    def get(self, request: Request) -> Response:
        return Response(status=status.HTTP_204_NO_CONTENT)


@method_decorator(csrf_protect, name="dispatch")
class LoginView(APIView):
    """Staff sign-in for the browser: starts a session."""

    permission_classes = [AllowAnyone]
    authentication_classes: list[type] = []
    throttle_classes = [LoginIpThrottle, LoginUsernameThrottle]

    @extend_schema(request=LoginSerializer, responses={200: MeSerializer})
    def post(self, request: Request) -> Response:
        user = _staff_user(request)
        login(request._request, user, backend="django.contrib.auth.backends.ModelBackend")
        record(action="auth.login", actor=user, target=user, details={"channel": "password"})
        return Response(me_payload(user))


class TokenView(APIView):
    """Staff sign-in for API clients: returns a token for the Authorization header."""

    permission_classes = [AllowAnyone]
    authentication_classes: list[type] = []
    throttle_classes = [LoginIpThrottle, LoginUsernameThrottle]

    @extend_schema(request=LoginSerializer, responses={200: TokenSerializer})
    def post(self, request: Request) -> Response:
        user = _staff_user(request)
        token, _ = Token.objects.get_or_create(user=user)
        record(action="auth.login", actor=user, target=user, details={"channel": "token"})
        return Response({"token": token.key})


class LogoutView(APIView):
    permission_classes = [SignedIn]

    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        user = request.user
        assert isinstance(user, User)
        record(action="auth.logout", actor=user, target=user)
        if request.auth is not None and isinstance(request.auth, Token):
            request.auth.delete()
        logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SmsCodeRequestView(APIView):
    """Service users ask for a sign-in code by SMS. The answer never says if the number is known."""

    permission_classes = [AllowAnyone]
    authentication_classes: list[type] = []
    throttle_classes = [SmsCodeIpThrottle, SmsCodePhoneThrottle]

    @extend_schema(request=SmsCodeRequestSerializer, responses={202: None})
    def post(self, request: Request) -> Response:
        serializer = SmsCodeRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.request_login_code(phone=serializer.validated_data["phone"])
        return Response(status=status.HTTP_202_ACCEPTED)


@method_decorator(csrf_protect, name="dispatch")
class SmsCodeVerifyView(APIView):
    permission_classes = [AllowAnyone]
    authentication_classes: list[type] = []
    throttle_classes = [SmsCodeIpThrottle]

    @extend_schema(request=SmsCodeVerifySerializer, responses={200: MeSerializer})
    def post(self, request: Request) -> Response:
        serializer = SmsCodeVerifySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.verify_login_code(
            phone=serializer.validated_data["phone"], code=serializer.validated_data["code"]
        )
        login(request._request, user, backend="django.contrib.auth.backends.ModelBackend")
        return Response(me_payload(user))


class WsTicketView(APIView):
    """A single-use WebSocket ticket for clients that cannot send the session cookie."""

    permission_classes = [SignedIn]
    throttle_classes = [WsTicketThrottle]

    @extend_schema(request=None, responses={201: TicketSerializer})
    def post(self, request: Request) -> Response:
        assert isinstance(request.user, User)
        ticket = services.issue_ws_ticket(user=request.user)
        return Response(
            {"ticket": ticket, "expires_in": settings.WS_TICKET_TTL_SECONDS},
            status=status.HTTP_201_CREATED,
        )


class MeView(APIView):
    permission_classes = [SignedIn]

    @extend_schema(responses={200: MeSerializer})
    def get(self, request: Request, *args: Any) -> Response:
        assert isinstance(request.user, User)
        return Response(me_payload(request.user))


class MeChannelView(APIView):
    """A service user chooses how replies reach them: `web` or `sms` (which needs SMS
    consent). Staff get 403."""

    permission_classes = [SignedIn]

    @extend_schema(request=ChannelSerializer, responses={200: MeSerializer})
    def post(self, request: Request) -> Response:
        from messaging.actions.reply_channel import choose_channel

        user = service_user(request, why="Only service users choose a channel.")
        serializer = ChannelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        choose_channel(
            participant=user.participant, channel=serializer.validated_data["preferred_channel"]
        )
        return Response(me_payload(user))
