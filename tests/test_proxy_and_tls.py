"""The transport options of corporate networks: proxy variables and a custom CA bundle.

A loopback forward proxy (an aiohttp app that relays absolute-form requests and notes each)
stands between the client and the fake; a loopback TLS server with a certificate of a
throwaway CA (trustme) checks `ssl=`.
"""

from __future__ import annotations

import base64
import logging
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
import trustme
from aiohttp import web
from yarl import URL

from godeploy import (
    AiohttpTransport,
    APIConnectionError,
    GoDeployClient,
    RequestValidationError,
    ResponseValidationError,
    TransportRequest,
)
from godeploy._transport import _bypasses_proxy
from godeploy.testing import FakeGoDeploy
from tests._support import make_client, serve
from tests._support.reliability import exception_texts

PROXY_PASSWORD = "pr0xy-s3cret"
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authorization", "proxy-connection", "te"}


class ForwardProxy:
    """Relays each plain-http request it gets to its absolute URL; notes what it relayed."""

    def __init__(self) -> None:
        self.relayed: list[tuple[str, str, str | None]] = []
        self.session: aiohttp.ClientSession | None = None

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        assert self.session is not None
        self.relayed.append(
            (request.method, str(request.url), request.headers.get("Proxy-Authorization"))
        )
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        async with self.session.request(
            request.method, request.url, headers=headers, data=await request.read()
        ) as answer:
            body = await answer.read()
            kept = {
                k: v
                for k, v in answer.headers.items()
                if k.lower() not in HOP_BY_HOP | {"content-length", "transfer-encoding"}
            }
            return web.Response(status=answer.status, body=body, headers=kept)


@pytest_asyncio.fixture
async def proxy() -> AsyncIterator[tuple[ForwardProxy, URL]]:
    forward = ForwardProxy()
    async with (
        aiohttp.ClientSession(auto_decompress=False) as forward.session,
        serve(forward) as url,
    ):
        yield forward, url


def proxy_url(url: URL, *, password: str = PROXY_PASSWORD) -> str:
    return str(url.with_user("corp-user").with_password(password))


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def list_some(client: GoDeployClient) -> list[str]:
    return [product.code async for product in client.products.list(max_items=3)]


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
async def test_a_proxy_variable_routes_the_calls_through_the_proxy(
    variable, proxy, fake_godeploy: FakeGoDeploy, monkeypatch
):
    forward, url = proxy
    monkeypatch.setenv(variable, proxy_url(url))
    async with make_client(fake_godeploy) as client:
        codes = await list_some(client)
    assert len(codes) == 3
    assert fake_godeploy.count("listProducts") == 1  # the proxy relayed it to the fake
    assert [(method, URL(target).path) for method, target, _ in forward.relayed] == [
        ("GET", "/api/v2/products")
    ]
    credentials = base64.b64encode(f"corp-user:{PROXY_PASSWORD}".encode()).decode()
    assert forward.relayed[0][2] == f"Basic {credentials}"
    assert URL(forward.relayed[0][1]).port == fake_godeploy.url.port


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "localhost,127.0.0.1", "*", ".0.0.1"])
async def test_no_proxy_bypasses_the_proxy(
    no_proxy, proxy, fake_godeploy: FakeGoDeploy, monkeypatch
):
    forward, url = proxy
    monkeypatch.setenv("HTTP_PROXY", proxy_url(url))
    monkeypatch.setenv("NO_PROXY", no_proxy)
    async with make_client(fake_godeploy) as client:
        assert len(await list_some(client)) == 3
    assert forward.relayed == []


async def test_a_no_proxy_entry_for_another_host_keeps_the_proxy(
    proxy, fake_godeploy: FakeGoDeploy, monkeypatch
):
    forward, url = proxy
    monkeypatch.setenv("HTTP_PROXY", proxy_url(url))
    monkeypatch.setenv("NO_PROXY", "internal.example,10.0.0.1")
    async with make_client(fake_godeploy) as client:
        assert len(await list_some(client)) == 3
    assert len(forward.relayed) == 1


async def test_trust_env_false_ignores_the_proxy_variables(
    proxy, fake_godeploy: FakeGoDeploy, monkeypatch
):
    forward, url = proxy
    monkeypatch.setenv("HTTP_PROXY", proxy_url(url))
    async with make_client(fake_godeploy, trust_env=False) as client:
        assert len(await list_some(client)) == 3
    assert forward.relayed == []


async def test_netrc_is_never_read_for_the_api_host(
    fake_godeploy: FakeGoDeploy, monkeypatch, tmp_path: Path
):
    # aiohttp's own trust_env would add this login to the request, and refuse it beside the
    # bearer token ("Cannot combine AUTHORIZATION header with AUTH argument").
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password netrc-secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    async with make_client(fake_godeploy) as client:
        assert len(await list_some(client)) == 3


