"""Retry decisions are pure: status, method and Retry-After in, a decision out (the core pays the
budget: tests/test_client.py)."""

import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from godeploy import (
    APIConnectionError,
    APITimeoutError,
    BadRequestError,
    InternalServerError,
    RateLimitError,
    RetryBudget,
    RetryPolicy,
    ServiceUnavailableError,
)
from godeploy._exceptions import parse_retry_after
from godeploy._retry import (
    RETRY_COST,
    TIMEOUT_RETRY_COST,
    backoff_delay,
    decide_retry,
    log_decision,
)

URL = "https://lms.godeploy.it/api/v2/orders"


def status_error(cls, status, retry_after=None):
    return cls("x", status=status, method="GET", url=URL, retry_after=retry_after)


def decide(error, *, retry_number=1, idempotent=True, policy=None):
    return decide_retry(
        policy or RetryPolicy(),
        error,
        retry_number=retry_number,
        idempotent=idempotent,
        rand=lambda: 1.0,
    )


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried(status):
    from godeploy._exceptions import status_error_class

    assert decide(status_error(status_error_class(status), status)).retry


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 406, 410])
def test_client_errors_are_not_retried(status):
    from godeploy._exceptions import status_error_class

    assert not decide(status_error(status_error_class(status), status)).retry


def test_connection_errors_are_retried_for_gets():
    error = APIConnectionError("reset", method="GET", url=URL, request_sent=True)
    decision = decide(error)
    assert decision.retry and decision.cost == RETRY_COST


def test_timeouts_cost_more_budget():
    error = APITimeoutError("slow", method="GET", url=URL)
    assert decide(error).cost == TIMEOUT_RETRY_COST


def test_non_idempotent_request_is_retried_only_when_never_sent():
    sent = APIConnectionError("reset", method="POST", url=URL, request_sent=True)
    unsent = APIConnectionError("refused", method="POST", url=URL, request_sent=False)
    assert not decide(sent, idempotent=False).retry
    assert decide(unsent, idempotent=False).retry
    assert not decide(status_error(ServiceUnavailableError, 503), idempotent=False).retry


def test_retries_stop_after_max_retries():
    error = status_error(InternalServerError, 500)
    policy = RetryPolicy(max_retries=2)
    assert decide(error, retry_number=2, policy=policy).retry
    assert not decide(error, retry_number=3, policy=policy).retry


def test_backoff_is_full_jitter_exponential_and_capped():
    policy = RetryPolicy(backoff_base=0.5, backoff_cap=8.0)
    assert backoff_delay(policy, 1, lambda: 1.0) == 0.5
    assert backoff_delay(policy, 3, lambda: 1.0) == 2.0
    assert backoff_delay(policy, 10, lambda: 1.0) == 8.0
    assert backoff_delay(policy, 3, lambda: 0.0) == 0.0


def test_retry_after_sets_the_least_delay_up_to_the_cap():
    policy = RetryPolicy(retry_after_cap=10)
    assert decide(status_error(RateLimitError, 429, retry_after=3.0), policy=policy).delay == 3.0
    assert not decide(status_error(RateLimitError, 429, retry_after=30.0), policy=policy).retry


def test_parse_retry_after_reads_seconds_and_http_dates():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = datetime.now(UTC)
    later = format_datetime(now + timedelta(seconds=20), usegmt=True)
    assert 18 <= parse_retry_after(later, now=now.timestamp()) <= 21
    past = format_datetime(now - timedelta(seconds=20), usegmt=True)
    assert parse_retry_after(past, now=now.timestamp()) == 0.0


def test_decision_is_logged(caplog):
    caplog.set_level(logging.DEBUG, logger="godeploy")
    policy = RetryPolicy()
    for error in (status_error(ServiceUnavailableError, 503), status_error(BadRequestError, 400)):
        decision = decide(error, policy=policy)
        log_decision(decision, policy, retry_number=1, method="GET", path="/api/v2/orders")
    levels = [(record.levelno, record.getMessage()) for record in caplog.records]
    assert levels[0][0] == logging.INFO and "retrying GET /api/v2/orders" in levels[0][1]
    assert levels[1][0] == logging.DEBUG and "not retrying" in levels[1][1]


def test_budget_pays_and_refunds_within_capacity():
    budget = RetryBudget(capacity=10)
    assert budget.pay(5)
    assert budget.pay(5)
    assert not budget.pay(5)
    assert budget.tokens == 0
    for _ in range(20):
        budget.refund()
    assert budget.tokens == 10


def test_policy_rejects_negative_values():
    with pytest.raises(ValueError):
        RetryPolicy(max_retries=-1)


# --- precise hints: retry-after-ms ------------------------------------------------------------


def _answer_429(headers):
    from multidict import CIMultiDict, CIMultiDictProxy
    from yarl import URL as YURL

    from godeploy._exceptions import error_from_response

    return error_from_response("GET", YURL(URL), 429, CIMultiDictProxy(CIMultiDict(headers)), b"")


def test_retry_after_ms_comes_before_retry_after():
    assert _answer_429({"retry-after-ms": "1500", "Retry-After": "30"}).retry_after == 1.5
    assert _answer_429({"Retry-After-Ms": "20"}).retry_after == 0.02
    # Unreadable or negative milliseconds: the seconds header still counts.
    assert _answer_429({"retry-after-ms": "soon", "Retry-After": "3"}).retry_after == 3.0
    assert _answer_429({"retry-after-ms": "nan", "Retry-After": "3"}).retry_after == 3.0
    assert _answer_429({"retry-after-ms": "-5"}).retry_after == 0.0


def test_retry_after_ms_is_held_to_the_same_cap():
    policy = RetryPolicy(retry_after_cap=10)
    too_long = _answer_429({"retry-after-ms": "30000", "Retry-After": "1"})
    assert not decide(too_long, policy=policy).retry
    assert decide(_answer_429({"retry-after-ms": "2500"}), policy=policy).delay == 2.5


# --- one vocabulary for retry reasons ---------------------------------------------------------


async def test_logs_and_hooks_name_a_retry_reason_alike(fake_godeploy, caplog):
    from godeploy import Hooks
    from godeploy.testing import Fault
    from tests.support import make_client

    caplog.set_level(logging.DEBUG, logger="godeploy")
    fake_godeploy.faults.script("getOrder", [Fault.status(503), Fault.status(404)])
    retries = []
    async with make_client(fake_godeploy, hooks=Hooks(on_retry=retries.append)) as client:
        with pytest.raises(Exception):  # noqa: B017 - the 404 ends it; its type is not the point
            await client.orders.get(fake_godeploy.order_ids()[0])
    reasons = [record.reason for record in caplog.records if hasattr(record, "reason")]
    assert [event.reason for event in retries] == ["503"]
    assert reasons == ["503", "404"]
    assert not [text for text in (r.getMessage() for r in caplog.records) if "status 5" in text]


async def test_token_refreshes_count_refreshes_only(fake_godeploy):
    from godeploy import GoDeployClient

    async def token() -> str:
        return fake_godeploy.token

    async with GoDeployClient(
        token, fake_godeploy.business_unit_id, base_url=fake_godeploy.url
    ) as client:
        await client.orders.get(fake_godeploy.order_ids()[0])
        assert client.stats["token_refreshes"] == 0  # the first fetch is no refresh
        fake_godeploy.rotate_token()
        await client.orders.get(fake_godeploy.order_ids()[0])
        assert client.stats["token_refreshes"] == 1
