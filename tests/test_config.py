"""Client options are checked before any I/O."""

import pytest

from godeploy import GoDeployClient, RequestValidationError, Timeout
from godeploy._config import check_base_url
from godeploy._pacing import RateLimiter

UNIT = "0bb7a818-cecb-4c5a-9822-22e62f85589a"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://lms.godeploy.it", "https://lms.godeploy.it/"),
        ("https://lms.godeploy.it/", "https://lms.godeploy.it/"),
        ("https://proxy.example/godeploy", "https://proxy.example/godeploy/"),
        ("https://proxy.example/godeploy/", "https://proxy.example/godeploy/"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/"),
        ("http://localhost:8080/x", "http://localhost:8080/x/"),
        ("http://[::1]:8080", "http://[::1]:8080/"),
    ],
)
def test_base_url_forms(given, expected):
    assert str(check_base_url(given, allow_insecure_http=False)) == expected


async def test_api_paths_join_under_a_path_prefix():
    async with GoDeployClient("t", UNIT, base_url="https://proxy.example/godeploy") as client:
        assert str(client._core.url("api/v2/orders", 7)) == (
            "https://proxy.example/godeploy/api/v2/orders/7"
        )


def test_plain_http_to_a_remote_host_is_refused():
    with pytest.raises(RequestValidationError, match="plain http"):
        check_base_url("http://lms.godeploy.it", allow_insecure_http=False)
    assert check_base_url("http://lms.godeploy.it", allow_insecure_http=True).scheme == "http"


@pytest.mark.parametrize(
    "bad", ["ftp://x", "lms.godeploy.it", "https://user:pw@x/", "https://x/?a=1"]
)
def test_bad_base_urls(bad):
    with pytest.raises(RequestValidationError):
        check_base_url(bad, allow_insecure_http=False)


def test_bad_business_unit_is_refused():
    with pytest.raises(RequestValidationError, match="business_unit_id"):
        GoDeployClient("t", "not-a-uuid")


async def test_missing_business_unit_is_refused_before_io():
    async with GoDeployClient("t") as client:
        with pytest.raises(RequestValidationError, match="business unit"):
            await client.orders.get(1)


def test_empty_token_is_refused():
    with pytest.raises(RequestValidationError):
        GoDeployClient("  ", UNIT)


def test_timeouts_must_be_positive():
    with pytest.raises(RequestValidationError):
        Timeout(attempt=0)


def test_rate_limiter_books_slots_within_the_burst():
    now = [100.0]
    limiter = RateLimiter(10, burst=5, clock=lambda: now[0])
    waits = [limiter.reserve()[0] for _ in range(8)]
    assert waits[:5] == [0.0] * 5
    assert waits[5:] == pytest.approx([0.1, 0.2, 0.3])


def test_session_and_transport_are_exclusive():
    import aiohttp

    from godeploy import AiohttpTransport

    with pytest.raises(RequestValidationError):
        GoDeployClient("t", UNIT, session=object(), transport=AiohttpTransport())  # type: ignore[arg-type]
    assert aiohttp  # the session type is aiohttp's
