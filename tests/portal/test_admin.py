"""The back office: officers see their own ports only; firm verification needs the permission."""

import pytest
from django.urls import reverse

from portal import roles
from portal.models import Organisation
from tests.factories import officer

pytestmark = pytest.mark.django_db


def test_officers_see_only_their_ports(admin_as, officer_x, officer_y):
    supervisor = officer(roles.SUPERVISOR, ["KHG", "TKS"])
    supervisor.groups.add(*officer_x.groups.all())
    seen = {}
    for name, user in {"x": officer_x, "y": officer_y}.items():
        user.groups.first().permissions.add(*supervisor.groups.first().permissions.all())
        response = admin_as(user).get(reverse("admin:portal_port_changelist"))
        assert response.status_code == 200
        seen[name] = sorted(p.code for p in response.context["cl"].result_list)
    assert seen == {"x": ["KHG"], "y": ["TKS"]}


def test_officer_of_another_port_gets_404_on_a_port_page(admin_as, officer_x):
    from portal.models import Port

    officer_x.groups.first().permissions.add(
        *officer(roles.PORT_OPERATOR, []).groups.first().permissions.all()
    )
    client = admin_as(officer_x)
    takshken = Port.objects.get(code="TKS")
    response = client.get(reverse("admin:portal_port_change", args=[takshken.pk]))
    assert response.status_code == 302  # the admin's "does not exist" redirect, nothing shown
    assert response.url == reverse("admin:index")


def test_customs_officer_verifies_a_firm_from_the_admin(admin_as, officer_x, firm_a):
    client = admin_as(officer_x)
    response = client.post(
        reverse("admin:portal_organisation_changelist"),
        {"action": "verify_organisations", "_selected_action": [firm_a.organisation.pk]},
    )
    assert response.status_code == 302
    assert Organisation.objects.get(pk=firm_a.organisation.pk).verified_by == officer_x


def test_border_officer_cannot_verify_firms(admin_as, firm_a):
    border = officer(roles.BORDER_INSPECTION_OFFICER, ["KHG"])
    client = admin_as(border)
    response = client.get(reverse("admin:portal_organisation_changelist"))
    assert response.status_code == 200
    assert "verify_organisations" not in response.content.decode()
    client.post(
        reverse("admin:portal_organisation_changelist"),
        {"action": "verify_organisations", "_selected_action": [firm_a.organisation.pk]},
    )
    assert Organisation.objects.get(pk=firm_a.organisation.pk).verified_at is None
