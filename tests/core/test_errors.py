"""A failed child reaches the eager body as EagerException *and* as its original type."""

from __future__ import annotations

import asyncio
import errno
import re
from typing import Any

import pytest

import eagernb
from eagernb import (
    DefinitionError,
    EagerException,
    EagerNBError,
    ErrorInfo,
    InputTypeError,
    OutputTypeError,
    RunCancelledError,
    Status,
    TaskTimeoutError,
    WorkflowCompileError,
    eager,
    task,
)
from tests.core.support import children, latest_run_of


class QuotaExceeded(Exception):
    """A user error with a custom ``__init__`` signature and attributes."""

    def __init__(self, user: str, *, limit: int) -> None:
        super().__init__(f"{user} went over the quota of {limit}")
        self.user = user
        self.limit = limit


@task
def fail(kind: str) -> int:
    if kind == "value":
        raise ValueError("bad value")
    if kind == "quota":
        raise QuotaExceeded("ada", limit=3)
    if kind == "key":
        raise KeyError("missing-key")
    if kind == "os":
        raise OSError(errno.EACCES, "Permission denied", "/srv/data.csv")
    return 0


RAISE_LINES = {
    "value": 'raise ValueError("bad value")',
    "quota": 'raise QuotaExceeded("ada", limit=3)',
    "key": 'raise KeyError("missing-key")',
    "os": 'raise OSError(errno.EACCES, "Permission denied", "/srv/data.csv")',
}


@eager
async def catch_any(kind: str) -> EagerException:
    try:
        await fail(kind=kind)
    except EagerException as exc:
        return exc
    raise AssertionError("the child did not fail")


def _caught(kind: str) -> tuple[EagerException, str]:
    exc = asyncio.run(catch_any(kind=kind))
    (record,) = children(latest_run_of(catch_any))
    return exc, record.id


@pytest.mark.parametrize(
    ("kind", "original", "text"),
    [
        ("value", ValueError, "bad value"),
        ("quota", QuotaExceeded, "ada went over the quota of 3"),
        ("key", KeyError, "'missing-key'"),
        ("os", PermissionError, "[Errno 13] Permission denied: '/srv/data.csv'"),
    ],
)
def test_child_failure_is_both_eager_exception_and_its_original_type(kind, original, text):
    exc, record_id = _caught(kind)
    assert isinstance(exc, EagerException)
    assert isinstance(exc, original)
    assert exc.original_type is original
    assert str(exc) == text
    assert exc.execution_name == "fail"
    assert exc.execution_id == record_id
    assert RAISE_LINES[kind] in exc.remote_traceback


def test_custom_exception_attributes_survive():
    exc, _ = _caught("quota")
    assert isinstance(exc, QuotaExceeded)
    assert (exc.user, exc.limit) == ("ada", 3)


def test_os_error_keeps_errno_strerror_and_filename():
    exc, _ = _caught("os")
    assert isinstance(exc, OSError)
    assert (exc.errno, exc.strerror, exc.filename) == (
        errno.EACCES,
        "Permission denied",
        "/srv/data.csv",
    )


def test_key_error_keeps_its_key():
    exc, _ = _caught("key")
    assert exc.args == ("missing-key",)


def test_original_exception_is_the_cause():
    exc, _ = _caught("value")
    assert type(exc.__cause__) is ValueError
    assert str(exc.__cause__) == "bad value"


def test_both_except_eager_exception_and_except_original_type_catch_it():
    @eager
    async def wf(kind: str) -> list[str]:
        caught = []
        try:
            await fail(kind=kind)
        except EagerException:
            caught.append("EagerException")
        try:
            await fail(kind=kind)
        except ValueError:
            caught.append("ValueError")
        try:
            await fail(kind="quota")
        except QuotaExceeded as exc:
            caught.append(f"QuotaExceeded {exc.user}")
        return caught

    assert asyncio.run(wf(kind="value")) == ["EagerException", "ValueError", "QuotaExceeded ada"]