async def test_an_unreachable_proxy_is_named_without_its_password(
    fake_godeploy: FakeGoDeploy, monkeypatch, caplog
):
    caplog.set_level(logging.DEBUG)
    port = unused_port()
    monkeypatch.setenv("HTTP_PROXY", f"http://corp-user:{PROXY_PASSWORD}@127.0.0.1:{port}")
    async with make_client(fake_godeploy, max_retries=1) as client:
        with pytest.raises(APIConnectionError) as caught:
            await list_some(client)
    error = caught.value
    assert error.request_sent is False
    assert f"proxy 127.0.0.1:{port}" in str(error)
    texts = exception_texts(error) + [record.getMessage() for record in caplog.records]
    assert not [text for text in texts if PROXY_PASSWORD in text or fake_godeploy.token in text]


async def test_a_proxy_scheme_aiohttp_cannot_speak_is_refused_without_its_password(
    fake_godeploy: FakeGoDeploy, monkeypatch
):
    monkeypatch.setenv("HTTP_PROXY", f"socks5://corp-user:{PROXY_PASSWORD}@127.0.0.1:1080")
    async with make_client(fake_godeploy) as client:
        with pytest.raises(RequestValidationError, match="HTTP_PROXY") as caught:
            await list_some(client)
    assert not [text for text in exception_texts(caught.value) if PROXY_PASSWORD in text]


@pytest.mark.parametrize(
    ("host", "no_proxy", "bypassed"),
    [
        ("api.example.com", "example.com", True),
        ("api.example.com", ".example.com", True),
        ("example.com", ".example.com", True),
        ("notexample.com", "example.com", False),
        ("API.Example.com", "api.example.COM:443", True),
        ("::1", "[::1]:8080", True),
        ("10.0.0.1", "10.0.0.10", False),
        ("anything", " * ", True),
        ("anything", "", False),
    ],
)
def test_no_proxy_entries_are_read_as_curl_reads_them(host, no_proxy, bypassed):
    assert _bypasses_proxy(host, no_proxy) is bypassed


# --- ssl= ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate_authority() -> trustme.CA:
    return trustme.CA()


@pytest_asyncio.fixture
async def tls_server(certificate_authority: trustme.CA) -> AsyncIterator[URL]:
    """A loopback https server whose certificate only the throwaway CA vouches for."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate_authority.issue_cert("127.0.0.1").configure_cert(context)

    async def answer(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async with serve(answer, ssl_context=context) as url:
        yield url


def ca_file(certificate_authority: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    certificate_authority.cert_pem.write_to_path(str(path))
    return path


async def fetch(url: URL, **options) -> int:
    transport = AiohttpTransport(**options)
    try:
        response = await transport.send(
            TransportRequest(method="GET", url=url / "ping", headers={}, timeout=10)
        )
        return response.status
    finally:
        await transport.aclose()


async def test_the_system_cas_refuse_an_unknown_ca(tls_server):
    with pytest.raises(APIConnectionError, match="certificate verify failed|CERTIFICATE"):
        await fetch(tls_server)


@pytest.mark.parametrize("as_type", [str, Path])
async def test_a_ca_bundle_path_is_trusted(as_type, tls_server, certificate_authority, tmp_path):
    assert await fetch(tls_server, ssl=as_type(ca_file(certificate_authority, tmp_path))) == 200


async def test_an_ssl_context_is_used_as_is(tls_server, certificate_authority):
    context = ssl.create_default_context()
    certificate_authority.configure_trust(context)
    assert await fetch(tls_server, ssl=context) == 200


async def test_ssl_false_checks_nothing(tls_server):
    assert await fetch(tls_server, ssl=False) == 200


async def test_the_client_forwards_ssl(tls_server, certificate_authority, tmp_path):
    unit = "8d5a7c1e-1f0e-4a36-9d07-2b7f4c1d9e01"
    path = ca_file(certificate_authority, tmp_path)
    async with GoDeployClient("a-token", unit, base_url=tls_server, ssl=path) as client:
        transport = client.transport
        assert isinstance(transport, AiohttpTransport)
        # The CA is trusted, and the answer reaches the decoder (which refuses it: not a page).
        with pytest.raises(ResponseValidationError):
            await list_some(client)


@pytest.mark.parametrize(
    ("value", "message"),
    [(123, "ssl must be"), ("/nonexistent/ca.pem", "no CA bundle"), (None, "ssl must be")],
)
def test_a_bad_ssl_option_is_refused(value, message):
    with pytest.raises(RequestValidationError, match=message):
        AiohttpTransport(ssl=value)


def test_a_file_that_is_not_a_ca_bundle_is_refused(tmp_path):
    path = tmp_path / "not-a-ca.pem"
    path.write_text("hello\n")
    with pytest.raises(RequestValidationError, match="cannot load the CA bundle"):
        GoDeployClient("a-token", ssl=path)


@pytest.mark.parametrize("option", [{"ssl": False}, {"trust_env": False}])
async def test_session_options_are_refused_beside_a_borrowed_session(option):
    async with aiohttp.ClientSession() as session:
        with pytest.raises(RequestValidationError, match="your own aiohttp session"):
            GoDeployClient("a-token", session=session, **option)


@pytest.mark.parametrize("bad", [None, 0, "yes"])
def test_trust_env_must_be_a_bool(bad):
    with pytest.raises(RequestValidationError, match="trust_env"):
        AiohttpTransport(trust_env=bad)
