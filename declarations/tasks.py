from celery import shared_task

from declarations import services


@shared_task(acks_late=True, ignore_result=True)
def convoy_process(convoy_id: int) -> str:
    """Check and file a convoy too long to be filed in the request."""
    return services.convoy_process(convoy_id=convoy_id).status
