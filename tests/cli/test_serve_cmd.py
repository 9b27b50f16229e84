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
