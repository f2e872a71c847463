"""Notifications: write the rows in the caller's transaction, send after commit.

``notify`` is the entry point for every other app. It works out the channels from
preferences, renders the text once per language (not per recipient), applies the SMS
limits, writes all rows with one insert, and queues their sending after commit. A row's
idempotency key makes writing the same message twice a no-op; the send is claimed by a
conditional update, so a task run twice sends once.

``notify_later`` is the same call for a request that must stay short: one row now, the rest
by a worker after commit.
"""

import hashlib
import hmac
import json
import logging
import random
import time
from collections import Counter
from datetime import timedelta
from functools import lru_cache

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.utils import timezone, translation

from notifications.events import EVENTS
from notifications.models import Channel, DeliveryReport, Notification, NotificationRequest, Preference
from notifications.segments import sms_segments
from notifications.transports import Sms, TransportError, email_send, get_sms_transport

log = logging.getLogger(__name__)

Status = Notification.Status
UNSUBSCRIBE_PLACEHOLDER = "__UNSUBSCRIBE_URL__"
UNSUBSCRIBE_SALT = "notifications.unsubscribe"
FAN_OUT_CHUNK = 100
LIVE_STATUSES = [Status.PENDING, Status.SENDING, Status.SENT, Status.DELIVERED]

PARTS = {
    Channel.SMS: ["sms.txt"],
    Channel.EMAIL: ["email-subject.txt", "email-body.txt", "email-body.html"],
    Channel.INAPP: ["inapp.txt"],
}


@lru_cache(maxsize=256)
def _has_template(event: str, channel: str) -> bool:
    try:
        for part in PARTS[channel]:
            get_template(f"notifications/{event}/{part}")
    except TemplateDoesNotExist:
        return False
    return True


def event_channels(event: str) -> list[str]:
    spec = EVENTS[event]
    return [c for c in Channel.values if c in spec.channels and _has_template(event, c)]


def _render(event: str, channel: str, language: str, context: dict) -> tuple[str, dict]:
    """Render one channel's parts in a language; fall back to English where it has no text."""

    def render(lang):
        with translation.override(lang):
            return {
                part: get_template(f"notifications/{event}/{part}").render(context).strip()
                for part in PARTS[channel]
            }

    parts = render(language)
    if language != "en":
        english = render("en")
        if parts == english and any(c.isalpha() for c in "".join(english.values())):
            log.warning("No %s text for %s/%s: sent in English", language, event, channel)
            language = "en"
    return language, parts


def unsubscribe_url(user_id: int, event: str) -> str:
    from django.urls import reverse

    token = signing.dumps({"u": user_id, "e": event}, salt=UNSUBSCRIBE_SALT, compress=True)
    return settings.SITE_URL + reverse("notifications:unsubscribe", args=[token])


def default_enabled(user, channel: str) -> bool:
    """Drivers hear by SMS, firm staff and officers by email; everyone in the portal."""
    if channel == Channel.INAPP:
        return True
    if channel == Channel.SMS:
        return user.is_driver
    return user.is_member or user.is_staff or not user.is_driver


def recipients_annotated(user_ids: list[int]):
    from allauth.account.models import EmailAddress

    from portal.models import Driver, Membership, User

    return User.objects.filter(pk__in=user_ids, is_active=True).annotate(
        is_driver=Exists(Driver.objects.filter(user=OuterRef("pk"))),
        is_member=Exists(Membership.objects.filter(user=OuterRef("pk"))),
        email_verified=Exists(
            EmailAddress.objects.filter(user=OuterRef("pk"), email=OuterRef("email"), verified=True)
        ),
    )


class _Limits:
    """Daily SMS limits per number, per firm and per client address (SMS pumping)."""

    def __init__(self, addresses, organisation, client_ip):
        since = timezone.now() - timedelta(days=1)
        live = Notification.objects.filter(
            channel=Channel.SMS, created_at__gte=since, status__in=LIVE_STATUSES
        )
        self.per_number = Counter(
            dict(live.filter(address__in=set(addresses)).values_list("address").annotate(n=Count("id")))
        )
        self.firm = live.filter(organisation=organisation).count() if organisation else 0
        self.ip = live.filter(client_ip=client_ip).count() if client_ip else 0
        self.organisation, self.client_ip = organisation, client_ip

    def refuse(self, address: str) -> str | None:
        if self.per_number[address] >= settings.SMS_LIMIT_PER_NUMBER_PER_DAY:
            return "daily SMS limit reached for this number"
        if self.organisation and self.firm >= settings.SMS_LIMIT_PER_FIRM_PER_DAY:
            return "daily SMS limit reached for this firm"
        if self.client_ip and self.ip >= settings.SMS_LIMIT_PER_IP_PER_DAY:
            return "daily SMS limit reached for this client address"
        self.per_number[address] += 1
        self.firm += 1
        self.ip += 1
        return None


