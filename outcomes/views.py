"""The survey web form at /surveys/<token>/ (outcomes/links.py): a plain, mobile-friendly
page, no login (the signed link is the key), no script. Thin: the form checks the items,
actions/web_session.py writes."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views import View

from outcomes.actions.web_session import (
    LinkProblem,
    LinkRefused,
    required_items,
    save_web_answers,
    usable_link,
)
from outcomes.forms import SurveyForm
from outcomes.links import link_id_of
from outcomes.models import SurveyLink
from outcomes.prompts import localised
from outcomes.selectors import answers_of, spec_of

REFUSED_STATUS = {
    LinkProblem.UNKNOWN: 404,
    LinkProblem.EXPIRED: 410,
    LinkProblem.USED: 410,
    LinkProblem.CLOSED: 410,
}


def _private(response: HttpResponse) -> HttpResponse:
    # Health answers: never cached, never indexed, and the link never leaks to another site
    # as a referrer ("no-referrer" would make Chromium post the form with `Origin: null`,
    # which the CSRF check refuses).
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex"
    return response


def _refused(request: HttpRequest, problem: LinkProblem) -> HttpResponse:
    return _private(
        render(
            request,
            "outcomes/link_refused.html",
            {"problem": problem.value},
            status=REFUSED_STATUS[problem],
        )
    )


class SurveyFormView(View):
    def _link(self, token: str) -> SurveyLink:
        return usable_link(link_id_of(token))

    def _page(
        self,
        request: HttpRequest,
        link: SurveyLink,
        form: SurveyForm,
        *,
        status: int = 200,
        saved: bool = False,
        missing: tuple[str, ...] = (),
        crisis: bool = False,
    ) -> HttpResponse:
        session = link.session
        assert session.instrument is not None
        spec = spec_of(session.instrument)
        language = session.language or spec.languages[0]
        programme = session.enrolment.programme
        return _private(
            render(
                request,
                "outcomes/survey_form.html",
                {
                    "programme": programme.name,
                    "instrument": spec.name,
                    "stem": localised(spec.stem, language, spec) if spec.stem else "",
                    # A risky answer saved, not yet submitted: where to get help, now.
                    "crisis": programme.crisis_text(language) if crisis else "",
                    "form": form,
                    "saved": saved,
                    "missing": set(missing),
                    "required": set(required_items(session)),
                    "closes_at": session.closes_at,
                },
                status=status,
            )
        )

    def get(self, request: HttpRequest, token: str) -> HttpResponse:
        try:
            link = self._link(token)
        except LinkRefused as refused:
            return _refused(request, refused.problem)
        session = link.session
        assert session.instrument is not None
        form = SurveyForm(
            spec=spec_of(session.instrument),
            language=session.language,
            initial=answers_of(session),
        )
        return self._page(request, link, form)

    def post(self, request: HttpRequest, token: str) -> HttpResponse:
        try:
            link = self._link(token)
        except LinkRefused as refused:
            return _refused(request, refused.problem)
        session = link.session
        assert session.instrument is not None
        form = SurveyForm(request.POST, spec=spec_of(session.instrument), language=session.language)
        if not form.is_valid():
            return self._page(request, link, form, status=400)
        submit = request.POST.get("action") == "submit"
        try:
            saved = save_web_answers(link_id=link.pk, answers=form.answers(), submit=submit)
        except LinkRefused as refused:
            return _refused(request, refused.problem)
        if saved.completed:
            programme = session.enrolment.programme
            return _private(
                render(
                    request,
                    "outcomes/survey_done.html",
                    {
                        "programme": programme.name,
                        "crisis": programme.crisis_text(session.language)
                        if saved.risk_fired
                        else "",
                    },
                )
            )
        for key in saved.missing:
            form.add_error(key, "Please answer this question.")
        return self._page(
            request,
            link,
            form,
            status=400 if saved.missing else 200,
            saved=not saved.missing,
            missing=saved.missing,
            crisis=saved.risk_fired,
        )
