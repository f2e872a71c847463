"""Firms, members, invitations and vehicles through their services, hostile cases included."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from portal import services
from portal.errors import ApplicationError
from portal.models import AuditEvent, Driver, FirmDriver, Invitation, Membership, Organisation, User, Vehicle
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_registering_a_firm_makes_the_user_its_admin_unverified(django_user_model):
    user = UserFactory()
    firm = services.organisation_create(
        user=user, name=" Steppe Cargo ", kind="logistics", country="KZ", registration_number="0408 4000 0550"
    )
    assert (firm.name, firm.registration_number, firm.is_verified) == ("Steppe Cargo", "040840000550", False)
    assert Membership.objects.get(organisation=firm).user == user
    assert AuditEvent.objects.filter(action="organisation.created", object_id=str(firm.pk)).count() == 1


@pytest.mark.parametrize(
    ("country", "number", "message"),
    [
        ("KZ", "040840000551", "not a valid BIN"),
        ("CN", "91110000600037341X", "not a valid Unified Social Credit Code"),
        ("MN", "<b>", "letters and digits"),
    ],
)
def test_invalid_registration_number_is_refused(country, number, message):
    with pytest.raises(ApplicationError, match=message):
        services.organisation_create(
            user=UserFactory(), name="X", kind="logistics", country=country, registration_number=number
        )
    assert Organisation.objects.count() == 0


def test_duplicate_registration_number_is_refused(firm_a):
    with pytest.raises(ApplicationError) as exc:
        services.organisation_create(
            user=UserFactory(),
            name="Copy",
            kind="logistics",
            country="KZ",
            registration_number=firm_a.organisation.registration_number,
        )
    assert exc.value.code == "duplicate_registration_number"
    assert (
        Organisation.objects.filter(registration_number=firm_a.organisation.registration_number).count() == 1
    )


def test_officer_verifies_a_firm_once(firm_a, officer_x):
    services.organisation_verify(officer=officer_x, organisation=firm_a.organisation)
    services.organisation_verify(officer=officer_x, organisation=firm_a.organisation)
    firm_a.organisation.refresh_from_db()
    assert firm_a.organisation.verified_by == officer_x
    assert AuditEvent.objects.filter(action="organisation.verified").count() == 1


def test_changing_the_registration_number_needs_verification_again(firm_a, officer_x):
    services.organisation_verify(officer=officer_x, organisation=firm_a.organisation)
    services.organisation_update(
        actor=firm_a.admin,
        organisation=firm_a.organisation,
        name="Alpha",
        kind="logistics",
        country="CN",
        registration_number="91110000600037341L",
    )
    firm_a.organisation.refresh_from_db()
    assert firm_a.organisation.is_verified is False


def test_firm_without_verify_permission_cannot_verify(firm_a):
    with pytest.raises(PermissionDenied):
        services.organisation_verify(officer=firm_a.admin, organisation=firm_a.organisation)


def test_the_last_admin_can_be_neither_demoted_nor_removed(firm_a):
    membership = Membership.objects.get(user=firm_a.admin)
    with pytest.raises(ApplicationError, match="at least one admin"):
        services.membership_change_role(actor=firm_a.admin, membership=membership, role="declarant")
    with pytest.raises(ApplicationError, match="at least one admin"):
        services.membership_remove(actor=firm_a.admin, membership=membership)
    assert Membership.objects.get(pk=membership.pk).role == "admin"


def test_admin_changes_a_role_and_it_is_audited(firm_a):
    membership = Membership.objects.get(user=firm_a.declarant)
    services.membership_change_role(actor=firm_a.admin, membership=membership, role="dispatcher")
    event = AuditEvent.objects.get(action="membership.role_changed")
    assert (event.actor, event.data["old"], event.data["new"]) == (firm_a.admin, "declarant", "dispatcher")


def test_declarant_cannot_change_roles(firm_a):
    membership = Membership.objects.get(user=firm_a.dispatcher)
    with pytest.raises(PermissionDenied):
        services.membership_change_role(actor=firm_a.declarant, membership=membership, role="admin")
    assert Membership.objects.get(pk=membership.pk).role == "dispatcher"


def test_invitation_by_phone_sends_an_sms_link(firm_a, sms_outbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        invitation = services.invitation_create(
            actor=firm_a.admin,
            organisation=firm_a.organisation,
            role="driver",
            phone="8 701 555 44 33",
            region="KZ",
        )
    assert invitation.phone.as_e164 == "+77015554433"
    assert [m.to for m in sms_outbox] == ["+77015554433"]
    assert reverse("invitation_accept", args=[invitation.token]) in sms_outbox[0].body
    assert "\u00a0" not in sms_outbox[0].body


def test_invitation_by_email_sends_the_email_in_the_inviters_language(
    firm_a, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invitation = services.invitation_create(
            actor=firm_a.admin, organisation=firm_a.organisation, role="declarant", email="New@Example.com"
        )
    assert invitation.email == "new@example.com"
    assert [m.to for m in mailoutbox] == [["new@example.com"]]
    assert invitation.token in mailoutbox[0].body
    assert mailoutbox[0].alternatives[0][1] == "text/html"


@pytest.mark.parametrize("contact", [{}, {"phone": "+77015554433", "email": "a@b.example"}, {"phone": "12"}])
def test_invitation_needs_exactly_one_valid_contact(firm_a, contact):
    with pytest.raises(ApplicationError):
        services.invitation_create(
            actor=firm_a.admin, organisation=firm_a.organisation, role="driver", **contact
        )
    assert Invitation.objects.count() == 0


def test_inviting_an_existing_member_is_refused(firm_a):
    with pytest.raises(ApplicationError, match="already a member"):
        services.invitation_create(
            actor=firm_a.admin,
            organisation=firm_a.organisation,
            role="declarant",
            phone=firm_a.declarant.phone.as_e164,
        )


def test_invited_driver_without_account_gets_one_by_accepting(firm_a):
    invitation = services.invitation_create(
        actor=firm_a.admin, organisation=firm_a.organisation, role="driver", phone="+77015554433"
    )
    user, _ = services.invitation_accept_new_user(token=invitation.token, display_name="Serik", language="kk")
    assert (user.phone.as_e164, user.phone_verified, user.language, user.has_usable_password()) == (
        "+77015554433",
        True,
        "kk",
        False,
    )
    assert FirmDriver.objects.filter(organisation=firm_a.organisation, driver__user=user).exists()


def test_an_invitation_works_once(firm_a):
    invitation = services.invitation_create(
        actor=firm_a.admin, organisation=firm_a.organisation, role="dispatcher", email="x@example.com"
    )
    services.invitation_accept(token=invitation.token, user=UserFactory())
    with pytest.raises(ApplicationError, match="already been used"):
        services.invitation_accept(token=invitation.token, user=UserFactory())
    assert Membership.objects.filter(organisation=firm_a.organisation, role="dispatcher").count() == 2


def test_expired_and_withdrawn_invitations_are_refused(firm_a):
    expired = services.invitation_create(
        actor=firm_a.admin, organisation=firm_a.organisation, role="driver", phone="+77015554433"
    )
    Invitation.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    with pytest.raises(ApplicationError, match="expired"):
        services.invitation_accept(token=expired.token, user=UserFactory())
    withdrawn = services.invitation_create(
        actor=firm_a.admin, organisation=firm_a.organisation, role="driver", phone="+77015554434"
    )
    services.invitation_revoke(actor=firm_a.admin, invitation=withdrawn)
    with pytest.raises(ApplicationError, match="withdrawn"):
        services.invitation_accept(token=withdrawn.token, user=UserFactory())
    assert Driver.objects.filter(firm_links__organisation=firm_a.organisation).count() == 1


def test_a_new_invitation_replaces_the_open_one(firm_a):
    first = services.invitation_create(
        actor=firm_a.admin, organisation=firm_a.organisation, role="driver", phone="+77015554433"
    )
    second = services.invitation_create(
        actor=firm_a.admin,
        organisation=firm_a.organisation,
        role="driver",
        phone="8 701 555 44 33",
        region="KZ",
    )
    first.refresh_from_db()
    assert first.revoked_at is not None and second.is_open


def test_invitation_page_for_used_and_unknown_tokens(client, firm_a):
    invitation = services.invitation_create(
        actor=firm_a.admin, organisation=firm_a.organisation, role="driver", phone="+77015554433"
    )
    services.invitation_accept(token=invitation.token, user=UserFactory())
    response = client.get(reverse("invitation_accept", args=[invitation.token]))
    assert response.status_code == 410
    assert "already been used" in response.content.decode()
    assert client.get(reverse("invitation_accept", args=["nope"])).status_code == 404


def test_invitation_page_creates_the_account_and_signs_in(client, firm_a):
    invitation = services.invitation_create(
        actor=firm_a.admin, organisation=firm_a.organisation, role="driver", phone="+77015554433"
    )
    response = client.post(reverse("invitation_accept", args=[invitation.token]), {"display_name": "Serik"})
    assert response.status_code == 302
    user = User.objects.get(phone="+77015554433")
    assert client.get(reverse("home")).context["user"] == user


def test_plate_already_registered_to_the_firm_is_refused_even_in_cyrillic(firm_a):
    services.vehicle_create(
        actor=firm_a.dispatcher,
        organisation=firm_a.organisation,
        plate="A 123 BC",
        country="KZ",
        kind="tractor",
    )
    with pytest.raises(ApplicationError, match="already registered"):
        services.vehicle_create(
            actor=firm_a.dispatcher,
            organisation=firm_a.organisation,
            plate="а123вс",
            country="KZ",
            kind="tractor",
        )
    assert Vehicle.objects.filter(organisation=firm_a.organisation, plate_normalised="A123BC").count() == 1


def test_the_same_plate_may_belong_to_two_firms(firm_a, firm_b):
    services.vehicle_create(
        actor=firm_a.admin, organisation=firm_a.organisation, plate="A 123 BC", country="KZ", kind="tractor"
    )
    services.vehicle_create(
        actor=firm_b.admin, organisation=firm_b.organisation, plate="A 123 BC", country="KZ", kind="tractor"
    )
    assert Vehicle.objects.filter(plate_normalised="A123BC").count() == 2


@pytest.mark.parametrize("plate", ["", "!", "X" * 15])
def test_implausible_plates_are_refused(firm_a, plate):
    with pytest.raises(ApplicationError, match="plate"):
        services.vehicle_create(
            actor=firm_a.admin, organisation=firm_a.organisation, plate=plate, country="KZ", kind="tractor"
        )


def test_vehicle_form_shows_the_duplicate_error_next_to_the_plate(client, firm_a):
    client.force_login(firm_a.admin)
    response = client.post(
        reverse("firm_vehicles", args=[firm_a.organisation.pk]),
        {"plate": firm_a.vehicle.plate.lower(), "country": "KZ", "kind": "tractor"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["plate"] == ["This plate is already registered to the firm."]


def test_api_errors_have_one_shape(api_as, firm_a):
    api = api_as(firm_a.admin)
    response = api.post(
        f"/api/v1/firms/{firm_a.organisation.pk}/vehicles/",
        {"plate": firm_a.vehicle.plate, "country": "KZ", "kind": "tractor"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {
        "message": "This plate is already registered to the firm.",
        "code": "duplicate_plate",
        "extra": {"field": "plate"},
    }
    response = api.post(f"/api/v1/firms/{firm_a.organisation.pk}/vehicles/", {"plate": "1"}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and set(body["extra"]["fields"]) == {"country", "kind"}


def test_api_error_is_in_the_users_language(api_as, firm_a):
    firm_a.admin.language = "ru"
    firm_a.admin.save()
    api = api_as(firm_a.admin)
    response = api.post(
        f"/api/v1/firms/{firm_a.organisation.pk}/vehicles/",
        {"plate": firm_a.vehicle.plate, "country": "KZ", "kind": "tractor"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["message"] == "Этот госномер уже зарегистрирован в компании."


def test_home_page_query_count_does_not_grow_with_firms(client, django_assert_max_num_queries):
    from tests.factories import MembershipFactory, VehicleFactory

    user = UserFactory()
    for _ in range(5):
        membership = MembershipFactory(user=user)
        VehicleFactory.create_batch(3, organisation=membership.organisation)
    client.force_login(user)
    with django_assert_max_num_queries(12):
        assert client.get(reverse("home")).status_code == 200


def test_an_unverified_firm_may_send_only_so_many_invitations_a_day(firm_a, settings):
    settings.UNVERIFIED_FIRM_INVITATIONS_PER_DAY = 2
    for n in range(2):
        services.invitation_create(
            actor=firm_a.admin, organisation=firm_a.organisation, role="driver", phone=f"+7701555000{n}"
        )
    with pytest.raises(ApplicationError) as exc:
        services.invitation_create(
            actor=firm_a.admin, organisation=firm_a.organisation, role="driver", phone="+77015550009"
        )
    assert exc.value.code == "invitation_limit"
    assert Invitation.objects.count() == 2


def test_renaming_a_verified_firm_needs_verification_again(firm_a, officer_x):
    services.organisation_verify(officer=officer_x, organisation=firm_a.organisation)
    services.organisation_update(
        actor=firm_a.admin,
        organisation=firm_a.organisation,
        name="Another Name",
        kind="logistics",
        country="KZ",
        registration_number=firm_a.organisation.registration_number,
    )
    firm_a.organisation.refresh_from_db()
    assert firm_a.organisation.is_verified is False


def test_api_refuses_a_declarant_before_reading_the_body(api_as, firm_a):
    response = api_as(firm_a.declarant).post(
        f"/api/v1/firms/{firm_a.organisation.pk}/invitations/", {"role": "nonsense"}, format="json"
    )
    assert response.status_code == 403