def notify(
    event: str,
    obj=None,
    *,
    recipients=(),
    address: str = "",
    language: str | None = None,
    context: dict | None = None,
    organisation=None,
    key: str = "",
    client_ip: str | None = None,
) -> list[int]:
    """Tell ``recipients`` (users) or one ``address`` (a phone or an email with no account
    behind it yet) about ``event`` on ``obj``. Call it inside the transaction of the change.

    ``key`` tells apart two messages of the same event on the same object (e.g. the
    audit event's id); the same call made twice writes nothing the second time.
    Returns the ids of the rows to be sent.
    """
    object_type, object_id = _object_ref(obj)
    return _notify(
        event,
        object_type,
        object_id,
        recipients=recipients,
        address=address,
        language=language,
        context=context,
        organisation=organisation,
        key=key,
        client_ip=client_ip,
    )


def _object_ref(obj) -> tuple[str, str]:
    return (obj._meta.label_lower, str(obj.pk)) if obj is not None else ("", "")


def _notify(
    event, object_type, object_id, *, recipients, address, language, context, organisation, key, client_ip
) -> list[int]:
    base_key = f"{event}:{object_type}:{object_id}:{key}"
    common = {
        "event": event,
        "object_type": object_type,
        "object_id": object_id,
        "organisation": organisation,
    }
    user_ids = [getattr(u, "pk", u) for u in recipients]
    spec = EVENTS.get(event)
    if spec is None:
        log.error("notify() called with the unknown event %r", event)
        rows = [
            Notification(
                **common,
                recipient_id=uid,
                channel=Channel.INAPP,
                language="en",
                body="",
                status=Status.FAILED,
                last_error=f"unknown event {event!r}",
                idempotency_key=f"{base_key}:{uid}:unknown",
            )
            for uid in user_ids or [None]
        ]
        Notification.objects.bulk_create(rows, ignore_conflicts=True)
        return []

    context = {"site_url": settings.SITE_URL, **(context or {})}
    channels = event_channels(event)
    targets = []  # (user or None, channel, address or "", language, problem)
    if address:
        channel = Channel.EMAIL if "@" in address else Channel.SMS
        if channel in channels:
            targets.append((None, channel, address, language or translation.get_language() or "en", None))
    if user_ids:
        users = list(recipients_annotated(user_ids))
        preferences = {
            (p.user_id, p.channel): p.enabled
            for p in Preference.objects.filter(user_id__in=user_ids, event=event)
        }
        for user in users:
            for channel in channels:
                wanted = spec.security or preferences.get((user.pk, channel), default_enabled(user, channel))
                if not wanted:
                    continue
                problem, to = None, ""
                if channel == Channel.SMS:
                    to = user.phone.as_e164 if user.phone and user.phone_verified else ""
                    problem = None if to else "no verified phone number"
                elif channel == Channel.EMAIL:
                    to = user.email if user.email and user.email_verified else ""
                    problem = None if to else "no verified email address"
                targets.append((user, channel, to, user.language or "en", problem))

    limits = _Limits([t[2] for t in targets if t[1] == Channel.SMS], organisation, client_ip)
    rendered: dict[tuple[str, str], tuple[str, dict]] = {}
    rows = []
    now = timezone.now()
    for user, channel, to, lang, problem in targets:
        if (channel, lang) not in rendered:
            extra = {"unsubscribe_url": UNSUBSCRIBE_PLACEHOLDER} if not spec.security else {}
            rendered[(channel, lang)] = _render(event, channel, lang, {**context, **extra})
        used_language, parts = rendered[(channel, lang)]
        status, error = Status.PENDING, ""
        if problem:
            status, error = Status.CANCELLED, problem
        elif channel == Channel.SMS:
            refused = limits.refuse(to)
            if refused:
                status, error = Status.FAILED, refused
        elif channel == Channel.INAPP:
            status = Status.SENT
        body = parts.get("sms.txt") or parts.get("email-body.txt") or parts.get("inapp.txt", "")
        if spec.sensitive and status != Status.PENDING:
            body = _redacted(body)  # never sent: no code is kept
        html = parts.get("email-body.html", "")
        if user is not None and channel == Channel.EMAIL and not spec.security:
            url = unsubscribe_url(user.pk, event)
            body, html = (
                body.replace(UNSUBSCRIBE_PLACEHOLDER, url),
                html.replace(UNSUBSCRIBE_PLACEHOLDER, url),
            )
        rows.append(
            Notification(
                **common,
                recipient=user,
                address=to,
                channel=channel,
                language=used_language,
                subject=parts.get("email-subject.txt", "")[:255],
                body=body,
                html=html,
                segments=sms_segments(body) if channel == Channel.SMS else 0,
                sensitive=spec.sensitive,
                client_ip=client_ip,
                idempotency_key=f"{base_key}:{user.pk if user else to}:{channel}",
                status=status,
                last_error=error,
                sent_at=now if status == Status.SENT else None,
                created_at=now,
                next_attempt_at=now,
            )
        )
    Notification.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)
    keys = [r.idempotency_key for r in rows if r.status == Status.PENDING]
    ids = (
        list(
            Notification.objects.filter(
                idempotency_key__in=keys, status=Status.PENDING, created_at=now
            ).values_list("id", flat=True)
        )
        if keys
        else []
    )
    if ids:
        transaction.on_commit(lambda: notifications_queue(ids))
    return ids


