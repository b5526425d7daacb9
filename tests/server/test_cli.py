"""``eagernb server`` and ``eagernb sandbox`` arguments."""

from __future__ import annotations

import pytest

from eagernb._cli import main


def test_help_lists_the_server_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "server" in out
    assert "sandbox" in out


def test_a_server_needs_a_worker(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["server", "--workers", "0"])
    assert exit_.value.code == 2
    assert "--workers 0: give 1 or more worker processes." in capsys.readouterr().err


def test_the_sandbox_knows_its_actions(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["sandbox", "restart"])
    assert exit_.value.code == 2
    assert "choose from 'start', 'stop', 'status'" in capsys.readouterr().err
