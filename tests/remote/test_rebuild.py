"""A remote child's failure becomes a local exception, with a documented fallback."""

from __future__ import annotations

import pickle

from eagernb import RemoteExecutionError
from eagernb._client.errors import rebuild_exception
from eagernb._core.errors import ErrorInfo, as_eager_exception

FAILED = {
    "id": "e1",
    "status": "failed",
    "error": {
        "type_name": "somelib.QuotaExceeded",
        "message": "quota of 10 exceeded",
        "traceback": (
            "Traceback (most recent call last):\n"
            '  File "job.py", line 3\n'
            "somelib.QuotaExceeded: quota of 10 exceeded\n"
        ),
    },
}


def test_an_exception_that_unpickles_is_the_original_type() -> None:
    exc = rebuild_exception(FAILED, pickle.dumps(KeyError("k")))
    assert isinstance(exc, KeyError) and exc.args == ("k",)
    assert "QuotaExceeded" in exc.remote_traceback  # type: ignore[attr-defined]


def test_a_class_that_cannot_be_rebuilt_falls_back_without_a_secondary_error() -> None:
    broken = b"\x80\x04\x95 not a pickle of anything"
    exc = rebuild_exception(FAILED, broken)
    assert isinstance(exc, RemoteExecutionError)
    assert exc.type_name == "somelib.QuotaExceeded"
    assert exc.remote_message == "quota of 10 exceeded"
    assert str(exc) == "somelib.QuotaExceeded: quota of 10 exceeded"
    wrapped = as_eager_exception(exc, "charge", "e1")
    assert isinstance(wrapped, RemoteExecutionError)
    assert "job.py" in wrapped.remote_traceback
    info = ErrorInfo.from_exception(exc)
    assert info.type_name == "somelib.QuotaExceeded"


def test_no_exception_blob_at_all_also_falls_back() -> None:
    exc = rebuild_exception(FAILED, None)
    assert isinstance(exc, RemoteExecutionError)
    assert exc.remote_traceback.endswith("quota of 10 exceeded\n")


def test_failures_the_control_plane_reports_itself_arrive_as_eagernb_classes() -> None:
    import eagernb

    for name in ("WorkerLostError", "ServerRestartedError", "ResourcesUnavailableError"):
        message = f"what happened to e1 ({name})"
        failed = {"id": "e1", "status": "failed", "error": {"type_name": f"eagernb.{name}",
                                                            "message": message}}  # fmt: skip
        exc = rebuild_exception(failed, None)
        assert type(exc) is getattr(eagernb, name)
        assert str(exc) == message
        wrapped = as_eager_exception(exc, "charge", "e1")
        assert isinstance(wrapped, getattr(eagernb, name))
        assert ErrorInfo.from_exception(wrapped).type_name == f"eagernb.{name}"