def notify_later(
    event: str, obj=None, *, recipients=(), context: dict | None = None, organisation=None, key=""
):
    """``notify`` for a request that must stay short: records the call (one insert, in the
    caller's transaction) and leaves the lookups, the rendering and the rate limits to a
    worker. ``context`` must be JSON: strings and numbers, no model instances."""

    object_type, object_id = _object_ref(obj)
    request = NotificationRequest.objects.create(
        event=event,
        object_type=object_type,
        object_id=object_id,
        key=key,
        recipients=[getattr(u, "pk", u) for u in recipients],
        context=context or {},
        organisation_id=getattr(organisation, "pk", organisation),
    )
    transaction.on_commit(lambda: notification_requests_queue([request.pk]))
    return request


def notification_requests_queue(ids) -> int:
    """Hand recorded requests to the workers; if the broker is down, the sweeper will."""
    from notifications.tasks import notification_request_expand

    return _publish(
        [(notification_request_expand, request_id, 1) for request_id in ids], "notification requests"
    )


def notification_request_expand(*, request_id: int) -> list[int]:
    """Turn a recorded request into its notifications, once: the row is locked while it is
    expanded (a second task skips it) and marked done in the same transaction."""

    with transaction.atomic():
        request = (
            NotificationRequest.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk=request_id, expanded_at__isnull=True)
            .select_related("organisation")
            .first()
        )
        if request is None:
            return []
        ids = _notify(
            request.event,
            request.object_type,
            request.object_id,
            recipients=request.recipients,
            address="",
            language=None,
            context=request.context,
            organisation=request.organisation,
            key=request.key,
            client_ip=None,
        )
        NotificationRequest.objects.filter(pk=request.pk).update(expanded_at=timezone.now())
    return ids


def notifications_queue(ids) -> int:
    """Hand rows to the workers. If the broker is down, the rows stay pending and the
    sweeper queues them later; the caller's request does not fail."""
    from notifications.tasks import notification_send, notifications_fan_out

    ids = list(ids)
    # A broadcast hands the workers chunks to fan out, so the committing request stays quick.
    chunks = (
        [ids[i : i + FAN_OUT_CHUNK] for i in range(0, len(ids), FAN_OUT_CHUNK)]
        if len(ids) > FAN_OUT_CHUNK
        else []
    )
    if chunks:
        return _publish([(notifications_fan_out, chunk, len(chunk)) for chunk in chunks], "notifications")
    return _publish([(notification_send, notification_id, 1) for notification_id in ids], "notifications")


def _publish(jobs, what: str) -> int:
    """Send (task, argument, how many it stands for) to the broker over one connection, and
    count what went; the rest stays for the sweeper, and the caller's request does not fail."""
    if not jobs:
        return 0
    queued = sum(weight for _task, _argument, weight in jobs)
    sent = 0
    policy = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5}
    try:
        with jobs[0][0].app.producer_or_acquire() as producer:
            for task, argument, weight in jobs:
                task.apply_async((argument,), producer=producer, retry=True, retry_policy=policy)
                sent += weight
    except Exception as exc:  # the broker's errors vary with the transport
        log.warning("Broker unreachable, %d %s left for the sweeper: %s", queued - sent, what, exc)
    return sent


