"""Participant tokens: HS256 JWTs that say who a participant is and what it may do in which room.

The API follows MeshAgent's ``ParticipantToken`` / ``ParticipantGrant`` / ``ApiScope`` so seed code runs,
with the gaps closed: tokens always expire (``exp``), carry ``iat``, and name their signing key in the JWT
*header* (``kid`` = ``api_key_id``) so a server can hold several keys and rotate them.

Claims: ``sub`` and ``name`` (the participant), ``grants`` (``[{"name", "scope"}]``), ``project_id`` when
set, ``iat``, ``exp``. Grant names in use: ``room`` (scope = room name), ``role`` (``user``, ``agent``,
``tool``) and ``api`` (scope = an :class:`ApiScope` as JSON).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeAlias

import jwt

from .errors import AuthenticationError

__all__ = [
    "DEFAULT_TTL",
    "ApiScope",
    "GrantScope",
    "ParticipantGrant",
    "ParticipantToken",
    "SyncScope",
]

#: Lifetime of a token minted without an explicit expiration.
DEFAULT_TTL = timedelta(hours=1)
_ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True, init=False)
class SyncScope:
    """What a participant may do with documents: read only or read-write, on all paths or some.

    ``paths`` are glob patterns (``fnmatch``: ``*`` also matches ``/``) over document paths;
    ``None`` allows every path.
    """

    read_only: bool
    paths: tuple[str, ...] | None

    def __init__(self, *, read_only: bool = False, paths: Iterable[str] | None = None) -> None:
        object.__setattr__(self, "read_only", read_only)
        object.__setattr__(self, "paths", None if paths is None else tuple(paths))

    def allows_path(self, path: str) -> bool:
        """Whether the document at ``path`` is inside this scope."""
        return self.paths is None or any(fnmatch.fnmatchcase(path, pattern) for pattern in self.paths)

    def to_json(self) -> dict[str, Any]:
        return {"read_only": self.read_only, "paths": None if self.paths is None else list(self.paths)}

    @classmethod
    def from_json(cls, data: Any) -> SyncScope:
        if not isinstance(data, Mapping):
            raise AuthenticationError("the token's sync scope must be an object")
        read_only = data.get("read_only", False)
        paths = data.get("paths")
        if not isinstance(read_only, bool) or not (
            paths is None or (isinstance(paths, list) and all(isinstance(p, str) for p in paths))
        ):
            raise AuthenticationError("the token's sync scope needs a boolean read_only and a list of paths")
        return cls(read_only=read_only, paths=paths)


@dataclass(frozen=True, slots=True)
class ApiScope:
    """The room APIs a participant may call; ``sync=None`` means no document access at all."""

    sync: SyncScope | None = None

    @classmethod
    def agent_default(cls) -> ApiScope:
        """What an agent needs by default: read-write sync on every document of the room."""
        return cls(sync=SyncScope())

    @classmethod
    def read_only(cls, paths: Iterable[str] | None = None) -> ApiScope:
        """Read every document (or those matching ``paths``), write none."""
        return cls(sync=SyncScope(read_only=True, paths=paths))

    def to_json(self) -> dict[str, Any]:
        return {"sync": None if self.sync is None else self.sync.to_json()}

    @classmethod
    def from_json(cls, data: Any) -> ApiScope:
        if not isinstance(data, Mapping):
            raise AuthenticationError("the token's api scope must be an object")
        sync = data.get("sync")
        return cls(sync=None if sync is None else SyncScope.from_json(sync))


GrantScope: TypeAlias = str | ApiScope


@dataclass(frozen=True, slots=True)
class ParticipantGrant:
    """One permission: ``room`` → room name, ``role`` → role name, ``api`` → :class:`ApiScope`."""

    name: str
    scope: GrantScope

    def to_json(self) -> dict[str, Any]:
        scope = self.scope.to_json() if isinstance(self.scope, ApiScope) else self.scope
        return {"name": self.name, "scope": scope}

    @classmethod
    def from_json(cls, data: Any) -> ParticipantGrant:
        if not isinstance(data, Mapping) or not isinstance(data.get("name"), str):
            raise AuthenticationError("every grant in the token must be an object with a string name")
        name = data["name"]
        scope = data.get("scope")
        if name == "api":
            return cls(name, ApiScope.from_json(scope))
        if not isinstance(scope, str):
            raise AuthenticationError(f"the token's {name!r} grant needs a string scope")
        return cls(name, scope)


@dataclass(slots=True, init=False)
class ParticipantToken:
    """Who a participant is (``name``) and what it is granted; signed with :meth:`to_jwt`."""

    name: str
    project_id: str | None
    api_key_id: str | None
    grants: list[ParticipantGrant]
    #: Set by :meth:`from_jwt`: when the token stops being valid.
    expires_at: datetime | None

    def __init__(
        self,
        *,
        name: str,
        project_id: str | None = None,
        api_key_id: str | None = None,
        grants: Sequence[ParticipantGrant] | None = None,
        expires_at: datetime | None = None,
    ) -> None:
        self.name = name
        self.project_id = project_id
        self.api_key_id = api_key_id
        self.grants = list(grants or [])
        self.expires_at = expires_at

    @classmethod
    def for_room(
        cls,
        *,
        name: str,
        room: str,
        role: str = "agent",
        api: ApiScope | None = None,
        project_id: str | None = None,
        api_key_id: str | None = None,
    ) -> ParticipantToken:
        """The usual token: a room grant, a role grant and an api grant (default: read-write sync)."""
        return cls(
            name=name,
            project_id=project_id,
            api_key_id=api_key_id,
            grants=[
                ParticipantGrant("room", room),
                ParticipantGrant("role", role),
                ParticipantGrant("api", api if api is not None else ApiScope.agent_default()),
            ],
        )

    def add_room_grant(self, room: str) -> None:
        self.grants.append(ParticipantGrant("room", room))

    def add_role_grant(self, role: str) -> None:
        self.grants.append(ParticipantGrant("role", role))

    def add_api_grant(self, scope: ApiScope) -> None:
        self.grants.append(ParticipantGrant("api", scope))

    def grant_scopes(self, name: str) -> list[GrantScope]:
        """The scopes of every grant called ``name``."""
        return [grant.scope for grant in self.grants if grant.name == name]

    def allows_room(self, room: str) -> bool:
        """Whether a ``room`` grant names this room."""
        return room in self.grant_scopes("room")

    @property
    def role(self) -> str | None:
        roles = [scope for scope in self.grant_scopes("role") if isinstance(scope, str)]
        return roles[0] if roles else None

    @property
    def api(self) -> ApiScope:
        """The API scope; a token without an ``api`` grant gets :meth:`ApiScope.agent_default`."""
        scopes = [scope for scope in self.grant_scopes("api") if isinstance(scope, ApiScope)]
        return scopes[0] if scopes else ApiScope.agent_default()

    def to_jwt(self, *, token: str, expiration: datetime | timedelta | None = None) -> str:
        """Sign with the secret ``token``; ``expiration`` is a moment or a lifetime (default one hour)."""
        if not token:
            raise AuthenticationError("cannot sign a token with an empty secret")
        now = datetime.now(UTC)
        if expiration is None:
            expiration = DEFAULT_TTL
        expires = now + expiration if isinstance(expiration, timedelta) else expiration
        claims: dict[str, Any] = {
            "sub": self.name,
            "name": self.name,
            "grants": [grant.to_json() for grant in self.grants],
            "iat": int(now.timestamp()),
            "exp": int(expires.timestamp()),
        }
        if self.project_id is not None:
            claims["project_id"] = self.project_id
        headers = {"kid": self.api_key_id} if self.api_key_id is not None else None
        return jwt.encode(claims, token, algorithm=_ALGORITHM, headers=headers)

    @classmethod
    def from_jwt(
        cls, token: str, secrets: Mapping[str, str] | str, *, leeway: timedelta = timedelta(seconds=10)
    ) -> ParticipantToken:
        """Verify and decode a token; raises AuthenticationError saying what is wrong with it.

        ``secrets`` is one secret, or ``{kid: secret}`` in which case the token's header ``kid`` picks
        the key (keys rotate by adding the new kid before retiring the old one).
        """
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthenticationError("the token is not a JWT") from None
        kid = header.get("kid")
        if isinstance(secrets, str):
            secret = secrets
        elif not isinstance(kid, str):
            raise AuthenticationError("the token names no signing key (kid)", hint="mint it with api_key_id")
        elif kid not in secrets:
            raise AuthenticationError(f"the token is signed with an unknown key {kid!r}")
        else:
            secret = secrets[kid]
        try:
            claims = jwt.decode(
                token,
                secret,
                algorithms=[_ALGORITHM],
                leeway=leeway,
                options={"require": ["exp", "iat", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("the token has expired", hint="mint a new token") from None
        except jwt.InvalidSignatureError:
            raise AuthenticationError("the token's signature does not match the server's key") from None
        except jwt.PyJWTError as exc:
            raise AuthenticationError(f"the token is invalid: {exc}") from None
        return cls._from_claims(claims, kid)

    @classmethod
    def peek(cls, token: str) -> ParticipantToken:
        """Decode a token *without* verifying it: what a client may learn of its own token (its name,
        its scopes) to offer no more than the server will allow. Never use it to grant anything."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            claims = jwt.decode(token, options={"verify_signature": False, "require": ["exp", "sub"]})
        except jwt.PyJWTError as exc:
            raise AuthenticationError(f"the token is invalid: {exc}") from None
        return cls._from_claims(claims, kid)

    @classmethod
    def _from_claims(cls, claims: Mapping[str, Any], kid: object) -> ParticipantToken:
        grants = claims.get("grants", [])
        name = claims.get("name", claims["sub"])
        project_id = claims.get("project_id")
        if not isinstance(grants, list) or not isinstance(name, str):
            raise AuthenticationError("the token's grants must be a list and its name a string")
        if project_id is not None and not isinstance(project_id, str):
            raise AuthenticationError("the token's project_id must be a string")
        return cls(
            name=name,
            project_id=project_id,
            api_key_id=kid if isinstance(kid, str) else None,
            grants=[ParticipantGrant.from_json(grant) for grant in grants],
            expires_at=datetime.fromtimestamp(claims["exp"], UTC),
        )
