"""IAM on the local stack, evaluated as AWS evaluates it (local-stack.md "IAM, as AWS enforces it").

Each function of template.yaml signs its AWS requests with credentials of its own (devstack.py
hands them to it, as Lambda hands a function its role's); the emulator finds the function from
the request's SigV4 credential, works out the IAM actions the request needs and the resources
they act on, and answers only if that function's policy allows every one of them:

- DynamoDB: the operation's action on the table, or on the index a Query or Scan reads
  (`table/T/index/I`); a `TransactWriteItems` needs, item by item, the action the item performs
  (Put: `PutItem`, Update: `UpdateItem`, Delete: `DeleteItem`, ConditionCheck:
  `ConditionCheckItem`), and a `TransactGetItems` `GetItem` for each item: neither is an IAM
  action of its own (AWS's "Using IAM with DynamoDB transactions").
- KMS: the operation on the key (an alias or a key id resolved to the key's ARN, or the key a
  ciphertext names), with the encryption context as `kms:EncryptionContext:<name>`.
- SES v2 `SendEmail`: `ses:SendEmail` on the identity the From address is sent under (the
  address's own identity if verified, else its domain's).
- S3: `GetObject`, `PutObject`, `DeleteObject` on `bucket/key` (a batch delete: each key),
  `ListBucket` on the bucket with `s3:prefix`; presigned URLs are the signer's requests.
- SSM `GetParameter`, Cognito's admin operations on the user pool, `lambda:InvokeFunction` on the
  function, EventBridge `PutEvents` on each entry's bus.

A request no rule above knows is denied: an unknown action cannot be checked, so it is not let
through. The evaluation: an explicit Deny wins, then any Allow, else the implicit deny; Action,
NotAction, Resource, NotResource with `*` and `?`, and the condition operators of the String,
Arn, Bool, Null and Numeric families (with `IfExists`, `ForAnyValue:` and `ForAllValues:`).
Requests signed with the operator's credentials (the tests, the provisioning) are the account's
administrator's and are not evaluated. Resource policies (the key policy, the bucket policy) are
not evaluated: the key policy delegates to IAM, and the bucket policy's only Deny is for plain
HTTP, which AWS requests of the functions never are.

Every evaluation is a line of the calls log: `{"function", "request", "action", "resource",
"allowed"}`. `report()` says which requests were denied and which grants no allowed request used.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import urllib.parse
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from email import message_from_bytes
from email.utils import parseaddr

TRANSACT_WRITE_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}

JSON_SERVICES = {
    "DynamoDB_20120810.": "dynamodb",
    "TrentService.": "kms",
    "AmazonSSM.": "ssm",
    "AWSCognitoIdentityProviderService.": "cognito-idp",
    "AWSEvents.": "events",
    "AmazonSQS.": "sqs",
}

# SQS operations authorised by another action: a batch is allowed by its single action.
SQS_ACTIONS = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}


class Unmapped(Exception):
    """A request whose IAM actions the local stack does not know: denied, never let through."""


@dataclass(frozen=True)
class Need:
    """One IAM action a request needs, on one resource, with the request's condition keys."""

    action: str
    resource: str
    context: dict = field(default_factory=dict, hash=False, compare=False)


# --- Matching -------------------------------------------------------------------------------------


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


_PATTERNS: dict[tuple[str, bool], re.Pattern] = {}


