"""Admission at the TCP level: how many connections one address may hold, and how many may be
handshaking at once.

Idle TCP connections cost a file descriptor each and never reach the token check, so 1,100 of them
used to lock real clients out. A connection over either cap is aborted as soon as it is accepted;
websockets' ``open_timeout`` closes the ones that never finish their handshake.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar

from websockets.asyncio.server import ServerConnection

from ._sliced_reading import SlicedReadingConnection

__all__ = ["ConnectionGate", "gated_connection_class"]

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class ConnectionGate:
    """Counts connections per remote address and handshakes in flight."""

    max_per_address: int
    max_handshaking: int
    _per_address: dict[str, int] = field(default_factory=dict)
    _handshaking: set[ServerConnection] = field(default_factory=set)

    def admit(self, connection: ServerConnection, address: str) -> bool:
        """Count a new connection in; False (and nothing counted) when a cap is reached."""
        if self._per_address.get(address, 0) >= self.max_per_address:
            logger.warning("refused a connection from %s: it holds %d already", address, self.max_per_address)
            return False
        if len(self._handshaking) >= self.max_handshaking:
            logger.warning(
                "refused a connection from %s: %d handshakes in flight", address, self.max_handshaking
            )
            return False
        self._per_address[address] = self._per_address.get(address, 0) + 1
        self._handshaking.add(connection)
        return True

    def opened(self, connection: ServerConnection) -> None:
        """The handshake succeeded: the connection no longer counts as handshaking."""
        self._handshaking.discard(connection)

    def closed(self, connection: ServerConnection, address: str) -> None:
        self._handshaking.discard(connection)
        left = self._per_address.get(address, 0) - 1
        if left > 0:
            self._per_address[address] = left
        else:
            self._per_address.pop(address, None)


def gated_connection_class(gate: ConnectionGate) -> type[ServerConnection]:
    """A ServerConnection class (websockets' ``create_connection``) that asks ``gate`` on accept.

    It reads in slices too (_sliced_reading.py): websockets takes one connection class.
    """

    class GatedConnection(SlicedReadingConnection):
        admission: ClassVar[ConnectionGate] = gate
        _address: str | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            peer: Any = transport.get_extra_info("peername")
            address = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
            if self.admission.admit(self, address):
                self._address = address
            else:
                transport.close()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._address is not None:
                self.admission.closed(self, self._address)
            super().connection_lost(exc)

    return GatedConnection
