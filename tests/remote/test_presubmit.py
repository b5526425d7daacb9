"""What is refused before anything is sent: unpicklable globals, big payloads, version clashes."""

from __future__ import annotations

import threading

import pytest

from eagernb import Remote, RemoteRequestError, eager, task
from eagernb._engines.payload import PayloadError, checked_entity_payload

LOCK = threading.Lock()
BIG = bytes(3_000_000)
CONFIG = {"name": "db", "clients": [1, 2, {"db": threading.Lock()}]}


class Settings:
    def __init__(self) -> None:
        self.retries = 3
        self.guard = threading.RLock()


SETTINGS = Settings()


@task
def configured(x: int) -> int:
    return x + len(CONFIG)


@task
def set_up(x: int) -> int:
    return x + SETTINGS.retries


@task
def locked(x: int) -> int:
    with LOCK:
        return x


@eager
async def uses_lock(x: int) -> int:
    return await locked(x=x)


@task
def big(x: int) -> int:
    return len(BIG) + x


def test_an_unpicklable_global_is_named_with_its_type_and_path() -> None:
    remote = Remote("http://127.0.0.1:9")  # nothing listens: the check happens before any request
    with pytest.raises(PayloadError) as caught:
        remote.register(uses_lock)
    message = str(caught.value)
    assert "global 'LOCK'" in message
    assert "_thread.lock" in message
    assert "eager 'uses_lock' → task 'locked'" in message
    assert "inside the task" in message


def test_an_unpicklable_part_of_a_global_is_named_by_its_path_within_it() -> None:
    with pytest.raises(PayloadError) as caught:
        checked_entity_payload(configured)
    message = str(caught.value)
    assert "global 'CONFIG' (dict)" in message
    assert "whose CONFIG['clients'][2]['db'] (_thread.lock)" in message
    assert "Create the lock inside the task" in message
    with pytest.raises(PayloadError) as caught:
        checked_entity_payload(set_up)
    assert "whose SETTINGS.guard (_thread.RLock)" in str(caught.value)


def test_an_oversized_payload_names_its_size_and_biggest_captures() -> None:
    with pytest.raises(PayloadError) as caught:
        checked_entity_payload(big, limit=1_000_000)
    message = str(caught.value)
    assert "over the 976.6 KiB limit" in message
    assert "global 'BIG' in task 'big'" in message and "2.9 MiB" in message


def test_an_unpicklable_input_is_named() -> None:
    remote = Remote("http://127.0.0.1:9")
    remote._compatible = True
    remote._registered[("default", "development", checked_entity_payload(big).sha256)] = "v"
    with pytest.raises(PayloadError, match="Input 'x' of 'big'"):
        remote.execute("big", {"x": threading.Lock()})
    with pytest.raises(PayloadError, match=r"its x\[1\]\._lock \(_thread\.lock\)"):
        remote.execute("big", {"x": [1, threading.Condition(threading.Lock())]})


def test_a_python_or_cloudpickle_clash_names_both_sides() -> None:
    remote = Remote("http://127.0.0.1:9")
    with pytest.raises(RemoteRequestError) as caught:
        remote._check_versions({"python": "3.9.18", "cloudpickle": "2.2.1"})
    message = str(caught.value)
    assert "Python 3.9.18 with cloudpickle 2.2.1" in message
    assert "This client runs Python 3." in message
