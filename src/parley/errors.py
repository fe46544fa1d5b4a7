"""Domain exceptions. Each carries its HTTP status; one handler per API family renders them.

Services raise these and never HTTP exceptions, so the same service serves /v2, /v3 and /api/v1.
"""

from __future__ import annotations


class ParleyError(Exception):
    status_code = 500
    error_code = "INTERNAL_ERROR"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(ParleyError):
    status_code = 404
    error_code = "NOT_FOUND"


class Conflict(ParleyError):
    status_code = 409
    error_code = "CONFLICT"


class Unauthorized(ParleyError):
    status_code = 401
    error_code = "UNAUTHORIZED"


class Forbidden(ParleyError):
    status_code = 403
    error_code = "FORBIDDEN"


class BadRequest(ParleyError):
    """A well-formed request that breaks a rule of the domain where Honcho answers 400 (the
    observer limit of a session)."""

    status_code = 400
    error_code = "BAD_REQUEST"


class InvalidInput(ParleyError):
    status_code = 422
    error_code = "VALIDATION_ERROR"


class TooLarge(ParleyError):
    status_code = 413
    error_code = "PAYLOAD_TOO_LARGE"


class UnsupportedMedia(ParleyError):
    status_code = 415
    error_code = "UNSUPPORTED_MEDIA_TYPE"


class UpstreamFailed(ParleyError):
    """A service Parley depends on (a model server) failed after its retries."""

    status_code = 502
    error_code = "UPSTREAM_ERROR"
