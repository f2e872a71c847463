from portal.models import AuditEvent


def audit_log(*, actor, action: str, obj, organisation=None, **data) -> AuditEvent:
    """Record one state change. Call it inside the transaction that makes the change."""
    return AuditEvent.objects.create(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        action=action,
        organisation=organisation,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        data=data,
    )
