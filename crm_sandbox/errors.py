"""The two error shapes the CRM answers with.

SandboxError
 ├── ApiError         the CRM's own functions: {"error": ..., "details"?: ...}
 └── PostgrestError   rest-api-proxy, as PostgREST answers: {code, details, hint, message}
"""

from __future__ import annotations

from typing import Any


class SandboxError(Exception):
    """An answer other than success, raised anywhere below the HTTP layer."""

    status: int

    def body(self) -> dict[str, Any]:
        raise NotImplementedError

    def headers(self) -> dict[str, str]:
        return {}


class ApiError(SandboxError):
    def __init__(self, status: int, error: str, details: str | None = None) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.details = details

    def body(self) -> dict[str, Any]:
        if self.details is None:
            return {"error": self.error}
        return {"error": self.error, "details": self.details}


def bad_request(error: str) -> ApiError:
    return ApiError(400, error)


class PostgrestError(SandboxError):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.hint = hint

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "details": self.details,
            "hint": self.hint,
            "message": self.message,
        }


def parse_error(kind: str, text: str, column: int, details: str) -> PostgrestError:
    """PGRST100, worded as PostgREST's parser words it."""
    return PostgrestError(
        400, "PGRST100", f'"failed to parse {kind} ({text})" (line 1, column {column})', details
    )


def invalid_input(type_name: str, text: str) -> PostgrestError:
    """22P02: a literal PostgreSQL cannot read as the column's type."""
    return PostgrestError(400, "22P02", f'invalid input syntax for type {type_name}: "{text}"')


def undefined_column(table: str, column: str) -> PostgrestError:
    return PostgrestError(400, "42703", f"column {table}.{column} does not exist")


def undefined_operator(left_type: str, symbol: str) -> PostgrestError:
    # PostgREST maps 42883 (undefined function/operator) to 404.
    return PostgrestError(
        404,
        "42883",
        f"operator does not exist: {left_type} {symbol} unknown",
        hint="No operator matches the given name and argument types. "
        "You might need to add explicit type casts.",
    )
