#!/usr/bin/env python3
"""The AWS emulator of the local stack: moto's server, with DynamoDB and Cognito requests
serialized.

moto applies a TransactWriteItems (conditions checked, then writes made) without a lock, so
two transactions on moto's threaded server can both pass the same condition, which DynamoDB
never allows: two invoices would get one number. Running DynamoDB requests one at a time
restores the isolation the code relies on (security.md, Reliability). moto's Cognito walks its
pool's users for each lookup while another request may be adding one ("OrderedDict mutated
during iteration", a 500 the functions answer as 503): it was seen with 9,000 users and 4
signups at a time in the 10,000-account billing run. Cognito requests are taken one at a time
too, under a lock of their own; other services stay concurrent.

`GET /_softbrik/mail` lists the raw messages SES was asked to send (`[{destinations,
raw_data}]`): what the tests read, without moto's whole-state dump (`/moto-api/data.json`
serialises every backend, S3 objects included, and slows the emulator as they pile up).

It also counts the AWS requests it answers, by service and operation, for the benchmarks
(`make bench`): `GET /_softbrik/calls` reads the counts, `DELETE /_softbrik/calls` resets them.

`GET /_softbrik/events` lists the events the bus delivered to the local subscriber (a rule to
an SQS queue, devstack.py), oldest first, each in EventBridge's envelope: `events_url`.

`POST /_softbrik/faults` (`{"skip": k, "fail": n}`) makes the n AWS requests that follow the
next k fail with a 500 InternalFailure (n = 3 outlasts the SDK's retries, so the call fails);
with `"lost": true` they are carried out but their answer is lost (the connection drops in
the middle of it): what a timeout leaves, a change the caller cannot know landed.
With `"only": "<operation>"` (as the log names it, e.g. `PutEvents`) only the requests of that
operation are counted and failed: a test aims at one kind of call whatever the others do.
`GET /_softbrik/faults` says how many were seen and failed since, `DELETE` ends the plan. The
fault tests fail every call of an operation in turn this way (docs/reliability.md).

moto makes a copy of the whole table before each TransactWriteItems, to roll back a failed
one: the cost of a transaction grows with the table, and with DynamoDB requests taken one at a
time, late in a test run every request queued behind seconds of copying (a team test waited
over 5 minutes for its answer in CI). `transact_write_items` below checks every condition
first, writes only when all hold, and keeps a copy of the items it writes, to put them back if
a write fails: the same outcomes, at a cost that does not grow with the table.

moto also answers every Query by sorting every item of the table, then keeping the ones of the
partition asked for: a renewal's two queries cost more as the table grows (the billing run
renewed 4.5 accounts a second at 200 accounts and 1.3 at 1,000): on a table of 50,000 items,
about 0.4 s for either kind of query, holding the DynamoDB lock. `query` below hands moto's own
Query only the items of the partition asked for (on an index, found by one pass without
sorting): the same answers, pages and order, in 7-8 ms on the table's key and about 90 ms on an
index on the same table (docs/reliability.md).

`POST /_softbrik/sign-token` (`{"claims": {...}}` -> `{"token"}`) signs claims with the user
pool's own key, as Cognito signs ID tokens: the isolation tests make tokens that are validly
signed but expired, or for another audience, which Cognito never hands out on request.

IAM is enforced as AWS enforces it (infra/iam.py): once the local stack posts its principals
to `POST /_softbrik/iam` (each function's credentials and its policy from template.yaml, the
calls log's path, the Lambda endpoint), every request signed by a function is evaluated against
that function's policy, denied with AWS's AccessDenied answer when it is not allowed, and written
to the calls log. `GET /_softbrik/iam` reports the denied requests and the grants no allowed
request used. A Lambda Invoke signed by a function is evaluated here too, then passed on to the
functions' runtime (cargo-lambda), as Lambda's own endpoint would run it.

Usage: emulator.py HOST PORT
"""