def wildcard(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """IAM's wildcard match: `*` any run of characters, `?` one character, the rest literal."""
    compiled = _PATTERNS.get((pattern, ignore_case))
    if compiled is None:
        body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
        compiled = re.compile(f"^{body}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)
        _PATTERNS[(pattern, ignore_case)] = compiled
    return compiled.match(value) is not None


def _compare(base: str, actual: str, expected: str) -> bool:
    if base in ("StringEquals", "ArnEquals"):
        return actual == expected
    if base == "StringEqualsIgnoreCase":
        return actual.lower() == expected.lower()
    if base in ("StringLike", "ArnLike"):
        return wildcard(expected, actual)
    if base == "Bool":
        return actual.lower() == expected.lower()
    if base.startswith("Numeric"):
        a, e = float(actual), float(expected)
        return {
            "NumericEquals": a == e,
            "NumericLessThan": a < e,
            "NumericLessThanEquals": a <= e,
            "NumericGreaterThan": a > e,
            "NumericGreaterThanEquals": a >= e,
        }[base]
    raise ValueError(f"condition operator {base} is not supported locally")


NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NumericNotEquals": "NumericEquals",
}
OPERATORS = set(NEGATED) | set(NEGATED.values()) | {
    "Bool", "Null", "NumericLessThan", "NumericLessThanEquals", "NumericGreaterThan",
    "NumericGreaterThanEquals",
}


def check_operator(operator: str) -> None:
    """Refuses, when policies are loaded, an operator the evaluation below does not know."""
    base = operator.split(":", 1)[-1].removesuffix("IfExists")
    if base not in OPERATORS:
        raise ValueError(f"condition operator {operator} is not supported locally")


def condition_holds(operator: str, key: str, expected, context: dict) -> bool:
    """One key of one condition operator, as IAM's policy evaluation logic defines it."""
    quantifier, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    expected = [str(v).lower() if isinstance(v, bool) else str(v) for v in _as_list(expected)]
    present = key in context and context[key] is not None
    if base == "Null":
        return (not present) == (expected[0].lower() == "true")
    if not present:
        # A missing key matches nothing: the condition fails, except with IfExists, and a
        # negated operator then holds (AWS: "...NotEquals ... returns true if the key is absent").
        return if_exists or base in NEGATED
    negated = base in NEGATED
    positive = NEGATED.get(base, base)
    values = [str(v).lower() if isinstance(v, bool) else str(v) for v in _as_list(context[key])]

    def one(actual: str) -> bool:
        return any(_compare(positive, actual, e) for e in expected)

    if quantifier == "ForAllValues":
        held = all(one(v) for v in values)
    else:  # ForAnyValue, or a single-valued key
        held = any(one(v) for v in values)
    return not held if negated else held


def statement_matches(statement: dict, need: Need) -> list[tuple[str, str]]:
    """The (action, resource) grants of `statement` that cover `need`; empty if it does not
    apply to it (conditions included)."""
    if "NotAction" in statement:
        if any(wildcard(p, need.action, ignore_case=True) for p in _as_list(statement["NotAction"])):
            return []
        actions = ["NotAction"]
    else:
        actions = [p for p in _as_list(statement.get("Action")) if wildcard(p, need.action, ignore_case=True)]
    if not actions:
        return []
    if "NotResource" in statement:
        if any(wildcard(p, need.resource) for p in _as_list(statement["NotResource"])):
            return []
        resources = ["NotResource"]
    else:
        resources = [p for p in _as_list(statement.get("Resource")) if wildcard(p, need.resource)]
    if not resources:
        return []
    for operator, tests in (statement.get("Condition") or {}).items():
        for key, expected in tests.items():
            if not condition_holds(operator, key, expected, need.context):
                return []
    return [(a, r) for a in actions for r in resources]


def grants(statements: list[dict]) -> list[tuple[int, str, str]]:
    """Every (statement, action, resource) an Allow of the policy grants."""
    out = []
    for i, st in enumerate(statements):
        if st.get("Effect") != "Allow":
            continue
        actions = ["NotAction"] if "NotAction" in st else _as_list(st.get("Action"))
        resources = ["NotResource"] if "NotResource" in st else _as_list(st.get("Resource"))
        out += [(i, a, r) for a in actions for r in resources]
    return out


def evaluate(statements: list[dict], need: Need) -> tuple[bool, list[tuple[int, str, str]]]:
    """(allowed, the Allow grants that covered it): an explicit Deny wins, then any Allow."""
    used = []
    for i, st in enumerate(statements):
        matched = statement_matches(st, need)
        if matched and st.get("Effect") == "Deny":
            return False, []
        if matched:
            used += [(i, a, r) for a, r in matched]
    return bool(used), used


# --- What a request needs -------------------------------------------------------------------------


class Account:
    """The local stack's account and region, and how a request names its resources."""

    def __init__(self, region: str, account: str):
        self.region = region
        self.account = account

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account}:{resource}"

    def kms_key_arn(self, key_id: str | None, blob: str | None) -> str:
        """The ARN of the key an id, an ARN, an alias or a ciphertext names."""
        from moto.kms.models import kms_backends

        backend = kms_backends[self.account][self.region]
        if not key_id and blob:
            # moto's ciphertext starts with the id of the key that made it (moto/kms/utils.py).
            key_id = base64.b64decode(blob)[:36].decode("utf-8", "replace")
        if not key_id:
            raise Unmapped("a KMS request naming no key")
        try:
            return backend.describe_key(backend.any_id_to_key_id(key_id)).arn
        except Exception:  # noqa: BLE001 an unknown key: named as given, KMS answers NotFound
            return key_id if key_id.startswith("arn:") else self.arn("kms", f"key/{key_id}")

    def ses_identity_arn(self, address: str) -> str:
        from moto.ses.models import ses_backends

        identities = ses_backends[self.account][self.region].email_identities
        address = address.strip().lower()
        identity = address if address in identities else address.rpartition("@")[2]
        return self.arn("ses", f"identity/{identity}")


