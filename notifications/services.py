"""Outbound messages. Callers run inside their own transaction; sending waits for commit."""

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import translation

from notifications import tasks


def sms_send(*, to: str, body: str) -> None:
    """Queue one SMS for after the caller's transaction commits."""
    to, body = str(to), str(body).replace("\u00a0", " ")
    transaction.on_commit(lambda: tasks.sms_deliver.delay(to, body))


def email_send(*, to: str, template: str, context: dict, language: str | None = None) -> None:
    """Render the template triplet in the recipient's language and queue it after commit.

    ``template`` names ``templates/emails/<template>-subject.txt``, ``-body.txt`` and
    ``-body.html``.
    """
    context = {"site_url": settings.SITE_URL, **context}
    with translation.override(language or settings.LANGUAGE_CODE):
        subject = " ".join(render_to_string(f"emails/{template}-subject.txt", context).split())
        text = render_to_string(f"emails/{template}-body.txt", context)
        html = render_to_string(f"emails/{template}-body.html", context)
    transaction.on_commit(lambda: tasks.email_deliver.delay(str(to), subject, text, html))
