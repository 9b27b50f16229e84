"""Helpers the tests build on (not tests): a raw protocol client, a cuttable proxy, child processes,
throwaway Redis and PostgreSQL.

Fixtures over them (the server, tokens, clients) are in tests/conftest.py.
"""

from .fixtures import ClientFactory, MakeToken, RawConnector
from .network import TcpProxy
from .processes import Run, ServeProcess, run_process
from .raw_client import RawClient, RawDocument, error_code
from .schemas import ARTICLE, DOC_SCHEMA, NOTES, NOTES_ROOM, ROOM, texts
from .services import ThrowawayService, flush_redis, isolated_postgres_url
from .waiting import wait_until
from .websocket_channel import WebsocketChannel
from .yjs_craft import RawItem, craft_update

__all__ = [
    "ARTICLE",
    "DOC_SCHEMA",
    "NOTES",
    "NOTES_ROOM",
    "ROOM",
    "ClientFactory",
    "MakeToken",
    "RawClient",
    "RawConnector",
    "RawDocument",
    "RawItem",
    "Run",
    "ServeProcess",
    "TcpProxy",
    "ThrowawayService",
    "WebsocketChannel",
    "craft_update",
    "error_code",
    "flush_redis",
    "isolated_postgres_url",
    "run_process",
    "texts",
    "wait_until",
]
