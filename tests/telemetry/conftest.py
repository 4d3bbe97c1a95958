from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests._support.otel import Recorder


@pytest.fixture
def otel() -> Iterator[Recorder]:
    recorder = Recorder()
    yield recorder
    recorder.shutdown()
