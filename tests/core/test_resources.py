"""``@task(resources=...)``: checked when the task is defined, kept in a canonical form."""

from __future__ import annotations

from typing import Any

import pytest

from eagernb import task
from eagernb._core.errors import DefinitionError
from eagernb._core.resources import normalize


def test_requests_are_kept_with_memory_in_bytes_and_labels_as_amounts() -> None:
    @task(resources={"cpu": 2, "memory": "4GiB", "gpu": 1, "ssd": True, "fpga": 0})
    def fit(x: int) -> int:
        return x

    assert fit.resources == {"cpu": 2, "memory": 4 * 2**30, "gpu": 1, "ssd": 1}
    assert fit(x=3) == 3  # run locally, requests are not enforced


@pytest.mark.parametrize(
    ("text", "size"),
    [("512MB", 512 * 10**6), ("1.5 GiB", 3 * 2**29), ("2G", 2 * 10**9), ("100", 100)],
)
def test_memory_sizes(text: str, size: int) -> None:
    assert normalize({"memory": text}, "Task 't'") == {"memory": size}


@pytest.mark.parametrize(
    ("resources", "says"),
    [
        ({"memory": "lots"}, "memory='lots' is not a size"),
        ({"gpu": -1}, "resource 'gpu' must be 0 or more"),
        ({"cpu": "2"}, "resource 'cpu' must be a number"),
        ([("cpu", 1)], "resources= must be a dict"),
    ],
)
def test_bad_requests_are_refused_when_the_task_is_defined(resources: Any, says: str) -> None:
    with pytest.raises(DefinitionError, match=says) as info:

        @task(resources=resources)
        def fit(x: int) -> int:
            return x

    assert "Task 'fit'" in str(info.value)
