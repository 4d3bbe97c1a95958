"""Benchmarks of the SDK: `make bench` (`python -m tests.benchmarks`).

Not collected by pytest (`--ignore=tests/benchmarks`): nothing here is an assertion on time.
The run prints one markdown table and writes every figure, with its samples, to
build/bench.json.

Method:

- The fake (`godeploy.testing.FakeGoDeploy`) runs in a separate process (`_fake`), pinned with
  os.sched_setaffinity to one core; this process, the client, is pinned to another, so client
  CPU time (time.process_time) is the client's alone. On a machine with fewer than two usable
  cores nothing is pinned and the table says so.
- Every figure is the median of at least 5 runs (`--runs`), shown with the min and the max, and
  a warm-up run (connections, the fake's caches, imports) comes first and is not counted.
- Contenders that are compared run in the same session, alternating, each round starting
  with the next one (no position bias); a ratio is the median of the per-round ratios.
- Targets are read from the table: PASS or MISS is printed next to the figure, never asserted.

Sections:

1. Latency-bound fan-out (`_fanout`): 50 ms added per request, `for_orders` over 1,000 orders
   (100 at concurrency 1) at concurrency 1, 10, 50 and 100; wall time / ceil(N / C) x 50 ms.
2. Client overhead (`_throughput`): no added latency, the items of 2,000 orders at concurrency
   32 through the SDK and through a bare aiohttp + json.loads loop: requests/s and client CPU
   per request.
3. Peer (`_throughput`, `_peer`): the same job through the client openapi-python-client
   generates from openapi/orders-v2.yaml, at bench time, into build/peer.
4. Decoding (`_decoding`): 10,000 orders of JSON into models by the SDK's converter, pydantic
   v2 and msgspec (and, for money, every feature set of the unit).
5. Memory (`_memory`): peak RSS of a fresh client process streaming the items of every order
   of a 10,000-order and a 100,000-order fake.
"""
