"""A fresh local HTTP server per test (the fault tests' stand-in for Wikidata and Commons)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer


@pytest.fixture
def server() -> Iterator[HTTPServer]:
    # Threaded: a stalled handler must not block the other downloads or the retries.
    srv = HTTPServer(host="127.0.0.1", threaded=True)
    srv.start()
    yield srv
    srv.clear()
    srv.stop()