def test_failed_child_record_keeps_the_error():
    _caught("quota")
    (record,) = children(latest_run_of(catch_any))
    assert record.status is Status.FAILED
    assert record.error is not None
    assert record.error.type_name.endswith("QuotaExceeded")
    assert record.error.message == "ada went over the quota of 3"
    assert RAISE_LINES["quota"] in record.error.traceback
    assert str(record.error).endswith("QuotaExceeded: ada went over the quota of 3")


def test_grandchild_failure_through_a_nested_eager_keeps_the_original_type():
    @eager
    async def middle(kind: str) -> int:
        return await fail(kind=kind)

    @eager
    async def top(kind: str) -> str:
        try:
            await middle(kind=kind)
        except QuotaExceeded as exc:
            assert isinstance(exc, EagerException)
            assert exc.original_type is QuotaExceeded
            assert exc.execution_name == "middle"
            assert RAISE_LINES["quota"] in exc.remote_traceback
            return f"{exc.user}/{exc.limit}: {exc}"
        return "no error"

    assert asyncio.run(top(kind="quota")) == "ada/3: ada went over the quota of 3"
    run = latest_run_of(top)
    assert [(depth, r.name, r.status) for depth, r in run.walk()] == [
        (0, "top", Status.SUCCEEDED),
        (1, "middle", Status.FAILED),
        (2, "fail", Status.FAILED),
    ]
    middle_record = run.children_of(run.root_id)[0]
    assert middle_record.error is not None
    assert middle_record.error.type_name.endswith("QuotaExceeded")


def test_uncaught_child_failure_fails_the_run_and_reaches_the_caller():
    @eager
    async def careless(kind: str) -> int:
        return await fail(kind=kind)

    with pytest.raises(ValueError, match="bad value") as caught:
        asyncio.run(careless(kind="value"))
    assert isinstance(caught.value, EagerException)
    run = latest_run_of(careless)
    assert run.status is Status.FAILED
    assert run.root is not None and run.root.status is Status.FAILED
    assert run.root.error is not None and run.root.error.type_name == "ValueError"


def test_error_info_is_plain_data_for_views():
    try:
        raise QuotaExceeded("bob", limit=1)
    except QuotaExceeded as exc:
        info = ErrorInfo.from_exception(exc)
    assert info.type_name.endswith("QuotaExceeded")
    assert info.message == "bob went over the quota of 1"
    assert 'raise QuotaExceeded("bob", limit=1)' in info.traceback


@pytest.mark.parametrize(
    ("error", "bases"),
    [
        (DefinitionError, (EagerNBError,)),
        (WorkflowCompileError, (EagerNBError,)),
        (InputTypeError, (EagerNBError, TypeError)),
        (OutputTypeError, (EagerNBError, TypeError)),
        (EagerException, (EagerNBError,)),
        (TaskTimeoutError, (EagerNBError, TimeoutError)),
        (RunCancelledError, (EagerNBError,)),
    ],
)
def test_error_hierarchy(error, bases):
    assert all(issubclass(error, base) for base in bases)
    assert issubclass(EagerNBError, Exception)


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda: task(retries=1.5)(lambda x: x), "@task(retries=1.5): retries must be a whole"),
        (lambda: task(timeout="5")(lambda x: x), "@task(timeout='5'): timeout must be a positive"),
        (lambda: task(int), "Task 'int' needs a Python function with a signature"),
    ],
)
def test_decorator_arguments_are_checked_when_defined(make: Any, says: str) -> None:
    with pytest.raises(eagernb.DefinitionError, match=re.escape(says)):
        make()


def test_a_mode_set_in_code_is_checked_at_once() -> None:
    with pytest.raises(ValueError, match="eagernb mode 'Remote' is not one of local"):
        eagernb.config.mode = "Remote"
    assert eagernb.config.mode == "local"
