from celery import shared_task

from notifications import services


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def notification_send(notification_id: int) -> str:
    """Send one notification; on a temporary error, try again after the backoff."""
    outcome, retry_in = services.notification_deliver(notification_id=notification_id)
    if retry_in is not None:
        notification_send.apply_async((notification_id,), countdown=retry_in)
    return outcome


@shared_task(ignore_result=True)
def notifications_sweep() -> int:
    return services.notifications_sweep()


@shared_task(acks_late=True, ignore_result=True)
def notifications_fan_out(notification_ids: list[int]) -> int:
    """Queue the sends of one chunk of a broadcast."""
    return services.notifications_queue(notification_ids)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def notification_request_expand(request_id: int) -> int:
    """Write the notifications of a request recorded by ``notify_later``, and queue them."""
    return len(services.notification_request_expand(request_id=request_id))
