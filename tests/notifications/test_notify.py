"""notify(): who hears of what, on which channel, in which language; nothing doubled."""

import pytest
from allauth.account.models import EmailAddress
from django.urls import reverse

from notifications import services
from notifications.events import EVENTS
from notifications.models import Channel, Notification, Preference
from notifications.segments import sms_encoding, sms_segments
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db
Status = Notification.Status


def verify_email(user):
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def rows(**filters):
    return sorted(
        Notification.objects.filter(**filters).values_list("channel", "status", "address", "language")
    )


def test_driver_hears_by_sms_staff_by_email_everyone_in_the_portal(firm_a):
    verify_email(firm_a.admin)
    firm_a.driver.language = "kk"
    firm_a.driver.save()
    services.notify(
        "organisation.verified",
        firm_a.organisation,
        recipients=[firm_a.admin, firm_a.driver],
        context={"organisation": "Alpha"},
    )
    assert rows(recipient=firm_a.admin) == [
        ("email", "pending", firm_a.admin.email, "en"),
        ("inapp", "sent", "", "en"),
    ]
    assert rows(recipient=firm_a.driver) == [
        ("inapp", "sent", "", "kk"),
        ("sms", "pending", firm_a.driver.phone.as_e164, "kk"),
    ]
    sms = Notification.objects.get(recipient=firm_a.driver, channel="sms")
    assert sms.body == "Landport: Alpha компаниясы расталды."
    assert sms.segments == 1


def test_the_same_notification_twice_is_written_once(firm_a):
    for _ in range(2):
        services.notify(
            "organisation.verified",
            firm_a.organisation,
            recipients=[firm_a.driver],
            context={"organisation": "Alpha"},
            key="audit-1",
        )
    assert Notification.objects.filter(recipient=firm_a.driver).count() == 2  # sms + in-app, once each
    services.notify(
        "organisation.verified",
        firm_a.organisation,
        recipients=[firm_a.driver],
        context={"organisation": "Alpha"},
        key="audit-2",
    )
    assert Notification.objects.filter(recipient=firm_a.driver).count() == 4


def test_unknown_event_is_recorded_as_failed_and_breaks_nothing(firm_a):
    assert services.notify("booking.teleported", None, recipients=[firm_a.admin]) == []
    row = Notification.objects.get()
    assert (row.status, row.last_error) == ("failed", "unknown event 'booking.teleported'")


def test_no_verified_phone_or_email_is_recorded_as_cancelled(firm_a):
    firm_a.driver.phone_verified = False
    firm_a.driver.save()
    services.notify(
        "organisation.verified",
        firm_a.organisation,
        recipients=[firm_a.driver, firm_a.admin],
        context={"organisation": "Alpha"},
    )
    cancelled = Notification.objects.filter(status="cancelled")
    assert sorted(cancelled.values_list("channel", "last_error")) == [
        ("email", "no verified email address"),
        ("sms", "no verified phone number"),
    ]


def test_preferences_turn_channels_off_and_on(firm_a):
    Preference.objects.create(user=firm_a.driver, event="organisation.verified", channel="sms", enabled=False)
    Preference.objects.create(
        user=firm_a.driver, event="organisation.verified", channel="inapp", enabled=False
    )
    services.notify(
        "organisation.verified",
        firm_a.organisation,
        recipients=[firm_a.driver],
        context={"organisation": "A"},
    )
    assert Notification.objects.count() == 0


def test_security_messages_ignore_preferences(firm_a):
    Preference.objects.create(user=firm_a.driver, event="auth.code", channel="sms", enabled=False)
    services.notify("auth.code", address=firm_a.driver.phone.as_e164, context={"code": "123456"}, key="k")
    assert Notification.objects.get().body == "123456 is your Landport code. Do not share it."


def test_sms_limit_per_number_per_day(settings):
    settings.SMS_LIMIT_PER_NUMBER_PER_DAY = 3
    for n in range(5):
        services.notify("auth.code", address="+77010000001", context={"code": f"00000{n}"}, key=str(n))
    assert [r.status for r in Notification.objects.order_by("id")] == ["pending"] * 3 + ["failed"] * 2
    assert (
        Notification.objects.filter(status="failed").first().last_error
        == "daily SMS limit reached for this number"
    )


