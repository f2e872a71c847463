class ApplicationError(Exception):
    """The one domain error: raised by services, shown as a form error or a JSON error.

    ``code`` is stable for API clients; ``message`` is translated for people.
    """

    def __init__(self, message, code: str = "invalid", extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.extra = extra or {}