import copy
import io
import json
import os
import signal
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import iam  # noqa: E402

REGION = os.environ.get("AWS_REGION", "eu-west-1")
ACCOUNT_ID = "123456789012"  # moto's account for every credential it does not know
# The queue of the local subscriber of the event bus (devstack.py creates it).
EVENTS_QUEUE = "softbrik-local-subscriber"


def transact_write_items(self, transact_items: list[dict]) -> None:
    """moto's DynamoDBBackend.transact_write_items (5.2.5), all or nothing without copying the
    table: conditions are checked before any write, and a write that fails puts back the items
    written before it."""
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    targets: set[tuple[str, str]] = set()
    planned = []  # (kind, op, table name, key, the item before)
    errors: list = []  # one (code, message, item) per action, as DynamoDB reports them
    for action in transact_items:
        if len(action) > 1:
            raise TransactWriteSingleOpException
        original_item = None
        try:
            kind, op = next(iter(action.items()))
            if kind not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            if kind == "Put":
                table = self.get_table(table_name)
                key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = op["Item"][table.range_key_attr]
            else:
                key = op["Key"]
            target = (str(table_name), str(dict(sorted(key.items()))))
            if target in targets:
                raise MultipleTransactionsException()
            targets.add(target)
            current = self.get_item(table_name, key)
            condition = op.get("ConditionExpression")
            if condition is not None:
                check = get_filter_expression(
                    condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
                )
                if not check.expr(current):
                    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)
            planned.append((kind, op, table_name, key, copy.deepcopy(current)))
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            raise
        except ConditionalCheckFailed as e:
            errors.append(("ConditionalCheckFailed", str(e.message), original_item))
        except Exception as e:  # noqa: BLE001 as moto: reported in the cancellation reasons
            errors.append((type(e).__name__, str(e), original_item))
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)

    written = []
    at = 0
    try:
        for at, (kind, op, table_name, key, before) in enumerate(planned):
            names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            if kind == "ConditionCheck":
                continue
            written.append((table_name, key, before))
            if kind == "Put":
                self.put_item(table_name, op["Item"], expression_attribute_names=names,
                              expression_attribute_values=values)
            elif kind == "Delete":
                self.delete_item(table_name, key, expression_attribute_names=names,
                                 expression_attribute_values=values)
            else:
                self.update_item(table_name, key, update_expression=op["UpdateExpression"],
                                 expression_attribute_names=names, expression_attribute_values=values)
    except Exception as e:
        for table_name, key, before in reversed(written):
            if before is None:
                self.delete_item(table_name, key)
            else:
                self.put_item(table_name, before.to_json()["Attributes"])
        if isinstance(e, (MultipleTransactionsException, MockValidationException)):
            raise
        raise TransactionCanceledException(
            [(type(e).__name__, str(e), None) if i == at else (None, None, None) for i in range(len(planned))]
        ) from e


MOTO_QUERY = None  # moto's own Table.query, kept by `install`


class QueueAttributes(Mapping):
    """A queue's attributes as moto's `Queue.attributes` (5.2.5) gives them, each worked out
    when it is read. moto works them all out for every message sent (to read one,
    ContentBasedDeduplication), and the three approximate counts pass over every message of the
    queue, so a send took longer the longer the queue: a bench's 20,000 accounts waiting, or
    the local subscriber's queue, which keeps every event told. SQS's cost of a send does not
    grow with the queue."""

    def __init__(self, queue):
        self.queue = queue

    def names(self) -> list[str]:
        q = self.queue
        names = list(q.BASE_ATTRIBUTES)
        if q.fifo_queue:
            names += q.FIFO_ATTRIBUTES
        if q.kms_master_key_id:
            names += q.KMS_ATTRIBUTES
        return names

    def __iter__(self):
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __getitem__(self, name: str):
        from moto.core.utils import camelcase_to_underscores

        if name not in self.names():
            raise KeyError(name)
        q = self.queue
        if name == "Policy" and q.policy:
            return q.policy
        if name == "RedrivePolicy" and q.redrive_policy:
            return json.dumps(q.redrive_policy)
        value = getattr(q, camelcase_to_underscores(name))
        return str(value).lower() if isinstance(value, bool) else value


