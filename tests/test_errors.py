"""APIStatusError.problem: the body's problem details as the generated model, never an error."""

from __future__ import annotations

from typing import Any

import pytest
from multidict import CIMultiDict
from yarl import URL

from godeploy import BadRequestError, ProblemDetails
from godeploy._exceptions import error_from_response, read_only_headers, safe_url

VALIDATION = {
    "type": "https://tools.ietf.org/html/rfc7231#section-6.5.1",
    "title": "One or more validation errors occurred.",
    "status": 400,
    "traceId": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
    "errors": {"OrderItems[0].Quantity": ["Quantity must be at least 1."]},
    "extension": "kept in body",
}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            VALIDATION,
            ProblemDetails(
                type=VALIDATION["type"],
                title=VALIDATION["title"],
                status=400,
                trace_id=VALIDATION["traceId"],
                errors=VALIDATION["errors"],
            ),
        ),
        # A member of the wrong type is None; the others stay.
        (
            {"status": "400", "detail": "no", "errors": {"x": "not a list"}},
            ProblemDetails(detail="no"),
        ),
        ({"status": True, "title": 5, "errors": {"x": [1]}}, ProblemDetails()),
        ({"message": "Too many requests", "code": 429}, ProblemDetails()),
        ("<html>502 Bad Gateway</html>", ProblemDetails()),
        (["not", "an", "object"], ProblemDetails()),
        (None, ProblemDetails()),
    ],
    ids=["rfc-7807", "wrong-types-left-out", "all-wrong", "gateway-json", "text", "array", "none"],
)
def test_problem_is_the_model_of_what_fits(body: Any, expected: ProblemDetails) -> None:
    error = BadRequestError("x", status=400, method="GET", url="http://h/x", body=body)
    assert error.problem == expected
    assert error.body is body  # extension members and all


def test_the_message_and_request_id_come_from_the_problem() -> None:
    body = b'{"title": "Bad", "traceId": "00-abc-01", "errors": {"b": ["m"], "a": ["m"]}}'
    headers = CIMultiDict({"Content-Type": "application/problem+json"})
    error = error_from_response("POST", URL("http://h/api/v2/orders"), 400, headers, body)
    assert "a: m" in str(error) and "b: m" in str(error)
    assert error.request_id == "00-abc-01"
    assert error.problem.errors == {"b": ["m"], "a": ["m"]}


def test_one_helper_hides_credentials_and_one_freezes_headers() -> None:
    assert safe_url("http://user:secret@h/x?y=1") == URL("http://h/x?y=1")
    plain = URL("http://h/x")
    assert safe_url(plain) is plain
    headers = read_only_headers({"Retry-After": "3"})
    assert headers["retry-after"] == "3"
    with pytest.raises(TypeError):
        headers["X"] = "1"  # type: ignore[index]
