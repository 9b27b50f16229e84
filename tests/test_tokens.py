"""Participant tokens: claims, key rotation by kid, and every way a token is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from mesh_tools.errors import AuthenticationError
from mesh_tools.tokens import ApiScope, ParticipantGrant, ParticipantToken, SyncScope

SECRET = "s3cret-for-tests-0123456789abcdef0123"


def _token(**kwargs: object) -> ParticipantToken:
    return ParticipantToken(
        name="alice",
        project_id="proj",
        grants=[
            ParticipantGrant(name="room", scope="my-room"),
            ParticipantGrant(name="role", scope="agent"),
            ParticipantGrant(name="api", scope=ApiScope(sync=SyncScope(read_only=True, paths=["notes/*"]))),
        ],
        **kwargs,  # type: ignore[arg-type]
    )


def test_round_trip_keeps_every_claim() -> None:
    decoded = ParticipantToken.from_jwt(_token().to_jwt(token=SECRET), SECRET)
    assert (decoded.name, decoded.project_id, decoded.role) == ("alice", "proj", "agent")
    assert decoded.allows_room("my-room") and not decoded.allows_room("other")
    assert decoded.api == ApiScope(sync=SyncScope(read_only=True, paths=("notes/*",)))
    assert decoded.expires_at is not None
    assert timedelta(minutes=59) < decoded.expires_at - datetime.now(UTC) <= timedelta(hours=1)


def test_standard_claims_and_kid_in_header() -> None:
    encoded = _token(api_key_id="key-1").to_jwt(token=SECRET, expiration=timedelta(minutes=5))
    assert jwt.get_unverified_header(encoded)["kid"] == "key-1"
    claims = jwt.decode(encoded, SECRET, algorithms=["HS256"])
    assert claims["sub"] == "alice"
    assert "kid" not in claims
    assert claims["exp"] - claims["iat"] == 300


def test_kid_picks_the_key_so_keys_rotate() -> None:
    keys = {"old": "old-secret-" + "o" * 32, "new": "new-secret-" + "n" * 32}
    for kid, secret in keys.items():
        decoded = ParticipantToken.from_jwt(_token(api_key_id=kid).to_jwt(token=secret), keys)
        assert decoded.api_key_id == kid


@pytest.mark.parametrize(
    ("encoded", "secrets", "message"),
    [
        ("not-a-jwt", SECRET, "not a JWT"),
        (_token().to_jwt(token="other-secret-0123456789abcdef0123456789"), SECRET, "signature"),
        (_token().to_jwt(token=SECRET, expiration=timedelta(hours=-1)), SECRET, "expired"),
        (_token(api_key_id="gone").to_jwt(token=SECRET), {"k1": SECRET}, "unknown key 'gone'"),
        (_token().to_jwt(token=SECRET), {"k1": SECRET}, "names no signing key"),
        (jwt.encode({"sub": "x", "iat": 0}, SECRET, algorithm="HS256"), SECRET, "exp"),
        (jwt.encode({"sub": "x", "exp": 2**40, "iat": 0}, None, algorithm="none"), SECRET, "invalid"),
        (
            jwt.encode({"sub": "x", "exp": 2**40, "iat": 0, "grants": [{"name": "api", "scope": 1}]}, SECRET),
            SECRET,
            "api scope",
        ),
    ],
)
def test_bad_tokens_are_refused_with_a_reason(encoded: str, secrets: object, message: str) -> None:
    with pytest.raises(AuthenticationError, match=message):
        ParticipantToken.from_jwt(encoded, secrets)  # type: ignore[arg-type]


def test_absolute_expiration_and_empty_secret() -> None:
    when = datetime.now(UTC) + timedelta(days=2)
    decoded = ParticipantToken.from_jwt(_token().to_jwt(token=SECRET, expiration=when), SECRET)
    assert decoded.expires_at == when.replace(microsecond=0)
    with pytest.raises(AuthenticationError):
        _token().to_jwt(token="")


def test_scopes() -> None:
    assert ApiScope.agent_default().sync == SyncScope(read_only=False, paths=None)
    scope = SyncScope(paths=["notes/*.document", "plan.document"])
    assert scope.allows_path("notes/a/b.document") and scope.allows_path("plan.document")
    assert not scope.allows_path("other.document")
    assert ApiScope.read_only().sync is not None and ApiScope.read_only().sync.read_only
    assert ApiScope.from_json(ApiScope.read_only(["x"]).to_json()) == ApiScope.read_only(["x"])
    # A token without an api grant keeps MeshAgent's behaviour: full document access.
    assert ParticipantToken(name="n").api == ApiScope.agent_default()


def test_for_room_builds_the_usual_grants() -> None:
    token = ParticipantToken.for_room(name="ada", room="r1", role="user", api_key_id="k")
    decoded = ParticipantToken.from_jwt(token.to_jwt(token=SECRET), {"k": SECRET})
    assert (decoded.name, decoded.role, decoded.api, decoded.api_key_id) == (
        "ada",
        "user",
        ApiScope.agent_default(),
        "k",
    )
    assert decoded.allows_room("r1")
