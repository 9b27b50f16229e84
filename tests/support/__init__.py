"""Helpers the tests build on (not tests): a raw protocol client, a cuttable proxy, child processes.

Fixtures over them (the server, tokens, clients) are in tests/conftest.py.
"""

from .fixtures import ClientFactory, MakeToken, RawConnector
from .network import TcpProxy
from .processes import Run, ServeProcess, run_process
from .raw_client import RawClient, RawDocument, error_code
from .schemas import DOC_SCHEMA, NOTES, NOTES_ROOM, ROOM, texts
from .waiting import wait_until
from .yjs_craft import RawItem, craft_update

__all__ = [
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
    "craft_update",
    "error_code",
    "run_process",
    "texts",
    "wait_until",
]