def json_needs(account: Account, target: str, body: dict) -> list[Need]:
    prefix, _, op = target.partition(".")
    service = JSON_SERVICES.get(prefix + ".")
    if service == "dynamodb":
        return dynamodb_needs(account, op, body)
    if service == "kms":
        context = {f"kms:EncryptionContext:{k}": v for k, v in (body.get("EncryptionContext") or {}).items()}
        context["kms:EncryptionContextKeys"] = list((body.get("EncryptionContext") or {}).keys())
        context["kms:CallerAccount"] = account.account
        key = account.kms_key_arn(body.get("KeyId"), body.get("CiphertextBlob"))
        return [Need(f"kms:{op}", key, context)]
    if service == "ssm":
        names = _as_list(body.get("Name")) or _as_list(body.get("Names"))
        if not names:
            raise Unmapped(f"ssm:{op} without a parameter name")
        return [
            Need(f"ssm:{op}", n if n.startswith("arn:") else account.arn("ssm", "parameter/" + n.lstrip("/")))
            for n in names
        ]
    if service == "cognito-idp":
        pool = body.get("UserPoolId")
        if not pool:
            raise Unmapped(f"cognito-idp:{op} without a user pool")
        return [Need(f"cognito-idp:{op}", account.arn("cognito-idp", f"userpool/{pool}"))]
    if service == "events" and op == "PutEvents":
        needs = []
        for entry in body.get("Entries") or []:
            bus = entry.get("EventBusName") or "default"
            arn = bus if bus.startswith("arn:") else account.arn("events", f"event-bus/{bus}")
            context = {"events:source": entry.get("Source"), "events:detail-type": entry.get("DetailType")}
            needs.append(Need("events:PutEvents", arn, context))
        return needs
    if service == "sqs":
        url = body.get("QueueUrl")
        if not url:
            raise Unmapped(f"sqs:{op} without a queue")
        # https://sqs.<region>.amazonaws.com/<account>/<name>, or the emulator's own host.
        parts = urllib.parse.urlparse(url).path.strip("/").split("/")
        if len(parts) != 2:
            raise Unmapped(f"sqs:{op} on {url}")
        queue = f"arn:aws:sqs:{account.region}:{parts[0]}:{parts[1]}"
        return [Need(f"sqs:{SQS_ACTIONS.get(op, op)}", queue)]
    raise Unmapped(f"{target}")


def _table_arn(account: Account, table: str) -> str:
    return table if table.startswith("arn:") else account.arn("dynamodb", f"table/{table}")


def dynamodb_needs(account: Account, op: str, body: dict) -> list[Need]:
    if op == "TransactWriteItems":
        needs = []
        for item in body.get("TransactItems") or []:
            (kind, spec), = item.items()
            needs.append(Need(f"dynamodb:{TRANSACT_WRITE_ACTIONS[kind]}", _table_arn(account, spec["TableName"])))
        return needs
    if op == "TransactGetItems":
        return [Need("dynamodb:GetItem", _table_arn(account, i["Get"]["TableName"])) for i in body.get("TransactItems") or []]
    if op in ("BatchWriteItem", "BatchGetItem"):
        return [Need(f"dynamodb:{op}", _table_arn(account, t)) for t in (body.get("RequestItems") or {})]
    table = body.get("TableName")
    if not table:
        raise Unmapped(f"dynamodb:{op} without a table")
    arn = _table_arn(account, table)
    if op in ("Query", "Scan") and body.get("IndexName"):
        arn = f"{arn}/index/{body['IndexName']}"
    return [Need(f"dynamodb:{op}", arn)]


