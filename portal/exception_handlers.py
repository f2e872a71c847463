"""One JSON error shape for the whole API: {"message": ..., "code": ..., "extra": {...}}."""

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler

from portal.errors import ApplicationError


def api_exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    if isinstance(exc, ApplicationError):
        response = exception_handler(exceptions.ValidationError(), context)
        response.status_code = {"forbidden": 403, "not_found": 404}.get(exc.code, 400)
        response.data = {"message": exc.message, "code": exc.code, "extra": exc.extra}
        return response

    response = exception_handler(exc, context)
    if response is None:
        return None  # an unexpected error: a 500 with Django's own handling
    if isinstance(exc, exceptions.ValidationError):
        response.data = {
            "message": _("Validation error."),
            "code": "invalid",
            "extra": {"fields": response.data},
        }
    else:
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else response.data
        response.data = {"message": str(detail), "code": getattr(detail, "code", "error"), "extra": {}}
    return response
