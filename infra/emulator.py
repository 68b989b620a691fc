#!/usr/bin/env python3
"""The AWS emulator of the local stack: moto's server, with DynamoDB requests serialized.

moto applies a TransactWriteItems (conditions checked, then writes made) without a lock, so
two transactions on moto's threaded server can both pass the same condition, which DynamoDB
never allows: two invoices would get one number. Running DynamoDB requests one at a time
restores the isolation the code relies on (security.md, Reliability); other services stay
concurrent.

Usage: emulator.py HOST PORT
"""

import os
import signal
import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    moto = DomainDispatcherApplication(create_backend_app)
    dynamodb = threading.Lock()

    def app(environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with dynamodb:
                # The whole answer is produced under the lock, not only its first bytes.
                return list(moto(environ, start_response))
        return moto(environ, start_response)

    run_simple(host, port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