def s3_needs(method: str, path: str, query: dict, body: bytes | None, headers: dict) -> list[Need]:
    bucket, _, key = path.lstrip("/").partition("/")
    key = urllib.parse.unquote(key)
    if not bucket:
        raise Unmapped(f"s3 {method} /")
    bucket_arn = f"arn:aws:s3:::{bucket}"
    if key:
        if method in ("GET", "HEAD"):
            return [Need("s3:GetObject", f"{bucket_arn}/{key}")]
        if method == "PUT":
            needs = [Need("s3:PutObject", f"{bucket_arn}/{key}")]
            source = headers.get("HTTP_X_AMZ_COPY_SOURCE")
            if source:
                needs.append(Need("s3:GetObject", "arn:aws:s3:::" + urllib.parse.unquote(source).lstrip("/")))
            return needs
        if method == "DELETE":
            return [Need("s3:DeleteObject", f"{bucket_arn}/{key}")]
        raise Unmapped(f"s3 {method} on an object")
    if method == "POST" and "delete" in query:
        keys = [el.text or "" for el in ET.fromstring(body or b"<Delete/>").iter() if el.tag.endswith("Key")]
        return [Need("s3:DeleteObject", f"{bucket_arn}/{k}") for k in keys]
    if method in ("GET", "HEAD") and not (set(query) - {"list-type", "prefix", "continuation-token", "max-keys", "delimiter", "start-after", "encoding-type", "fetch-owner", "marker"}):
        context = {"s3:prefix": query["prefix"][0]} if "prefix" in query else {}
        return [Need("s3:ListBucket", bucket_arn, context)]
    raise Unmapped(f"s3 {method} on a bucket with {sorted(query)}")


def sesv2_needs(account: Account, method: str, path: str, body: dict) -> list[Need]:
    if method == "POST" and path == "/v2/email/outbound-emails":
        sender = body.get("FromEmailAddress")
        if not sender:
            raw = (((body.get("Content") or {}).get("Raw") or {}).get("Data")) or ""
            sender = message_from_bytes(base64.b64decode(raw)).get("From", "")
        address = parseaddr(sender)[1]
        if "@" not in address:
            raise Unmapped("ses:SendEmail without a From address")
        needs = [Need("ses:SendEmail", account.ses_identity_arn(address))]
        if body.get("ConfigurationSetName"):
            needs.append(Need("ses:SendEmail", account.arn("ses", f"configuration-set/{body['ConfigurationSetName']}")))
        return needs
    raise Unmapped(f"ses {method} {path}")


def lambda_function(path: str) -> str | None:
    """The function a Lambda Invoke names (`/2015-03-31/functions/{name}/invocations`)."""
    m = re.fullmatch(r"/2015-03-31/functions/([^/]+)/invocations", path)
    return urllib.parse.unquote(m.group(1)) if m else None


# --- The enforcement ------------------------------------------------------------------------------


