class ApplicationError(Exception):
    """The one domain error: raised by services, shown as a form error or a JSON error.

    ``code`` is stable for API clients; ``message`` is translated for people.
    """

    def __init__(self, message, code: str = "invalid", extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.extra = extra or {}


class NotFound(ApplicationError):
    def __init__(self, message=None):
        from django.utils.translation import gettext

        super().__init__(message or gettext("Not found."), code="not_found")


class Forbidden(ApplicationError):
    def __init__(self, message=None):
        from django.utils.translation import gettext

        super().__init__(message or gettext("You do not have permission to do this."), code="forbidden")