def query(self, hash_key, *args, **kwargs):
    """moto's Table.query (5.2.5), reading only the items the query's partition can hold: moto's
    own code runs unchanged, with `all_items` answering those items instead of the table's,
    unsorted (moto sorts what it keeps). On the table's key, the partition's items; on an index,
    the items whose index partition attributes equal the query's."""
    index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
    if index_name:
        conditions = kwargs.get("hash_key_conditions")
        if not conditions:
            return MOTO_QUERY(self, hash_key, *args, **kwargs)
        # Strings compare as stored (no number parsing): what DynamoType's == does for them.
        wanted = [
            (name, value.type, value.value if value.type == "S" else value) for name, value in conditions
        ]

        def matches(item) -> bool:
            for name, kind, value in wanted:
                attr = item.attrs.get(name)
                if attr is None or attr.type != kind or (attr.value if kind == "S" else attr) != value:
                    return False
            return True

        items = [
            item
            for partition in self.items.values()
            for item in (partition.values() if self.range_key_attr else [partition])
            if matches(item)
        ]
    elif hash_key is not None and self.range_key_attr:
        items = list((self.items.get(hash_key) or {}).values())
    else:
        return MOTO_QUERY(self, hash_key, *args, **kwargs)
    # An instance attribute over the method, for this call only: DynamoDB requests are taken
    # one at a time (`main`), so no other request sees it.
    self.all_items = lambda: items
    try:
        return MOTO_QUERY(self, hash_key, *args, **kwargs)
    finally:
        del self.all_items


def install() -> None:
    """Puts the emulator's transactions, queries and queue attributes in place of moto's."""
    global MOTO_QUERY
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table
    from moto.sqs.models import Queue

    DynamoDBBackend.transact_write_items = transact_write_items
    Queue.attributes = property(QueueAttributes)
    if Table.query is not query:  # installed once per process
        MOTO_QUERY = Table.query
        Table.query = query


