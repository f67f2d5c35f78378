"""The local cluster's background start (``platform.cluster.LocalClusterStart``), without Ray
starting: what it starts when, and that an error on its thread reaches the driver."""

from __future__ import annotations

import signal

import pytest

from platform import cluster


@pytest.fixture
def sigterm_restored():
    previous = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, previous)


def test_an_error_starting_the_cluster_is_raised_where_the_driver_waits(monkeypatch, sigterm_restored):
    calls = []

    def failing_init(address):
        calls.append(address)
        raise RuntimeError("raylet did not start")

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(cluster, "init_ray", failing_init)
    start = cluster.LocalClusterStart(None)
    start.begin()
    start.begin()  # once per driver: a second call starts nothing
    with pytest.raises(RuntimeError, match="raylet did not start"):
        start.wait()
    assert calls == [None]
    assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None)  # exits through atexit


@pytest.mark.parametrize("where", ["argument", "environment"])
def test_with_an_address_nothing_starts_in_the_background(monkeypatch, where):
    calls = []
    monkeypatch.setattr(cluster, "init_ray", calls.append)
    if where == "environment":
        monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6379")
    address = "127.0.0.1:6379" if where == "argument" else None
    start = cluster.LocalClusterStart(address)
    start.begin()
    assert calls == []  # joined where the driver needs Ray, on its own thread
    start.wait()
    assert calls == [address]
