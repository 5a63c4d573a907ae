"""One error shape for every API response: {"code": ..., "message": ...}, never a traceback."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)


class DomainError(Exception):
    """A rule of the domain refused a write. Services raise it; the API maps it to a 4xx."""

    http_status: int = status.HTTP_400_BAD_REQUEST

    def __init__(self, code: str, message: str, *, http_status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        if http_status is not None:
            self.http_status = http_status


class Conflict(DomainError):
    http_status: int = status.HTTP_409_CONFLICT


class NotFound(DomainError):
    http_status: int = status.HTTP_404_NOT_FOUND


def _code_for(exc: exceptions.APIException) -> str:
    codes = exc.get_codes()
    if isinstance(codes, str):
        return codes
    return "invalid"


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        return Response({"code": exc.code, "message": exc.message}, status=exc.http_status)
    if isinstance(exc, RequestDataTooBig):
        return Response(
            {"code": "too_large", "message": "The request body is too large."},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, SuspiciousOperation):
        return Response(
            {"code": "bad_request", "message": "The request is not valid."},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        # Unexpected: log the type only (the message may hold personal data) and answer 500.
        logger.error("unhandled API error: %s", type(exc).__name__)
        return Response(
            {"code": "server_error", "message": "Something went wrong on our side."},
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    assert isinstance(exc, exceptions.APIException)
    if isinstance(exc, exceptions.ValidationError):
        response.data = {
            "code": "invalid",
            "message": "The request is not valid.",
            "fields": exc.detail,
        }
    else:
        response.data = {"code": _code_for(exc), "message": str(exc.detail)}
    return response


def json_404(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse({"code": "not_found", "message": "Not found."}, status=404)


def json_500(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        {"code": "server_error", "message": "Something went wrong on our side."}, status=500
    )


def json_403(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse({"code": "forbidden", "message": "You may not do this."}, status=403)


def json_400(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse({"code": "bad_request", "message": "The request is not valid."}, status=400)


def csrf_failure(request: HttpRequest, reason: str = "") -> JsonResponse:
    return JsonResponse(
        {"code": "csrf_failed", "message": "Send the CSRF token (GET /api/v1/auth/csrf/ first)."},
        status=403,
    )
