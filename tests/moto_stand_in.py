"""moto's server, with DynamoDB's transactions isolated as on AWS.

`moto_server` answers requests on many threads, and its TransactWriteItems is not
isolated: a transaction whose condition fails restores a copy of the tables taken
before it started, undoing what another request committed meanwhile. DynamoDB runs
each request in isolation, so this stand-in serves DynamoDB requests one at a time
(everything else, such as SQS long polls, stays concurrent). Run as
``python moto_stand_in.py PORT``.
"""

from __future__ import annotations

import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


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
