"""Every REST endpoint under /api/v1/. Each must have a row in the role x endpoint matrix test."""

from __future__ import annotations

from django.urls import include, path

from access import api as access
from messaging import api as messaging
from messaging import workload_api
from messaging.sms import api as sms
from programmes import api as programmes

urlpatterns = [
    path("auth/csrf/", access.CsrfView.as_view(), name="auth-csrf"),
    path("auth/login/", access.LoginView.as_view(), name="auth-login"),
    path("auth/logout/", access.LogoutView.as_view(), name="auth-logout"),
    path("auth/token/", access.TokenView.as_view(), name="auth-token"),
    path("auth/sms-code/", access.SmsCodeRequestView.as_view(), name="auth-sms-code"),
    path("auth/sms-code/verify/", access.SmsCodeVerifyView.as_view(), name="auth-sms-code-verify"),
    path("ws-ticket/", access.WsTicketView.as_view(), name="ws-ticket"),
    path("me/", access.MeView.as_view(), name="me"),
    path("me/channel/", access.MeChannelView.as_view(), name="me-channel"),
    path("programmes/", programmes.ProgrammeListView.as_view(), name="programme-list"),
    path(
        "programmes/<slug:slug>/", programmes.ProgrammeDetailView.as_view(), name="programme-detail"
    ),
    path(
        "programmes/<slug:slug>/enrolments/",
        programmes.EnrolmentListView.as_view(),
        name="enrolment-list",
    ),
    path(
        "enrolments/<uuid:enrolment_id>/",
        programmes.EnrolmentDetailView.as_view(),
        name="enrolment-detail",
    ),
    path(
        "enrolments/<uuid:enrolment_id>/assignments/",
        programmes.AssignmentView.as_view(),
        name="enrolment-assignments",
    ),
    path(
        "programmes/<slug:slug>/waiting/",
        programmes.WaitingQueueView.as_view(),
        name="programme-waiting",
    ),
    path(
        "programmes/<slug:slug>/peer-change-requests/",
        programmes.PeerChangeRequestListView.as_view(),
        name="programme-peer-change-requests",
    ),
    path(
        "peer-change-requests/<int:request_id>/decline/",
        programmes.PeerChangeDeclineView.as_view(),
        name="peer-change-request-decline",
    ),
    path(
        "me/peer-supporter-change/",
        programmes.OwnPeerChangeView.as_view(),
        name="me-peer-supporter-change",
    ),
    path(
        "programmes/<slug:slug>/workload/",
        workload_api.WorkloadView.as_view(),
        name="programme-workload",
    ),
    path("conversations/", messaging.ConversationListView.as_view(), name="conversation-list"),
    path(
        "conversations/<uuid:conversation_id>/messages/",
        messaging.MessageHistoryView.as_view(),
        name="conversation-messages",
    ),
    path(
        "conversations/<uuid:conversation_id>/read/",
        messaging.MarkReadView.as_view(),
        name="conversation-read",
    ),
    path(
        "conversations/<uuid:conversation_id>/notes/",
        messaging.CaseNoteListView.as_view(),
        name="conversation-notes",
    ),
    path("saved-replies/", messaging.SavedReplyListView.as_view(), name="saved-reply-list"),
    path(
        "boundary-confirmations/",
        messaging.BoundaryConfirmationListView.as_view(),
        name="boundary-confirmation-list",
    ),
    path("sms-intake/", sms.SmsIntakeListView.as_view(), name="sms-intake-list"),
    path(
        "sms-intake/<uuid:intake_id>/resolve/",
        sms.SmsIntakeResolveView.as_view(),
        name="sms-intake-resolve",
    ),
    path("supervision/", include("supervision.urls")),
    path("", include("staffing.urls")),
    path("", include("messaging.risk.urls")),
    path("", include("scheduling.urls")),
    path("", include("outcomes.api_urls")),
    path(
        "saved-replies/<int:reply_id>/",
        messaging.SavedReplyDetailView.as_view(),
        name="saved-reply-detail",
    ),
]
