#!/usr/bin/env python3
"""The payment partner of the local stack: localstripe, with the parts of Stripe's API it lacks
and the Stripe adapter (shared/src/stripe.rs) relies on.

localstripe (PyPI) keeps Stripe objects in memory and answers Stripe's REST API; it knows the
test cards by number (4000000000000002 is declined when attached, 4000000000000341 attaches
and every charge on it fails) and the ids pm_card_visa, pm_card_visa_chargeDeclined and
pm_card_chargeCustomerFail. What it lacks, added here as Stripe documents it:
- `Idempotency-Key` on POST: the first answer is replayed for the same key and body; the same
  key with another body is refused (400, idempotency_error);
- `description` on PaymentIntents (localstripe refuses the parameter);
- `GET /v1/payment_intents/search` for the one query the adapter makes,
  `metadata['KEY']:'VALUE'`.
It also keeps nothing on disk (localstripe writes every change to /tmp/localstripe.pickle,
which two stacks on one machine would share).

Usage: stripe_emulator.py HOST PORT
"""

import re
import signal
import sys

from aiohttp import web
from localstripe import resources
from localstripe.errors import UserError
from localstripe.server import app, json_response

SEARCH = re.compile(r"^metadata\['([^']+)'\]:'((?:[^'\\]|\\.)*)'$")
# (API key, Idempotency-Key) -> ((path, body), status, answer) of the first request.
replays: dict = {}


@web.middleware
async def idempotency(request: web.Request, handler):
    key = request.headers.get("Idempotency-Key")
    if request.method != "POST" or not key:
        return await handler(request)
    scope = (request.headers.get("Authorization", ""), key)
    body = (request.path, await request.read())
    if scope in replays:
        first_body, status, payload = replays[scope]
        if first_body != body:
            return json_response(
                {"error": {"type": "idempotency_error", "message": "Keys for idempotent requests can only be used with the same parameters they were first used with."}},
                status=400,
            )
        return web.Response(status=status, body=payload, content_type="application/json", headers={"Idempotent-Replayed": "true"})
    try:
        response = await handler(request)
    except UserError as refused:  # a decline is an answer too, replayed like any other
        response = refused.to_response()
    replays[scope] = (body, response.status, response.body)
    return response


@web.middleware
async def payment_intent_search(request: web.Request, handler):
    # Routed as GET /v1/payment_intents/{id} by localstripe, so answered before its handler.
    if request.method != "GET" or request.path != "/v1/payment_intents/search":
        return await handler(request)
    match = SEARCH.match(request.query.get("query", ""))
    if not match:
        return json_response({"error": {"type": "invalid_request_error", "message": "unsupported query"}}, status=400)
    name, value = match.group(1), re.sub(r"\\(.)", r"\1", match.group(2))
    found = [
        obj._export()
        for key, obj in resources.store.items()
        if key.startswith("payment_intent:") and (obj.metadata or {}).get(name) == value
    ]
    return json_response({"object": "search_result", "url": request.path, "data": found, "has_more": False, "next_page": None})


def accept_description() -> None:
    init = resources.PaymentIntent.__init__

    def with_description(self, description=None, **kwargs):
        init(self, **kwargs)
        self.description = description

    resources.PaymentIntent.__init__ = with_description


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    resources.store.dump_to_disk = lambda: None
    accept_description()
    app.middlewares.extend([payment_intent_search, idempotency])
    web.run_app(app, host=host, port=port, print=None)


if __name__ == "__main__":
    main()
