"""moto's server, with DynamoDB's transactions isolated as on AWS.

`moto_server` answers requests on many threads, and its TransactWriteItems is not
isolated: a transaction whose condition fails restores a copy of the tables taken
before it started, undoing what another request committed meanwhile. DynamoDB runs
each request in isolation, so this stand-in serves DynamoDB requests one at a time
(everything else, such as SQS long polls, stays concurrent).

moto also takes that copy of every table a transaction names (``copy.deepcopy``) before
each TransactWriteItems, which makes a transaction cost O(the tables' items): importing
617 photos (a few transactions each) spent most of its time copying the album, a
growth DynamoDB does not have. Here a transaction keeps a copy of the items it names
only, and puts them back if it fails (requests being one at a time, nothing else
changed them meanwhile). Run as ``python moto_stand_in.py PORT``.
"""

from __future__ import annotations

import copy
import sys
import threading
from typing import Any

from moto.dynamodb import models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


class _CopiesNoTable:
    """``copy`` for moto's DynamoDB models: a Table is not copied (see the docstring)."""

    @staticmethod
    def deepcopy(x: Any, memo: Any = None) -> Any:
        return x if isinstance(x, Table) else copy.deepcopy(x, memo)


_transact = DynamoDBBackend.transact_write_items


def _keys(backend: DynamoDBBackend, transact_items: list[dict]) -> list[tuple[str, dict]]:
    """(table, key) of each item a transaction names."""
    found = []
    for entry in transact_items:
        for kind, op in entry.items():
            try:
                table = backend.get_table(op["TableName"])
            except Exception:  # noqa: BLE001 - moto's own call reports it
                continue
            if kind == "Put":
                keys = [table.hash_key_attr, table.range_key_attr]
                found.append((table.name, {k: op["Item"][k] for k in keys if k}))
            else:
                found.append((table.name, op["Key"]))
    return found


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict]) -> None:
    before = []
    for table, key in _keys(self, transact_items):
        try:
            before.append((table, key, copy.deepcopy(self.get_item(table, key))))
        except Exception:  # noqa: BLE001 - a malformed key: moto's own call reports it
            continue
    try:
        _transact(self, transact_items)
    except Exception:
        for table, key, item in reversed(before):
            if item is None:
                if self.get_item(table, key) is not None:
                    self.delete_item(table, key)
            else:
                self.put_item(table, item.to_json()["Attributes"])
        raise


models.copy = _CopiesNoTable  # type: ignore[assignment]
DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def main(port: int) -> None:
    app = DomainDispatcherApplication(create_backend_app)
    one_at_a_time = threading.Lock()

    def serve(environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with one_at_a_time:
                return list(app(environ, start_response))
        return app(environ, start_response)

    run_simple("127.0.0.1", port, serve, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main(int(sys.argv[1]))