def test_sms_limit_per_client_address(settings):
    settings.SMS_LIMIT_PER_IP_PER_DAY = 2
    for n in range(3):
        services.notify(
            "auth.code", address=f"+7701000000{n}", context={"code": "1"}, key=str(n), client_ip="10.0.0.9"
        )
    assert Notification.objects.filter(status="failed", last_error__contains="client address").count() == 1


def test_emails_carry_an_unsubscribe_link_that_works(
    client, firm_a, mailoutbox, django_capture_on_commit_callbacks
):
    verify_email(firm_a.admin)
    with django_capture_on_commit_callbacks(execute=True):
        services.notify(
            "organisation.verified",
            firm_a.organisation,
            recipients=[firm_a.admin],
            context={"organisation": "Alpha"},
        )
    message = mailoutbox[0]
    url = message.extra_headers["List-Unsubscribe"].strip("<>")
    assert url in message.body and url in message.alternatives[0][0]
    path = url.removeprefix("http://127.0.0.1:8000")
    assert client.get(path).status_code == 200  # a page with a button: link scanners change nothing
    assert not Preference.objects.exists()
    assert client.post(path).status_code == 200
    assert Preference.objects.get(user=firm_a.admin).enabled is False
    assert client.post(path[:-5] + "xxxx/").status_code == 400


def test_security_emails_have_no_unsubscribe_link(firm_a, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.notify(
            "invitation.sent",
            firm_a.organisation,
            address="new@example.com",
            context={"organisation": "Alpha", "role": "Driver", "url": "http://x/i/t/", "expires_at": None},
        )
    assert "List-Unsubscribe" not in mailoutbox[0].extra_headers
    assert "unsubscribe" not in mailoutbox[0].body


def test_a_broadcast_is_built_with_a_fixed_number_of_queries(django_assert_max_num_queries, firm_a):
    people = [MembershipFactory(organisation=firm_a.organisation, role="declarant").user for _ in range(60)]
    for person in people[:20]:
        verify_email(person)
    with django_assert_max_num_queries(8):
        services.notify(
            "organisation.verified",
            firm_a.organisation,
            recipients=people,
            organisation=firm_a.organisation,
            context={"organisation": "Alpha"},
        )
    assert Notification.objects.filter(channel="inapp").count() == 60
    assert Notification.objects.filter(channel="email", status="pending").count() == 20


EVENT_CONTEXT = {
    "organisation": "Silk Road Logistics",
    "role": "Dispatcher",
    "driver": "Nurlan Serikov",
    "code": "123456",
    "url": "https://khorgos.landport.example/i/8fJd0s-2mBk1rQ2v8zY3xW/",
    "expires_at": None,
}


@pytest.mark.parametrize("language", ["en", "zh-hans", "ru", "kk", "mn"])
@pytest.mark.parametrize("event", sorted(EVENTS))
def test_every_event_renders_in_every_language_within_two_sms_segments(event, language, caplog):
    for channel in services.event_channels(event):
        used, parts = services._render(
            event, channel, language, {**EVENT_CONTEXT, "unsubscribe_url": "http://u/"}
        )
        assert used == language, f"{event}/{channel} has no {language} text"
        assert all(text for text in parts.values())
        if channel == Channel.SMS:
            text = parts["sms.txt"]
            assert "\u00a0" not in text
            assert sms_segments(text) <= 2, (text, sms_segments(text))
            if language == "en":
                assert sms_encoding(text) == "GSM-7"


def test_a_missing_translation_falls_back_to_english_and_is_logged(caplog, settings, tmp_path):
    import logging

    template_dir = tmp_path / "notifications" / "organisation.verified"
    template_dir.mkdir(parents=True)
    (template_dir / "inapp.txt").write_text("Plain English only for {{ organisation }}.")
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [tmp_path, *settings.TEMPLATES[0]["DIRS"]]}]
    with caplog.at_level(logging.WARNING):
        used, parts = services._render("organisation.verified", "inapp", "ru", {"organisation": "A"})
    assert (used, parts["inapp.txt"]) == ("en", "Plain English only for A.")
    assert "No ru text for organisation.verified/inapp" in caplog.text


