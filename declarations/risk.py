"""The risk engine: ordered rules from the database put a declaration in a channel."""

import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_noop

from declarations.models import (
    CHANNEL_SEVERITY,
    CargoCategory,
    Declaration,
    DocumentKind,
    PortPolicy,
    RiskChannel,
    RiskRule,
    Status,
)

# What every declaration must carry, by cargo; others may be added freely.
REQUIRED_DOCUMENTS = {
    CargoCategory.EMPTY: {DocumentKind.VEHICLE_REGISTRATION},
    CargoCategory.AGRICULTURAL: {DocumentKind.INVOICE, DocumentKind.CMR, DocumentKind.PHYTOSANITARY},
    CargoCategory.VEHICLES: {DocumentKind.INVOICE, DocumentKind.CMR, DocumentKind.VEHICLE_REGISTRATION},
}
DEFAULT_REQUIRED = {DocumentKind.INVOICE, DocumentKind.CMR}

RANDOM_SAMPLE_REASON = gettext_noop("Random sample")


def required_documents(declaration: Declaration) -> set[str]:
    return set(REQUIRED_DOCUMENTS.get(declaration.cargo_category, DEFAULT_REQUIRED))


def missing_documents(declaration: Declaration) -> set[str]:
    present = set(declaration.documents.values_list("kind", flat=True))
    return required_documents(declaration) - present


@dataclass
class Assessment:
    channel: str = RiskChannel.GREEN
    reasons: list[str] = field(default_factory=list)
    priority: bool = False
    review_target_minutes: int | None = None
    documents_missing: bool = False


def _facts(declaration: Declaration) -> dict:
    goods = list(declaration.goods.all())
    organisation = declaration.organisation
    since = timezone.now() - timedelta(days=90)
    firm = Declaration.objects.filter(organisation=organisation).exclude(pk=declaration.pk)
    return {
        "chapters": {g.hs_code[:2] for g in goods},
        "origins": {str(g.origin_country) for g in goods},
        "value_by_currency": {
            cur: sum((g.value for g in goods if g.currency == cur), Decimal(0))
            for cur in {g.currency for g in goods}
        },
        "firm_accepted": firm.filter(status__in=[Status.ACCEPTED, Status.RELEASED]).count(),
        "firm_rejected": firm.filter(status=Status.REJECTED, decided_at__gte=since).count(),
        "documents_missing": bool(missing_documents(declaration)),
    }


def _matches(rule: RiskRule, declaration: Declaration, facts: dict) -> bool:
    checks = [
        not rule.cargo_category or rule.cargo_category == declaration.cargo_category,
        not rule.direction or rule.direction == declaration.direction,
        not rule.hs_chapter or rule.hs_chapter in facts["chapters"],
        not rule.origin_country or str(rule.origin_country) in facts["origins"],
        rule.value_at_least is None
        or facts["value_by_currency"].get(rule.value_currency.upper(), Decimal(0)) >= rule.value_at_least,
        rule.firm_accepted_fewer_than is None or facts["firm_accepted"] < rule.firm_accepted_fewer_than,
        rule.firm_rejected_at_least is None or facts["firm_rejected"] >= rule.firm_rejected_at_least,
        not rule.documents_missing or facts["documents_missing"],
    ]
    return all(checks)


def assess(declaration: Declaration, *, sample_draw: float | None = None) -> Assessment:
    """Apply the active rules of the declaration's port (and of every port) in order.

    ``sample_draw`` (0–100) replaces the random draw of the port's sample, for tests.
    """
    facts = _facts(declaration)
    result = Assessment(documents_missing=facts["documents_missing"])
    rules = RiskRule.objects.filter(Q(port=declaration.port) | Q(port__isnull=True), active=True)
    for rule in rules:
        if not _matches(rule, declaration, facts):
            continue
        if CHANNEL_SEVERITY[rule.channel] > CHANNEL_SEVERITY[result.channel]:
            result.channel = rule.channel
        result.reasons.append(rule.reason)
        result.priority = result.priority or rule.priority
        if rule.review_target_minutes is not None:
            current = result.review_target_minutes
            result.review_target_minutes = (
                min(current, rule.review_target_minutes) if current else rule.review_target_minutes
            )
        if rule.stop:
            break
    policy = PortPolicy.objects.filter(port=declaration.port).first()
    percent = policy.random_sample_percent if policy else Decimal(2)
    draw = sample_draw if sample_draw is not None else secrets.SystemRandom().uniform(0, 100)
    if result.channel == RiskChannel.GREEN and Decimal(str(draw)) < percent:
        result.channel = RiskChannel.YELLOW
        result.reasons.append(RANDOM_SAMPLE_REASON)
    if result.review_target_minutes is None:
        result.review_target_minutes = policy.default_review_minutes if policy else 120
    return result
