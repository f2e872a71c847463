from celery import shared_task

from bookings import operations, services
from portal.models import Port


@shared_task(ignore_result=True)
def slots_ensure_all() -> int:
    """Queue the slots of every port's booking window; each port is its own task, so one
    port's failure does not hold up the others."""
    port_ids = list(Port.objects.values_list("pk", flat=True))
    for port_id in port_ids:
        slots_ensure_port.delay(port_id)
    return len(port_ids)


@shared_task(ignore_result=True)
def slots_ensure_port(port_id: int) -> int:
    return services.slots_ensure_window(Port.objects.get(pk=port_id))


@shared_task(ignore_result=True)
def no_shows_mark() -> int:
    return operations.no_shows_mark()


@shared_task(ignore_result=True)
def reminders_send() -> int:
    return operations.reminders_send()
