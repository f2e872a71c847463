"""Every page and endpoint of accounts and firms, for every persona.

Members of firm A can as far as their role allows; a driver of the firm gets 403 on
firm management; outsiders (firm B, officers) get 404, never a hint the firm exists;
the anonymous visitor is sent to sign in (pages) or gets 401 (API).
"""

import pytest
from django.urls import reverse

from portal.models import Membership, Vehicle

pytestmark = pytest.mark.django_db

MEMBERS = {"admin_a", "declarant_a", "dispatcher_a"}
OUTSIDERS = {"admin_b", "declarant_b", "driver_b", "officer_x", "officer_y"}


def expected(persona, allowed_roles, ok=200):
    if persona == "anonymous":
        return "login"
    if persona in OUTSIDERS:
        return 404
    if persona in allowed_roles:
        return ok
    return 403


PAGES = [
    # name, url args builder, roles that may GET
    ("firm_detail", lambda a: [a.organisation.pk], MEMBERS),
    ("firm_members", lambda a: [a.organisation.pk], MEMBERS),
    ("firm_drivers", lambda a: [a.organisation.pk], MEMBERS),
    ("firm_vehicles", lambda a: [a.organisation.pk], MEMBERS),
    ("vehicle_edit", lambda a: [a.organisation.pk, a.vehicle.pk], {"admin_a", "dispatcher_a"}),
]

PERSONAS = ["admin_a", "declarant_a", "dispatcher_a", "driver_a", *sorted(OUTSIDERS), "anonymous"]


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(("name", "args", "allowed"), PAGES, ids=[p[0] for p in PAGES])
def test_firm_pages(personas, firm_a, client_as, persona, name, args, allowed):
    response = client_as(personas[persona]).get(reverse(name, args=args(firm_a)))
    want = expected(persona, allowed)
    if want == "login":
        assert response.status_code == 302
        assert response.url.startswith(reverse("account_login"))
    else:
        assert response.status_code == want


def _post_actions(firm):
    org = firm.organisation.pk
    admin_membership = Membership.objects.get(user=firm.declarant, organisation=firm.organisation)
    return {
        "edit_firm": (
            reverse("firm_detail", args=[org]),
            {
                "name": "Renamed",
                "kind": "logistics",
                "country": "KZ",
                "registration_number": firm.organisation.registration_number,
            },
            {"admin_a"},
        ),
        "invite_member": (
            reverse("firm_members", args=[org]),
            {"role": "declarant", "email": "new.person@example.com", "phone_0": "KZ", "phone_1": ""},
            {"admin_a"},
        ),
        "invite_driver": (
            reverse("firm_drivers", args=[org]),
            {"role": "driver", "phone_0": "KZ", "phone_1": "8 701 999 00 11"},
            {"admin_a"},
        ),
        "change_role": (
            reverse("member_role", args=[org, admin_membership.pk]),
            {"role": "dispatcher"},
            {"admin_a"},
        ),
        "remove_member": (reverse("member_remove", args=[org, admin_membership.pk]), {}, {"admin_a"}),
        "add_vehicle": (
            reverse("firm_vehicles", args=[org]),
            {"plate": "999 ZZZ 02", "country": "KZ", "kind": "tanker"},
            {"admin_a", "dispatcher_a"},
        ),
        "edit_vehicle": (
            reverse("vehicle_edit", args=[org, firm.vehicle.pk]),
            {"plate": "998 ZZZ 02", "country": "KZ", "kind": "tanker"},
            {"admin_a", "dispatcher_a"},
        ),
        "delete_vehicle": (
            reverse("vehicle_delete", args=[org, firm.vehicle.pk]),
            {},
            {"admin_a", "dispatcher_a"},
        ),
        "remove_driver": (
            reverse("driver_remove", args=[org, firm.driver.driver.pk]),
            {},
            {"admin_a"},
        ),
    }


ACTIONS = [
    "edit_firm",
    "invite_member",
    "invite_driver",
    "change_role",
    "remove_member",
    "add_vehicle",
    "edit_vehicle",
    "delete_vehicle",
    "remove_driver",
]


def firm_state(firm):
    """Everything a firm action could change."""
    from portal.models import FirmDriver, Invitation

    org = firm.organisation
    org.refresh_from_db()
    return (
        (org.name, org.kind, str(org.country), org.registration_number),
        sorted(Membership.objects.filter(organisation=org).values_list("user_id", "role")),
        sorted(Vehicle.objects.filter(organisation=org).values_list("plate_normalised", "kind")),
        sorted(FirmDriver.objects.filter(organisation=org).values_list("driver_id", flat=True)),
        Invitation.objects.filter(organisation=org).count(),
    )


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("action", ACTIONS)
def test_firm_actions(personas, firm_a, client_as, persona, action):
    url, data, allowed = _post_actions(firm_a)[action]
    before = firm_state(firm_a)
    response = client_as(personas[persona]).post(url, data)
    want = expected(persona, allowed, ok=302)
    if want == "login":
        assert response.status_code == 302
        assert response.url.startswith(reverse("account_login"))
    else:
        assert response.status_code == want, response.content[:500]
    if want == 302:
        assert firm_state(firm_a) != before, "an allowed action changed nothing"
    else:
        assert firm_state(firm_a) == before