def test_inbox_shows_unread_count_and_marks_read(client, firm_a):
    services.notify(
        "organisation.verified",
        firm_a.organisation,
        recipients=[firm_a.driver],
        context={"organisation": "Alpha"},
    )
    client.force_login(firm_a.driver)
    page = client.get(reverse("notifications:inbox"))
    assert page.context["unread_notifications"] == 1
    assert "Alpha is verified by the port." in page.content.decode()
    client.post(reverse("notifications:inbox"))
    assert client.get(reverse("notifications:inbox")).context["unread_notifications"] == 0


def test_inbox_shows_only_ones_own(client, firm_a, firm_b):
    services.notify(
        "organisation.verified",
        firm_a.organisation,
        recipients=[firm_a.driver],
        context={"organisation": "Alpha"},
    )
    client.force_login(firm_b.driver)
    assert list(client.get(reverse("notifications:inbox")).context["notifications"]) == []
    assert client.get(reverse("notifications:inbox")).context["unread_notifications"] == 0


def test_preferences_page_saves_choices(client, firm_a):
    client.force_login(firm_a.driver)
    page = client.get(reverse("notifications:preferences"))
    assert page.context["form"]["organisation.verified|sms"].value() is True
    client.post(reverse("notifications:preferences"), {"organisation.verified|email": "on"})
    saved = dict(
        Preference.objects.filter(user=firm_a.driver, event="organisation.verified").values_list(
            "channel", "enabled"
        )
    )
    assert saved == {"sms": False, "email": True, "inapp": False}


def test_pages_need_sign_in(client):
    for name in ("notifications:inbox", "notifications:preferences"):
        assert client.get(reverse(name)).status_code == 302


def test_role_change_notifies_the_member(firm_a):
    from portal import services as portal_services
    from portal.models import Membership

    portal_services.membership_change_role(
        actor=firm_a.admin, membership=Membership.objects.get(user=firm_a.declarant), role="dispatcher"
    )
    inapp = Notification.objects.get(recipient=firm_a.declarant, channel="inapp")
    assert inapp.body == f"Your role in {firm_a.organisation.name} is now Dispatcher."


def test_a_broadcast_is_fanned_out_in_chunks_and_every_message_sent(
    sms_outbox, django_capture_on_commit_callbacks
):
    from tests.factories import DriverFactory

    drivers = [DriverFactory().user for _ in range(services.FAN_OUT_CHUNK + 30)]
    with django_capture_on_commit_callbacks(execute=True):
        ids = services.notify(
            "organisation.verified", None, recipients=drivers, context={"organisation": "Khunjerab"}
        )
    assert len(ids) == len(drivers)
    assert sorted(m.to for m in sms_outbox) == sorted(d.phone.as_e164 for d in drivers)
    assert Notification.objects.filter(channel="sms", status="sent").count() == len(drivers)


def test_one_click_unsubscribe_works_without_a_csrf_token(
    firm_a, mailoutbox, django_capture_on_commit_callbacks
):
    from django.test import Client

    verify_email(firm_a.admin)
    with django_capture_on_commit_callbacks(execute=True):
        services.notify(
            "organisation.verified",
            firm_a.organisation,
            recipients=[firm_a.admin],
            context={"organisation": "Alpha"},
        )
    url = mailoutbox[0].extra_headers["List-Unsubscribe"].strip("<>").removeprefix("http://127.0.0.1:8000")
    response = Client(enforce_csrf_checks=True).post(url, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert (
        Preference.objects.get(user=firm_a.admin, event="organisation.verified", channel="email").enabled
        is False
    )


def test_a_code_refused_by_the_limit_is_not_kept(settings):
    settings.SMS_LIMIT_PER_NUMBER_PER_DAY = 0
    services.notify("auth.code", address="+77010000001", context={"code": "987654"}, key="x")
    row = Notification.objects.get()
    assert row.status == "failed" and "987654" not in row.body