def _backoff(attempts: int, retry_after: float | None) -> float:
    """Exponential backoff with full jitter, at least what the provider asked for."""
    ceiling = min(settings.NOTIFICATION_RETRY_BASE_SECONDS * 2 ** (attempts - 1), 3600)
    return max(random.uniform(ceiling / 2, ceiling), retry_after or 0)  # noqa: S311 - jitter, not crypto


def _redacted(text: str) -> str:
    return "".join("•" if c.isdigit() else c for c in text)


def notification_deliver(*, notification_id: int) -> tuple[str, float | None]:
    """Send one notification if it is still pending; returns (outcome, retry in seconds)."""
    now = timezone.now()
    claimed = Notification.objects.filter(pk=notification_id, status=Status.PENDING).update(
        status=Status.SENDING, attempts=F("attempts") + 1, sending_started_at=now
    )
    if not claimed:
        return "skipped", None
    notification = Notification.objects.select_related("recipient").get(pk=notification_id)
    try:
        if notification.channel == Channel.SMS:
            message_id = get_sms_transport().send(
                Sms(to=notification.address, body=notification.body, idempotency_key=notification.send_key)
            )
        elif notification.channel == Channel.EMAIL:
            headers = {}
            if notification.recipient_id and not EVENTS.get(notification.event, EVENTS["auth.code"]).security:
                url = unsubscribe_url(notification.recipient_id, notification.event)
                headers = {
                    "List-Unsubscribe": f"<{url}>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                }
            message_id = email_send(
                to=notification.address,
                subject=notification.subject,
                text=notification.body,
                html=notification.html,
                idempotency_key=notification.send_key,
                headers=headers,
            )
        else:
            message_id = ""
    except Exception as exc:
        error = exc if isinstance(exc, TransportError) else TransportError(f"{exc.__class__.__name__}: {exc}")
        if not isinstance(exc, TransportError):
            log.exception("Sending notification %s failed unexpectedly", notification_id)
        if error.permanent or notification.attempts >= settings.NOTIFICATION_MAX_ATTEMPTS:
            failed = {"status": Status.FAILED, "last_error": error.message[:2000]}
            if notification.sensitive:
                failed["body"] = _redacted(notification.body)
            Notification.objects.filter(pk=notification_id, status=Status.SENDING).update(**failed)
            return "failed", None
        delay = _backoff(notification.attempts, error.retry_after)
        Notification.objects.filter(pk=notification_id, status=Status.SENDING).update(
            status=Status.PENDING,
            last_error=error.message[:2000],
            next_attempt_at=now + timedelta(seconds=delay),
        )
        return "retry", delay
    # What the send produced is kept even if a delivery report has already moved the row on.
    done = {"provider_message_id": message_id or "", "sent_at": timezone.now(), "last_error": ""}
    if notification.sensitive:
        done["body"] = _redacted(notification.body)
    Notification.objects.filter(pk=notification_id).update(**done)
    Notification.objects.filter(pk=notification_id, status=Status.SENDING).update(status=Status.SENT)
    return "sent", None


EXPANDED_REQUESTS_KEPT = timedelta(days=7)


def notifications_sweep() -> int:
    """Re-queue what was left behind: rows stuck in sending (a worker died mid-send) and
    pending rows long past due (the broker was down at commit, or a message was lost); drop
    requests expanded more than a week ago."""
    now = timezone.now()
    stuck_before = now - timedelta(seconds=settings.NOTIFICATION_STUCK_SECONDS)
    stuck = list(
        Notification.objects.filter(status=Status.SENDING, sending_started_at__lt=stuck_before).values_list(
            "id", flat=True
        )[:5000]
    )
    if stuck:
        Notification.objects.filter(
            id__in=stuck, status=Status.SENDING, sending_started_at__lt=stuck_before
        ).update(
            status=Status.PENDING, next_attempt_at=now, last_error="the send was interrupted; sent again"
        )
    overdue = now - timedelta(seconds=settings.NOTIFICATION_REQUEUE_SECONDS)
    due = list(
        Notification.objects.filter(status=Status.PENDING, next_attempt_at__lt=overdue).values_list(
            "id", flat=True
        )[:5000]
    )

    requests = list(
        NotificationRequest.objects.filter(expanded_at__isnull=True, created_at__lt=overdue)
        .order_by("created_at")
        .values_list("id", flat=True)[:5000]
    )
    if requests:
        notification_requests_queue(requests)
    # Expanded requests have done their work (the notifications are the record): a week
    # is kept for looking into a complaint, in batches so that a sweep stays short.
    done = NotificationRequest.objects.filter(expanded_at__lt=now - EXPANDED_REQUESTS_KEPT)
    NotificationRequest.objects.filter(pk__in=list(done.values_list("pk", flat=True)[:5000])).delete()
    return notifications_queue(sorted(set(stuck) | set(due)))


@transaction.atomic
def notification_resend(*, notification: Notification) -> bool:
    """From the admin: send a failed or cancelled notification again, under a new send key
    (the provider would take the old one for a repeat). Sign-in codes are not resent:
    theirs has expired and its text is blanked."""
    updated = (
        Notification.objects.filter(
            pk=notification.pk,
            status__in=[Status.FAILED, Status.CANCELLED],
            channel__in=[Channel.SMS, Channel.EMAIL],
            sensitive=False,
        )
        .exclude(address="")
        .update(
            status=Status.PENDING,
            attempts=0,
            resends=F("resends") + 1,
            next_attempt_at=timezone.now(),
            last_error="",
        )
    )
    if updated:
        transaction.on_commit(lambda: notifications_queue([notification.pk]))
    return bool(updated)


def inapp_mark_read(*, user) -> int:
    return Notification.objects.filter(recipient=user, channel=Channel.INAPP, read_at__isnull=True).update(
        read_at=timezone.now()
    )


def preferences_save(*, user, choices: dict[tuple[str, str], bool]) -> None:
    for (event, channel), enabled in choices.items():
        if event not in EVENTS or EVENTS[event].security or channel not in Channel.values:
            continue
        Preference.objects.update_or_create(
            user=user, event=event, channel=channel, defaults={"enabled": enabled}
        )


def unsubscribe(*, token: str) -> tuple[object, str] | None:
    """Turn off email for the event the link was made for; None if the link is bad."""
    from portal.models import User

    try:
        data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
        user = User.objects.get(pk=data["u"])
    except (signing.BadSignature, KeyError, TypeError, User.DoesNotExist):
        return None
    if data.get("e") not in EVENTS or EVENTS[data["e"]].security:
        return None
    preferences_save(user=user, choices={(data["e"], Channel.EMAIL): False})
    return user, data["e"]


def delivery_report_record(*, body: bytes, signature: str, remote_addr: str | None) -> tuple[int, str]:
    """A delivery report from the SMS gateway: HMAC-SHA256 of the body with the shared secret,
    sent as ``X-Landport-Signature: sha256=<hex>``. Returns (HTTP status, outcome)."""
    secret = settings.SMS_GATEWAY_WEBHOOK_SECRET.encode()
    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    valid = bool(secret) and hmac.compare_digest(expected, signature or "")
    if not valid:
        # Unsigned posts are kept short and few: the endpoint needs no sign-in.
        window = f"delivery-report-refused:{remote_addr}:{int(time.time() // 60)}"
        cache.add(window, 0, 120)
        if cache.incr(window) > settings.DELIVERY_REPORTS_REFUSED_PER_MINUTE:
            return 429, "too many unsigned reports"
    report = DeliveryReport(
        body=body.decode("utf-8", "replace")[: 10000 if valid else 200],
        signature_valid=valid,
        remote_addr=remote_addr,
    )

    def done(status_code, outcome):
        report.outcome = outcome
        report.save()
        return status_code, outcome

    if not valid:
        return done(403, "bad or missing signature")
    try:
        data = json.loads(body)
        state = data["status"]
        message_id = str(data.get("message_id") or "")
        reference = str(data.get("reference") or "")
        if state not in ("delivered", "failed") or not (message_id or reference):
            raise ValueError
    except (ValueError, KeyError, TypeError):
        return done(400, "malformed report")
    rows = Notification.objects.filter(channel=Channel.SMS)
    rows = (
        rows.filter(provider_message_id=message_id) if message_id else rows.filter(idempotency_key=reference)
    )
    notification = rows.first()
    if notification is None:
        return done(404, "no such message")
    report.notification = notification
    now = timezone.now()
    if state == "delivered":
        Notification.objects.filter(pk=notification.pk, status__in=[Status.SENDING, Status.SENT]).update(
            status=Status.DELIVERED, delivered_at=now
        )
    else:
        Notification.objects.filter(pk=notification.pk, status__in=[Status.SENDING, Status.SENT]).update(
            status=Status.FAILED, last_error=f"gateway: {str(data.get('error', 'not delivered'))[:500]}"
        )
    return done(200, state)