API = [
    # method, url builder, body, roles allowed, success status
    ("get", lambda a: f"/api/v1/firms/{a.organisation.pk}/", None, MEMBERS, 200),
    (
        "put",
        lambda a: f"/api/v1/firms/{a.organisation.pk}/",
        lambda a: {
            "name": "X",
            "kind": "logistics",
            "country": "KZ",
            "registration_number": a.organisation.registration_number,
        },
        {"admin_a"},
        200,
    ),
    ("get", lambda a: f"/api/v1/firms/{a.organisation.pk}/members/", None, MEMBERS, 200),
    (
        "patch",
        lambda a: (
            f"/api/v1/firms/{a.organisation.pk}/members/{a.organisation.memberships.get(user=a.declarant).pk}/"
        ),
        lambda a: {"role": "dispatcher"},
        {"admin_a"},
        200,
    ),
    (
        "delete",
        lambda a: (
            f"/api/v1/firms/{a.organisation.pk}/members/{a.organisation.memberships.get(user=a.declarant).pk}/"
        ),
        None,
        {"admin_a"},
        204,
    ),
    (
        "post",
        lambda a: f"/api/v1/firms/{a.organisation.pk}/invitations/",
        lambda a: {"role": "driver", "phone": "+77015550000"},
        {"admin_a"},
        201,
    ),
    ("get", lambda a: f"/api/v1/firms/{a.organisation.pk}/drivers/", None, MEMBERS, 200),
    ("get", lambda a: f"/api/v1/firms/{a.organisation.pk}/vehicles/", None, MEMBERS, 200),
    (
        "post",
        lambda a: f"/api/v1/firms/{a.organisation.pk}/vehicles/",
        lambda a: {"plate": "555 QQQ 01", "country": "KZ", "kind": "rigid"},
        {"admin_a", "dispatcher_a"},
        201,
    ),
    ("get", lambda a: f"/api/v1/firms/{a.organisation.pk}/vehicles/{a.vehicle.pk}/", None, MEMBERS, 200),
    (
        "put",
        lambda a: f"/api/v1/firms/{a.organisation.pk}/vehicles/{a.vehicle.pk}/",
        lambda a: {"plate": "556 QQQ 01", "country": "KZ", "kind": "rigid"},
        {"admin_a", "dispatcher_a"},
        200,
    ),
    (
        "delete",
        lambda a: f"/api/v1/firms/{a.organisation.pk}/vehicles/{a.vehicle.pk}/",
        None,
        {"admin_a", "dispatcher_a"},
        204,
    ),
]


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(
    ("method", "url", "body", "allowed", "ok"), API, ids=[f"{a[0]}-{i}" for i, a in enumerate(API)]
)
def test_firm_api(personas, firm_a, api_as, persona, method, url, body, allowed, ok):
    client = api_as(personas[persona])
    response = getattr(client, method)(url(firm_a), body(firm_a) if body else None, format="json")
    want = expected(persona, allowed, ok=ok)
    if want == "login":
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"
    else:
        assert response.status_code == want, response.content[:300]
        if want in (403, 404):
            assert set(response.json()) == {"message", "code", "extra"}


@pytest.mark.parametrize("persona", PERSONAS)
def test_me_and_firm_list(personas, api_as, persona):
    client = api_as(personas[persona])
    me = client.get("/api/v1/me/")
    firms = client.get("/api/v1/firms/")
    if persona == "anonymous":
        assert (me.status_code, firms.status_code) == (401, 401)
        return
    assert me.json()["id"] == personas[persona].pk
    names = sorted(f["name"] for f in firms.json())
    if persona in MEMBERS:
        assert names == ["Alpha Logistics"]
    elif persona in {"admin_b", "declarant_b"}:
        assert names == ["Bravo Logistics"]
    else:
        assert names == []


@pytest.mark.parametrize("persona", PERSONAS)
def test_profile_and_home(personas, client_as, persona):
    client = client_as(personas[persona])
    for name in ("home", "profile", "driver_profile", "firm_create"):
        response = client.get(reverse(name))
        if persona == "anonymous" and name != "home":
            assert response.status_code == 302
        else:
            assert response.status_code == 200