class Enforcer:
    """The principals of the local stack, their policies, and the calls log."""

    def __init__(self, account: Account):
        self.account = account
        self.lock = threading.Lock()
        self.principals: dict[str, dict] = {}  # access key id -> {"function", "statements"}
        self.operators: set[str] = set()
        # Operators standing for an AWS service's own requests (Lambda's event source mapping
        # polling a queue): not a function's requests, so neither counted nor failed as one.
        self.services: set[str] = set()
        self.log_path: str | None = None
        self.lambda_endpoint: str | None = None
        self.requests = 0
        self.denials: list[dict] = []
        self.used: set[tuple[str, int, str, str]] = set()
        self.enabled = False
        self.enforce = True
        # Groups of functions one of which uses a grant, whichever comes first (a platform key
        # made on first use): the grant is used for all of them once one used it.
        self.first_use: list[dict] = []

    def configure(self, config: dict) -> None:
        for p in config["principals"].values():
            for st in p["statements"]:
                for operator in (st.get("Condition") or {}):
                    check_operator(operator)
        with self.lock:
            self.principals = config["principals"]
            self.services = set(config.get("services", []))
            self.operators = set(config.get("operators", [])) | self.services
            self.log_path = config.get("log")
            self.lambda_endpoint = config.get("lambda_endpoint")
            # Audit only: every evaluation is logged and reported, nothing is refused (what a
            # change needs, found in one run; SOFTBRIK_IAM=audit on the local stack).
            self.enforce = config.get("enforce", True)
            self.first_use = config.get("first_use", [])
            self.enabled = True
            # What is reported is of these policies: a new configuration starts it again.
            self.denials = []
            self.used = set()

    @staticmethod
    def access_key(environ) -> tuple[str | None, str | None]:
        """The access key id and the service a request was signed for (header or presigned)."""
        auth = environ.get("HTTP_AUTHORIZATION", "")
        m = re.search(r"Credential=([^/,\s]+)/[^/]+/[^/]+/([^/]+)/", auth)
        if m:
            return m.group(1), m.group(2)
        cred = urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).get("X-Amz-Credential")
        if cred:
            parts = cred[0].split("/")
            return parts[0], parts[3] if len(parts) > 3 else None
        return None, None

    def needs(self, environ, service: str | None, body: bytes | None) -> list[Need]:
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:
            return json_needs(self.account, target, json.loads(body or b"{}"))
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "")
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        if service == "s3":
            return s3_needs(method, path, query, body, environ)
        if service == "ses":
            return sesv2_needs(self.account, method, path, json.loads(body or b"{}"))
        if service == "lambda" and lambda_function(path):
            name = lambda_function(path)
            arn = name if name.startswith("arn:") else self.account.arn("lambda", f"function:{name}")
            return [Need("lambda:InvokeFunction", arn)]
        raise Unmapped(f"{service} {method} {path}")

    def reads_body(self, environ, service: str | None) -> bool:
        if environ.get("HTTP_X_AMZ_TARGET") or service in ("ses", "lambda"):
            return True
        return service == "s3" and environ.get("REQUEST_METHOD") == "POST"

    def check(self, environ, body: bytes | None) -> tuple[bool, str, str | None]:
        """(allowed, message, function): whether the request may go on to the emulator."""
        key, service = self.access_key(environ)
        if not self.enabled or key is None or key in self.operators:
            return True, "", None
        principal = self.principals.get(key)
        with self.lock:
            self.requests += 1
            number = self.requests
        if principal is None:
            return self._record(number, None, [("sts:Unknown", "*", False, [])], f"unknown access key {key}")
        function = principal["function"]
        try:
            needs = self.needs(environ, service, body)
        except Unmapped as e:
            return self._record(number, function, [(f"{service}:Unmapped", str(e), False, [])], f"unmapped request {e}")
        outcomes = []
        for need in needs:
            allowed, used = evaluate(principal["statements"], need)
            outcomes.append((need.action, need.resource, allowed, used))
        refused = next((o for o in outcomes if not o[2]), None)
        message = ""
        if refused:
            message = (
                f"User: arn:aws:sts::{self.account.account}:assumed-role/{function}Role/{function} is not "
                f"authorized to perform: {refused[0]} on resource: {refused[1]} because no "
                f"identity-based policy allows the {refused[0]} action"
            )
        return self._record(number, function, outcomes, message)

    def _record(self, number: int, function: str | None, outcomes: list, message: str):
        lines = [
            {"function": function, "request": number, "action": a, "resource": r, "allowed": ok}
            for a, r, ok, _ in outcomes
        ]
        allowed = all(ok for _, _, ok, _ in outcomes)
        with self.lock:
            for _, _, ok, used in outcomes:
                self.used.update((function, i, a, r) for i, a, r in used if ok)
            if not allowed:
                self.denials += [line for line in lines if not line["allowed"]]
            if self.log_path:
                with open(self.log_path, "a", encoding="utf-8") as log:
                    log.write("".join(json.dumps(line) + "\n" for line in lines))
        return allowed or not self.enforce, message, function

    def report(self) -> dict:
        """The denied requests, and every grant that no allowed request used."""
        with self.lock:
            used_by = {(f, a, r) for f, _, a, r in self.used}

            def used(function: str, i: int, action: str, resource: str) -> bool:
                if (function, i, action, resource) in self.used:
                    return True
                return any(
                    function in group["functions"]
                    and wildcard(action, group["action"], ignore_case=True)
                    and any((other, action, resource) in used_by for other in group["functions"])
                    for group in self.first_use
                )

            unused = [
                {"function": p["function"], "sid": p["statements"][i].get("Sid"), "action": a, "resource": r}
                for p in self.principals.values()
                for i, a, r in grants(p["statements"])
                if not used(p["function"], i, a, r)
            ]
            return {"requests": self.requests, "denied": list(self.denials), "unused": unused}


def denial(environ, service: str | None, message: str) -> tuple[str, list, bytes]:
    """AWS's AccessDenied answer, in the protocol of the service called."""
    if service == "s3":
        body = (
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code>"
            f"<Message>{message}</Message><RequestId>local</RequestId></Error>"
        ).encode()
        return "403 Forbidden", [("Content-Type", "application/xml")], body
    if environ.get("HTTP_X_AMZ_TARGET"):
        body = json.dumps({"__type": "com.amazon.coral.service#AccessDeniedException", "message": message}).encode()
        return "400 Bad Request", [("Content-Type", "application/x-amz-json-1.0")], body
    body = json.dumps({"message": message}).encode()
    return "403 Forbidden", [("Content-Type", "application/json"), ("x-amzn-ErrorType", "AccessDeniedException")], body