def build_app():
    """The emulator's WSGI application: moto behind the locks, counts, faults and IAM above."""
    install()
    moto = DomainDispatcherApplication(create_backend_app)
    locks = {"DynamoDB_": threading.Lock(), "AWSCognitoIdentityProviderService.": threading.Lock()}

    def serialized(environ):
        """The lock a request waits for: its service's, if its service takes one at a time."""
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        return next((lock for prefix, lock in locks.items() if target.startswith(prefix)), None)

    counted = threading.Lock()
    calls: dict[str, int] = {}

    def operation(environ) -> str:
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:  # JSON protocols: DynamoDB_20120810.GetItem, TrentService.Decrypt...
            return target
        # REST protocols (SES v2, Lambda, S3): the service signed for, the method, the route's
        # first segments (ids left out).
        auth = environ.get("HTTP_AUTHORIZATION", "")
        service = auth.split("/")[3] if auth.count("/") >= 4 else "unsigned"
        parts = [p for p in environ.get("PATH_INFO", "").split("/") if p][:3]
        return f"{service} {environ.get('REQUEST_METHOD')} /{'/'.join(parts[:2])}"

    faults = {"skip": -1, "fail": 0, "lost": False, "kill": False, "only": None, "seen": 0, "failed": 0, "log": [], "killed": []}

    def kill_caller(environ) -> int | None:
        """Kills the process at the other end of the request's connection (SIGKILL), as Lambda
        ends an invocation that runs out of time or memory: nothing after this request runs.
        Linux only: the connection's socket is found in /proc/net/tcp, then its owner."""
        port = int(environ.get("REMOTE_PORT") or 0)
        inodes = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                lines = open(table).read().splitlines()[1:]
            except OSError:
                continue
            for line in lines:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{fields[9]}]")
        for pid in filter(str.isdigit, os.listdir("/proc")):
            if int(pid) == os.getpid():
                continue
            try:
                fds = os.listdir(f"/proc/{pid}/fd")
                if any(os.readlink(f"/proc/{pid}/fd/{fd}") in inodes for fd in fds):
                    os.kill(int(pid), signal.SIGKILL)
                    return int(pid)
            except OSError:
                continue
        return None

    def fault(environ, start_response):
        """The injected failure, in the protocol of the service called."""
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:
            body = json.dumps({"__type": "InternalFailure", "message": "injected fault"}).encode()
            headers = [("Content-Type", "application/x-amz-json-1.1")]
        else:
            body = (
                b"<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code>"
                b"<Message>injected fault</Message></Error><RequestId>fault</RequestId></ErrorResponse>"
            )
            headers = [("Content-Type", "text/xml"), ("x-amzn-ErrorType", "InternalFailure")]
        start_response("500 Internal Server Error", headers)
        return [body]

    def carried_out_answer_lost(environ, start_response):
        """Carries the request out, then drops the connection in the middle of its answer."""
        ignore = lambda *_args, **_kwargs: None  # noqa: E731
        lock = serialized(environ)
        if lock:
            with lock:
                list(moto(environ, ignore))
        else:
            list(moto(environ, ignore))
        start_response("200 OK", [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", "4096")])

        def cut():
            yield b"{"
            raise ConnectionAbortedError("injected fault: the answer is lost")

        return cut()

    enforcer = iam.Enforcer(iam.Account(REGION, ACCOUNT_ID))

    def enforced(environ, start_response):
        """None if the request may go on to moto, else the answer it gets: AccessDenied, or a
        Lambda Invoke passed on to the functions' runtime."""
        key, service = enforcer.access_key(environ)
        body = None
        if key is not None and enforcer.reads_body(environ, service):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)
        allowed, message, _ = enforcer.check(environ, body)
        if not allowed:
            status, headers, payload = iam.denial(environ, service, message)
            start_response(status, headers)
            return [payload]
        if service == "lambda" and iam.lambda_function(environ.get("PATH_INFO", "")) and enforcer.lambda_endpoint:
            return invoke(environ, body or b"", start_response)
        return None

    def invoke(environ, body: bytes, start_response):
        url = enforcer.lambda_endpoint + environ["PATH_INFO"]
        if environ.get("QUERY_STRING"):
            url += "?" + environ["QUERY_STRING"]
        headers = {
            k[5:].replace("_", "-").title(): v
            for k, v in environ.items()
            if k.startswith("HTTP_X_AMZ_") and k != "HTTP_X_AMZ_DATE"
        }
        headers["Content-Type"] = environ.get("CONTENT_TYPE") or "application/json"
        request = urllib.request.Request(url, data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=900) as resp:
                status, answer, payload = resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as err:
            status, answer, payload = err.code, err.headers, err.read()
        passed = [(k, v) for k, v in answer.items() if k.lower() not in ("transfer-encoding", "connection", "content-length")]
        start_response(f"{status} {'OK' if status < 400 else 'Error'}", passed)
        return [payload]

    def app(environ, start_response):
        if environ.get("PATH_INFO") == "/_softbrik/iam":
            if environ.get("REQUEST_METHOD") == "POST":
                length = int(environ.get("CONTENT_LENGTH") or 0)
                enforcer.configure(json.loads(environ["wsgi.input"].read(length)))
            body = json.dumps(enforcer.report()).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        if not environ.get("PATH_INFO", "").startswith(("/moto-api", "/_softbrik")):
            answer = enforced(environ, start_response)
            if answer is not None:
                return answer
        if environ.get("PATH_INFO") == "/_softbrik/calls":
            with counted:
                if environ.get("REQUEST_METHOD") == "DELETE":
                    calls.clear()
                body = json.dumps(calls, sort_keys=True).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        if environ.get("PATH_INFO") == "/_softbrik/mail":
            from moto.ses.models import RawMessage, ses_backends

            sent = []
            for account in list(ses_backends.keys()):
                for region in list(ses_backends[account].keys()):
                    for m in list(ses_backends[account][region].sent_messages):
                        if isinstance(m, RawMessage):
                            sent.append({"destinations": m.destinations, "raw_data": m.raw_data})
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps(sent).encode()]
        if environ.get("PATH_INFO") == "/_softbrik/events":
            # What the local subscriber received (the bus's rule to this SQS queue), oldest
            # first, each in EventBridge's envelope; read without consuming it.
            from moto.sqs.models import sqs_backends

            queue = sqs_backends[ACCOUNT_ID][REGION].queues.get(EVENTS_QUEUE)
            delivered = [json.loads(m.body) for m in list(queue._messages)] if queue else []
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps(delivered).encode()]
        if environ.get("PATH_INFO") == "/_softbrik/faults":
            method = environ.get("REQUEST_METHOD")
            with counted:
                if method == "POST":
                    length = int(environ.get("CONTENT_LENGTH") or 0)
                    plan = json.loads(environ["wsgi.input"].read(length))
                    faults.update(
                        skip=int(plan["skip"]),
                        fail=int(plan["fail"]),
                        lost=bool(plan.get("lost", False)),
                        kill=bool(plan.get("kill", False)),
                        only=plan.get("only"),
                        seen=0,
                        failed=0,
                        log=[],
                        killed=[],
                    )
                elif method == "DELETE":
                    faults.update(skip=-1, fail=0, lost=False, kill=False, only=None)
                body = json.dumps({k: faults[k] for k in ("seen", "failed", "log", "killed")}).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        if environ.get("PATH_INFO") == "/_softbrik/sign-token":
            from joserfc import jwk, jwt
            from moto.utilities.utils import load_resource

            length = int(environ.get("CONTENT_LENGTH") or 0)
            claims = json.loads(environ["wsgi.input"].read(length))["claims"]
            key = jwk.RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))
            token = jwt.encode({"kid": "dummy", "alg": "RS256"}, claims, key)
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps({"token": token}).encode()]
        if not environ.get("PATH_INFO", "").startswith(("/moto-api", "/_softbrik")):
            name = operation(environ)
            # Lambda's own polling of a queue: counted apart, never made to fail (the fault plan
            # is of the functions' requests).
            key = enforcer.access_key(environ)[0]
            service = key in enforcer.services
            if service:
                name = f"event-source-mapping {name}"
            # The harness's own requests (tests, benches, the dev stack) are counted apart too,
            # so that a count per operation is the functions' (and AWS's own).
            harness = key in enforcer.operators and not service
            with counted:
                counted_as = f"harness {name}" if harness else name
                calls[counted_as] = calls.get(counted_as, 0) + 1
                failing = False
                if faults["skip"] >= 0 and not service and faults.get("only") in (None, name):
                    faults["seen"] += 1
                    faults["log"].append(name)
                    failing = faults["skip"] < faults["seen"] <= faults["skip"] + faults["fail"]
                    faults["failed"] += int(failing)
                lost, kill = faults["lost"], faults["kill"]
            if failing and kill:
                pid = kill_caller(environ)
                with counted:
                    faults["killed"].append(pid)
                return fault(environ, start_response)
            if failing and lost:
                return carried_out_answer_lost(environ, start_response)
            if failing:
                return fault(environ, start_response)
        lock = serialized(environ)
        if lock:
            with lock:
                # The whole answer is produced under the lock, not only its first bytes.
                return list(moto(environ, start_response))
        return moto(environ, start_response)

    return app


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    run_simple(host, port, build_app(), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
