"""`mesh-tools token` and the key handling of `mesh-tools serve`."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesh_tools.cli import main
from mesh_tools.tokens import ApiScope, ParticipantToken, SyncScope


def test_token_command_mints_a_scoped_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], secret: str
) -> None:
    monkeypatch.setenv("MESH_TOOLS_SECRET", secret)
    argv = [
        "token",
        "--room",
        "r",
        "--name",
        "ada",
        "--read-only",
        "--path",
        "notes/*",
        "--ttl",
        "60",
        "--kid",
        "k1",
    ]
    assert main(argv) == 0
    token = ParticipantToken.from_jwt(capsys.readouterr().out.strip(), {"k1": secret})
    assert (token.name, token.role, token.allows_room("r")) == ("ada", "agent", True)
    assert token.api == ApiScope(sync=SyncScope(read_only=True, paths=["notes/*"]))


def test_missing_secret_and_bad_key_files_are_explained(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.delenv("MESH_TOOLS_SECRET", raising=False)
    assert main(["token", "--room", "r", "--name", "ada"]) == 2
    assert "MESH_TOOLS_SECRET is not set" in capsys.readouterr().err
    keys = tmp_path / "keys.json"
    keys.write_text('{"k1": ""}')
    assert main(["serve", "--port", "0", "--data-dir", str(tmp_path), "--secret-file", str(keys)]) == 2
    assert "non-empty secret strings" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["token", "--room", "r", "--name", "ada", "--ttl", "0"])


def test_cluster_backends_are_checked_before_serving(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], secret: str
) -> None:
    monkeypatch.setenv("MESH_TOOLS_SECRET", secret)
    monkeypatch.delenv("MESH_TOOLS_STORAGE", raising=False)
    monkeypatch.setenv("MESH_TOOLS_BUS", "redis://127.0.0.1:1/0")
    # A bus without shared storage would split rooms between nodes: refused.
    assert main(["serve", "--port", "0"]) == 2
    assert "--bus needs --storage" in capsys.readouterr().err
    assert main(["serve", "--port", "0", "--storage", "mysql://db/rooms"]) == 2
    assert "unsupported --storage" in capsys.readouterr().err
