#!/usr/bin/env python3
"""Softbrik's local stack: the AWS emulator, the functions and an HTTP API gateway on one machine.

What runs, all read from template.yaml so the local stack cannot drift from the deployed one:
- moto server (the AWS emulator), provisioned with the template's table, key, bucket, user pool,
  client, groups and mail identity;
- every function of the template as a real Lambda function behind the Lambda runtime API
  (`cargo lambda watch`), with the environment the template gives it;
- a gateway that serves the template's HttpApi routes, checks Cognito JWTs the way API Gateway's
  JWT authorizer does (signature against the pool's JWKS, issuer, audience, expiry) and invokes
  the functions with API Gateway's payload format 2.0.

Usage: `devstack.py up` (until Ctrl-C) or `devstack.py run -- CMD...` (start, run CMD, stop).
Only the Python standard library, boto3, PyJWT and cfn-lint (its CloudFormation YAML reader)
are used; they are installed into .local/venv by the Makefile.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import jwt
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from cfnlint.decode import decode

import iam  # infra/iam.py: IAM's policy evaluation, as the emulator applies it

ROOT = Path(__file__).resolve().parent.parent
# The cargo features the local stack builds its functions with (see shared/Cargo.toml).
STACK_FEATURES = "softbrik/stack-build"
VENV_BIN = ROOT / ".local" / "venv" / "bin"
REGION = "eu-west-1"
ACCOUNT_ID = "123456789012"
# The local HTTP API's id (requestContext.apiId, and its routes' execute-api ARNs).
API_ID = "local"
STACK_NAME = "softbrik-local"
# The SQS queue the local subscriber rule delivers every event to (the emulator lists it).
EVENTS_QUEUE = "softbrik-local-subscriber"
# The operator's credentials (the tests, the provisioning): the account's administrator, whose
# requests the emulator does not evaluate. Each function signs with credentials of its own
# (`function_credentials`), evaluated against its policy in template.yaml (infra/iam.py).
OPERATOR_KEY = "testing"
# The key the dev stack's event source mappings poll the queues with, standing for Lambda's
# service: the emulator counts their requests apart and never fails them (infra/emulator.py).
EVENT_SOURCE_KEY = "LOCALEVENTSOURCEMAPPING"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": OPERATOR_KEY,
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
}
for _k, _v in CREDENTIALS.items():
    os.environ.setdefault(_k, _v)


def log(message: str) -> None:
    print(f"[devstack] {message}", file=sys.stderr, flush=True)


# --- The template, resolved -------------------------------------------------------------------


def parameter_refusal(spec: dict, value: str) -> str | None:
    """Why CloudFormation would refuse `value` for the parameter `spec` (its type, bounds,
    allowed values and pattern), or None."""
    if spec.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            return "not a number"
        if "MinValue" in spec and number < float(spec["MinValue"]):
            return f"below its MinValue {spec['MinValue']}"
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            return f"above its MaxValue {spec['MaxValue']}"
    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in [str(a) for a in allowed]:
        return f"not one of {allowed}"
    pattern = spec.get("AllowedPattern")
    if pattern is not None and not re.fullmatch(pattern, value):
        return f"does not match {pattern}"
    return None


class Template:
    """template.yaml with its parameters, conditions and intrinsic functions resolved locally."""

    def __init__(self, path: Path, stage: str, overrides: dict[str, str] | None = None):
        self.raw, matches = decode(str(path))
        if matches:
            raise SystemExit(f"template.yaml does not parse: {matches}")
        self.resources: dict = dict(self.raw.get("Resources", {}))
        specs = self.raw.get("Parameters", {})
        self.params = {name: str(spec.get("Default", "")) for name, spec in specs.items()}
        self.params["Stage"] = stage
        # As `sam deploy --parameter-overrides` gives them (the bench's partner and workers).
        for name, value in (overrides or {}).items():
            if name not in specs:
                raise SystemExit(f"template.yaml has no parameter {name}")
            refused = parameter_refusal(specs[name], value)
            if refused:
                raise SystemExit(f"parameter {name}={value}: {refused} (CloudFormation refuses it)")
            self.params[name] = value
        self.physical: dict[str, str] = {}
        self.attributes: dict[tuple[str, str], str] = {}

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.raw["Conditions"][name]))

    def enabled(self, logical_id: str) -> bool:
        cond = self.resources[logical_id].get("Condition")
        return True if cond is None else self.condition(cond)

    def of_type(self, kind: str) -> list[tuple[str, dict]]:
        return [
            (lid, res)
            for lid, res in self.resources.items()
            if res.get("Type") == kind and self.enabled(lid)
        ]

    def ref(self, name: str) -> str:
        pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": STACK_NAME,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.params:
            return self.params[name]
        if name in self.physical:
            return self.physical[name]
        raise KeyError(f"Ref {name} is not provisioned yet")

    def get_att(self, logical_id: str, attribute: str) -> str:
        return self.attributes[(logical_id, attribute)]

    def resolve(self, value):
        if isinstance(value, dict) and len(value) == 1:
            (fn, arg), = value.items()
            if fn == "Ref":
                return self.ref(arg)
            if fn == "Fn::GetAtt":
                lid, att = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(lid, att)
            if fn == "Fn::Sub":
                text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                return re.sub(r"\$\{([^}]+)\}", lambda m: self._sub(m.group(1), extra), text)
            if fn == "Fn::If":
                cond, yes, no = arg
                return self.resolve(yes if self.condition(cond) else no)
            if fn == "Fn::Equals":
                return self.resolve(arg[0]) == self.resolve(arg[1])
            if fn == "Fn::Not":
                return not self.resolve(arg[0])
            if fn == "Fn::And":
                return all(self.resolve(a) for a in arg)
            if fn == "Fn::Or":
                return any(self.resolve(a) for a in arg)
            if fn == "Condition":
                return self.condition(arg)
            if fn == "Fn::Join":
                return arg[0].join(str(self.resolve(a)) for a in arg[1])
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value

    def _sub(self, name: str, extra: dict) -> str:
        if name in extra:
            return str(self.resolve(extra[name]))
        if "." in name:
            return self.get_att(*name.split(".", 1))
        return self.ref(name)

    def props(self, logical_id: str) -> dict:
        return self.resolve(self.resources[logical_id].get("Properties", {}))


# --- Provisioning the emulator ----------------------------------------------------------------


class Provisioner:
    """Creates in moto what template.yaml declares, resource type by resource type."""

    def __init__(self, template: Template, endpoint: str):
        self.t = template
        self.endpoint = endpoint

    def client(self, service: str):
        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION)

    def provision(self) -> None:
        handlers = {
            "AWS::KMS::Key": self.kms_key,
            "AWS::KMS::Alias": self.kms_alias,
            "AWS::DynamoDB::Table": self.table,
            "AWS::S3::Bucket": self.bucket,
            "AWS::Cognito::UserPool": self.user_pool,
            "AWS::Cognito::UserPoolClient": self.user_pool_client,
            "AWS::Cognito::UserPoolGroup": self.user_pool_group,
            "AWS::SES::EmailIdentity": self.mail_identity,
            "AWS::Events::EventBus": self.event_bus,
            "AWS::Events::Archive": self.event_archive,
            "AWS::SQS::Queue": self.queue,
        }
        # Resources the emulator has no use for locally: the functions and the API are served
        # by cargo-lambda and the gateway below; GuardDuty has nothing to watch on a laptop.
        local_elsewhere = {
            "AWS::Serverless::Function",
            "AWS::Serverless::HttpApi",
            "AWS::GuardDuty::Detector",
            # The functions' logs are files under the stack's logs/ folder.
            "AWS::Logs::LogGroup",
            # A role for callers of the API (the Brik modules'): the gateway checks their
            # SigV4 signature and evaluates the role's policy itself (role_principals).
            "AWS::IAM::Role",
        }
        # Inbound mail is not received locally: messages are posted to POST /inbound/email
        # instead (local-stack.md). moto would refuse the receipt rule anyway (it checks that its
        # Lambda action's function exists in moto's own Lambda, and ours run under cargo-lambda),
        # and the Lambda permission has no Lambda to attach to. The bucket policy is left out
        # because moto applies a bucket policy's Deny statements without their Condition: the
        # TLS-only statement would deny every request on the emulator's plain-HTTP endpoint.
        # The rule forwarding events to the Brik modules' bus (and its dead-letter queue) is
        # only deployed with that bus's ARN; locally the stack's own subscriber stands for the
        # modules (event_bus below, `events_url`).
        not_received_locally = {
            "AWS::Events::Rule",
            "AWS::SQS::QueuePolicy",
            "AWS::SES::ReceiptRuleSet",
            "AWS::SES::ReceiptRule",
            "AWS::Lambda::Permission",
            "AWS::S3::BucketPolicy",
        }
        # The API's id, as its routes' ARNs name it (the gateway's requestContext.apiId).
        for lid, _ in self.t.of_type("AWS::Serverless::HttpApi"):
            self.t.physical[lid] = API_ID
        for lid, _ in self.t.of_type("AWS::IAM::Role"):
            name = self.t.props(lid).get("RoleName", lid)
            self.t.physical[lid] = name
            self.t.attributes[(lid, "Arn")] = f"arn:aws:iam::{ACCOUNT_ID}:role/{name}"
        # Schedules (ScheduleV2 events) are fired by the devstack itself: Stack.start_schedules.
        # A function's Ref is its name: locally, the binary cargo-lambda serves it under.
        for lid, fn in self.t.of_type("AWS::Serverless::Function"):
            binary = function_binary(fn, lid)
            self.t.physical[lid] = binary
            self.t.attributes[(lid, "Arn")] = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{binary}"
        for kind in handlers:  # dict order is dependency order
            # Within a type, what others name first (a dead-letter queue before its queue).
            for lid, _ in sorted(self.t.of_type(kind), key=lambda r: "RedrivePolicy" in r[1].get("Properties", {})):
                handlers[kind](lid, self.t.props(lid))
        unknown = {
            res["Type"]
            for lid, res in self.t.resources.items()
            if res["Type"] not in handlers
            and res["Type"] not in local_elsewhere
            and res["Type"] not in not_received_locally
        }
        if unknown:
            raise SystemExit(f"devstack does not know how to provision: {sorted(unknown)}")

    def kms_key(self, lid: str, p: dict) -> None:
        key = self.client("kms").create_key(Description=p.get("Description", lid))["KeyMetadata"]
        if p.get("EnableKeyRotation"):
            self.client("kms").enable_key_rotation(KeyId=key["KeyId"])
        self.t.physical[lid] = key["KeyId"]
        self.t.attributes[(lid, "Arn")] = key["Arn"]
        self.t.attributes[(lid, "KeyId")] = key["KeyId"]

    def kms_alias(self, lid: str, p: dict) -> None:
        self.client("kms").create_alias(AliasName=p["AliasName"], TargetKeyId=p["TargetKeyId"])
        self.t.physical[lid] = p["AliasName"]

    def table(self, lid: str, p: dict) -> None:
        ddb = self.client("dynamodb")
        args = {
            k: p[k]
            for k in ("TableName", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode")
            if k in p
        }
        if "SSESpecification" in p:
            sse = p["SSESpecification"]
            args["SSESpecification"] = {
                "Enabled": bool(sse.get("SSEEnabled")),
                "SSEType": sse.get("SSEType", "KMS"),
                "KMSMasterKeyId": sse.get("KMSMasterKeyId"),
            }
        desc = ddb.create_table(**args)["TableDescription"]
        if p.get("TimeToLiveSpecification", {}).get("Enabled"):
            ddb.update_time_to_live(
                TableName=p["TableName"],
                TimeToLiveSpecification={"AttributeName": p["TimeToLiveSpecification"]["AttributeName"], "Enabled": True},
            )
        if p.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled"):
            ddb.update_continuous_backups(
                TableName=p["TableName"],
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )
        self.t.physical[lid] = p["TableName"]
        self.t.attributes[(lid, "Arn")] = desc["TableArn"]

    def bucket(self, lid: str, p: dict) -> None:
        s3 = self.client("s3")
        name = p["BucketName"]
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
        if "BucketEncryption" in p:
            s3.put_bucket_encryption(
                Bucket=name, ServerSideEncryptionConfiguration=_bucket_encryption(p["BucketEncryption"])
            )
        if "PublicAccessBlockConfiguration" in p:
            s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=p["PublicAccessBlockConfiguration"])
        if "LifecycleConfiguration" in p:
            s3.put_bucket_lifecycle_configuration(
                Bucket=name, LifecycleConfiguration=_lifecycle(p["LifecycleConfiguration"])
            )
        self.t.physical[lid] = name
        self.t.attributes[(lid, "Arn")] = f"arn:aws:s3:::{name}"

    def user_pool(self, lid: str, p: dict) -> None:
        args = {"PoolName": p["UserPoolName"]}
        for k in ("UsernameAttributes", "UsernameConfiguration", "AdminCreateUserConfig", "Policies", "Schema"):
            if k in p:
                args[k] = p[k]
        pool = self.client("cognito-idp").create_user_pool(**args)["UserPool"]
        self.t.physical[lid] = pool["Id"]
        self.t.attributes[(lid, "Arn")] = pool["Arn"]
        self.t.attributes[(lid, "ProviderName")] = f"cognito-idp.{REGION}.amazonaws.com/{pool['Id']}"

    def user_pool_client(self, lid: str, p: dict) -> None:
        keys = (
            "UserPoolId", "ClientName", "GenerateSecret", "ExplicitAuthFlows", "ReadAttributes",
            "WriteAttributes", "PreventUserExistenceErrors", "IdTokenValidity",
            "AccessTokenValidity", "TokenValidityUnits",
        )
        client = self.client("cognito-idp").create_user_pool_client(**{k: p[k] for k in keys if k in p})
        self.t.physical[lid] = client["UserPoolClient"]["ClientId"]

    def user_pool_group(self, lid: str, p: dict) -> None:
        self.client("cognito-idp").create_group(
            UserPoolId=p["UserPoolId"], GroupName=p["GroupName"], Description=p.get("Description", "")
        )
        self.t.physical[lid] = p["GroupName"]

    def event_bus(self, lid: str, p: dict) -> None:
        """The bus, and the local subscriber standing for the Brik modules: a rule sending every
        event to an SQS queue, which the emulator lists at `GET /_softbrik/events`."""
        events = self.client("events")
        name = self.t.resolve(p["Name"])
        arn = events.create_event_bus(Name=name)["EventBusArn"]
        self.t.physical[lid] = name
        self.t.attributes[(lid, "Arn")] = arn
        self.t.attributes[(lid, "Name")] = name
        queue = self.client("sqs").create_queue(QueueName=EVENTS_QUEUE)["QueueUrl"]
        queue_arn = self.client("sqs").get_queue_attributes(
            QueueUrl=queue, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        events.put_rule(
            Name=EVENTS_QUEUE,
            EventBusName=name,
            EventPattern=json.dumps({"source": ["softbrik.billing", "softbrik.support"]}),
        )
        events.put_targets(
            Rule=EVENTS_QUEUE,
            EventBusName=name,
            Targets=[{"Id": "local-subscriber", "Arn": queue_arn}],
        )

    def event_archive(self, lid: str, p: dict) -> None:
        name = self.t.resolve(p["ArchiveName"])
        self.client("events").create_archive(
            ArchiveName=name,
            EventSourceArn=self.t.resolve(p["SourceArn"]),
            EventPattern=json.dumps(self.t.resolve(p["EventPattern"])),
            RetentionDays=int(self.t.resolve(p.get("RetentionDays", 0))),
        )
        self.t.physical[lid] = name

    def queue(self, lid: str, p: dict) -> None:
        sqs = self.client("sqs")
        attributes = {
            name: json.dumps(p[name]) if isinstance(p[name], dict) else str(p[name])
            for name in ("VisibilityTimeout", "MessageRetentionPeriod", "RedrivePolicy", "SqsManagedSseEnabled")
            if name in p
        }
        if "SqsManagedSseEnabled" in attributes:
            attributes["SqsManagedSseEnabled"] = attributes["SqsManagedSseEnabled"].lower()
        url = sqs.create_queue(QueueName=p["QueueName"], Attributes=attributes)["QueueUrl"]
        self.t.physical[lid] = url
        self.t.attributes[(lid, "Arn")] = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        self.t.attributes[(lid, "QueueName")] = p["QueueName"]
        self.t.attributes[(lid, "QueueUrl")] = url

    def mail_identity(self, lid: str, p: dict) -> None:
        self.client("sesv2").create_email_identity(EmailIdentity=p["EmailIdentity"])
        self.t.physical[lid] = p["EmailIdentity"]


def _bucket_encryption(spec: dict) -> dict:
    return {"Rules": [
        {
            "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
            "BucketKeyEnabled": rule.get("BucketKeyEnabled", False),
        }
        for rule in spec["ServerSideEncryptionConfiguration"]
    ]}


def _lifecycle(spec: dict) -> dict:
    return {"Rules": [
        {
            "ID": rule["Id"],
            "Status": rule["Status"],
            "Filter": {"Prefix": rule.get("Prefix", "")},
            "Expiration": {"Days": rule["ExpirationInDays"]},
        }
        for rule in spec["Rules"]
    ]}


# --- Functions and routes ---------------------------------------------------------------------

# Grants one function of a group uses, whichever runs first: the platform key that seals
# security reports and the support desk's staff records (`App::security_key`) is made by
# ticket-intake or tickets, whichever needs it first on a new stage, and only once. A test run
# exercises one of them; the unused-grant check takes the group's use for all of them.
FIRST_USE_GRANTS = [
    {"functions": ["TicketIntakeFunction", "TicketsFunction"], "action": "kms:GenerateDataKey"},
]


def function_binary(fn: dict, lid: str) -> str:
    return fn.get("Metadata", {}).get("BuildProperties", {}).get("Binary", lid)


def function_policies(t: Template) -> dict[str, list[dict]]:
    """Each function's IAM policy statements, resolved for the local stack. Only inline
    statements are used: a SAM policy template or a managed policy would be evaluated here as
    nothing, so it is refused rather than ignored."""
    policies: dict[str, list[dict]] = {}
    for lid, fn in t.of_type("AWS::Serverless::Function"):
        statements: list[dict] = []
        for policy in fn.get("Properties", {}).get("Policies", []):
            if not isinstance(policy, dict) or set(policy) != {"Statement"}:
                raise SystemExit(f"{lid}: only inline policy statements are evaluated locally, not {policy!r}")
            statements += t.resolve(policy["Statement"])
        policies[lid] = statements
    return policies


def function_credentials(t: Template) -> dict[str, dict[str, str]]:
    """Credentials of each function's own (its role's, on AWS), by binary."""
    return {
        function_binary(fn, lid): {
            "function": lid,
            "AWS_ACCESS_KEY_ID": f"LOCAL{lid.upper()}",
            "AWS_SECRET_ACCESS_KEY": f"local-secret-{lid}",
            "AWS_SESSION_TOKEN": f"local-session-{lid}",
        }
        for lid, fn in t.of_type("AWS::Serverless::Function")
    }


def role_principals(t: Template) -> dict[str, dict]:
    """The template's roles for callers of the API (AWS::IAM::Role), each as a local principal:
    credentials of its own (as assuming the role would give) and its inline policies'
    statements, resolved. The gateway answers an AWS_IAM route only for a request such a
    principal signed, and only if its statements allow `execute-api:Invoke` on the route."""
    principals = {}
    for lid, _ in t.of_type("AWS::IAM::Role"):
        statements: list[dict] = []
        for policy in t.props(lid).get("Policies", []):
            statements += policy["PolicyDocument"]["Statement"]
        name = t.props(lid).get("RoleName", lid)
        principals[f"LOCALROLE{lid.upper()}"] = {
            "role": lid,
            # As API Gateway names the caller of a role's session (requestContext.authorizer.iam).
            "arn": f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{name}/local",
            "secret": f"local-secret-{lid}",
            "statements": statements,
        }
    return principals


SIGV4 = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/,\s]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request,\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})$")


def verify_sigv4(principals: dict, method: str, url: str, headers: dict, body: bytes) -> dict | None:
    """The principal whose SigV4 signature (`Authorization`, service `execute-api`) the request
    carries, if it is one of `principals`, the signature is right and it was made within 15
    minutes of now (as API Gateway checks); else None."""
    m = SIGV4.match(headers.get("authorization", ""))
    if not m:
        return None
    key_id, day, region, service, signed, signature = m.groups()
    principal = principals.get(key_id)
    amz_date = headers.get("x-amz-date", "")
    if principal is None or region != REGION or service != "execute-api" or not amz_date.startswith(day):
        return None
    try:
        at = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return None
    if abs((dt.datetime.now(dt.timezone.utc) - at).total_seconds()) > 900:
        return None
    names = signed.split(";")
    if "host" not in names or any(n not in headers for n in names):
        return None
    request = AWSRequest(method=method, url=url, data=body, headers={n: headers[n] for n in names})
    request.context["timestamp"] = amz_date
    auth = SigV4Auth(Credentials(key_id, principal["secret"]), service, region)
    expected = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
    return principal if secrets.compare_digest(expected, signature) else None


def host_triple() -> str:
    out = subprocess.run(["rustc", "-vV"], capture_output=True, text=True, check=True).stdout
    return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("host:"))


def function_environment(t: Template) -> dict[str, str]:
    """The environment every function gets: the template's Globals, pointed at the emulator."""
    variables = t.raw.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    return {k: str(v) for k, v in t.resolve(variables).items()}


def own_environment(t: Template) -> dict[str, dict[str, str]]:
    """Each function's own variables (its Properties' Environment), by binary: cargo-lambda gives
    all functions one environment, so infra/function-runner exports these for that function only,
    as Lambda gives a function its own."""
    own = {}
    for lid, fn in t.of_type("AWS::Serverless::Function"):
        variables = fn.get("Properties", {}).get("Environment", {}).get("Variables", {})
        own[function_binary(fn, lid)] = {k: str(v) for k, v in t.resolve(variables).items()}
    return own


# Route authorizers that are not a JWT check: NONE (public) and AWS_IAM (SigV4).
PUBLIC = "NONE"
IAM = "AWS_IAM"


class Route:
    def __init__(self, method: str, path: str, binary: str, authorizer: str | None, api: str | None = None):
        self.method = method.upper()
        self.path = path
        self.binary = binary
        # The authorizer as the template names it (the API's default when the event names none).
        self.authorizer = authorizer
        self.api = api
        # Whether the gateway checks a Cognito JWT. An AWS_IAM route is served locally without
        # any check: the local stack has no SigV4, and such a route (POST /inbound/email) exists
        # for the local stack's posted mail and, in AWS, for IAM-signed callers only.
        self.authorized = authorizer not in (None, PUBLIC, IAM)
        # Whether the gateway checks a SigV4 signature: every AWS_IAM route but the inbound
        # mail's, which locally stands for SES's delivery (local-stack.md "Inbound mail").
        self.signed = authorizer == IAM and path != "/inbound/email"
        pattern = re.sub(r"\{(\w+)\+\}", r"(?P<\1>.+)", path)
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern)
        self.regex = re.compile(f"^{pattern}$")

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"


class Schedule:
    """A ScheduleV2 event of a function, fired locally on its rate."""

    def __init__(self, binary: str, expression: str, payload: str):
        m = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression)
        if not m:
            raise SystemExit(f"devstack fires rate() schedules only, not {expression}")
        unit = {"minute": 60, "hour": 3600, "day": 86400}[m.group(2).rstrip("s")]
        self.binary, self.seconds, self.payload = binary, int(m.group(1)) * unit, payload


def schedules(t: Template) -> list[Schedule]:
    found = []
    for _, fn in t.of_type("AWS::Serverless::Function"):
        binary = fn.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
        for event in fn.get("Properties", {}).get("Events", {}).values():
            if event.get("Type") == "ScheduleV2":
                p = t.resolve(event["Properties"])
                found.append(Schedule(binary, p["ScheduleExpression"], p.get("Input", "{}")))
    return found


class QueueSource:
    """An SQS event of a function: the event source mapping Lambda runs for it."""

    def __init__(self, binary: str, queue_arn: str, batch_size: int, concurrency: int, partial: bool):
        self.binary, self.queue_arn = binary, queue_arn
        self.batch_size, self.concurrency, self.partial = batch_size, concurrency, partial
        # The maximum concurrency in force: as deployed, or lowered since as Lambda's
        # UpdateEventSourceMapping does (`/_local/queues`), up to what the stack started with
        # (cargo-lambda's instances are counted at start).
        self.active = concurrency


def queue_sources(t: Template) -> list[QueueSource]:
    found = []
    for lid, fn in t.of_type("AWS::Serverless::Function"):
        for event in fn.get("Properties", {}).get("Events", {}).values():
            if event.get("Type") != "SQS":
                continue
            p = t.resolve(event["Properties"])
            # As Lambda refuses a mapping whose queue would show a message again while the
            # function may still be handling it.
            queue = t.resources[event["Properties"]["Queue"]["Fn::GetAtt"][0]]
            visibility = int(queue.get("Properties", {}).get("VisibilityTimeout", 30))
            timeout = int(fn.get("Properties", {}).get("Timeout", t.raw.get("Globals", {}).get("Function", {}).get("Timeout", 3)))
            if visibility < timeout:
                raise SystemExit(
                    f"{lid}: its queue's visibility timeout ({visibility} s) is below the function's timeout ({timeout} s); Lambda refuses the mapping"
                )
            found.append(
                QueueSource(
                    function_binary(fn, lid),
                    p["Queue"],
                    int(p.get("BatchSize", 10)),
                    # Lambda's default without a maximum: as many as it scales to; locally 4.
                    int(p.get("ScalingConfig", {}).get("MaximumConcurrency", 4)),
                    "ReportBatchItemFailures" in p.get("FunctionResponseTypes", []),
                )
            )
    return found


def routes(t: Template) -> list[Route]:
    api_auth = {}
    for lid, api in t.of_type("AWS::Serverless::HttpApi"):
        api_auth[lid] = api.get("Properties", {}).get("Auth", {}).get("DefaultAuthorizer")
    found = []
    for lid, fn in t.of_type("AWS::Serverless::Function"):
        binary = fn.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
        for event in fn.get("Properties", {}).get("Events", {}).values():
            if event.get("Type") != "HttpApi":
                continue
            p = event["Properties"]
            api = p.get("ApiId", {}).get("Ref")
            authorizer = p.get("Auth", {}).get("Authorizer", api_auth.get(api))
            found.append(Route(p["Method"], p["Path"], binary, authorizer, api))
    # Like API Gateway: the most specific route wins (literal segments before parameters).
    found.sort(key=lambda r: (r.path.count("{"), -len(r.path)))
    return found


# --- The gateway ------------------------------------------------------------------------------


class Gateway(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, stack: "Stack"):
        super().__init__(("127.0.0.1", port), GatewayHandler)
        self.stack = stack
        self.jwks = jwt.PyJWKClient(stack.jwks_url, cache_keys=True)


class GatewayHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Gateway

    def log_message(self, fmt: str, *args) -> None:  # one line per request, no bodies
        log(f"{self.command} {self.path.split('?')[0]} -> {args[1] if len(args) > 1 else ''}")

    def do_GET(self):
        self.handle_api()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def handle_api(self) -> None:
        stack = self.server.stack
        raw_path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if raw_path == "/_local/schedules" and self.command == "POST":
            # Local only (not a route of the template): the fault tests pause the scheduled
            # runs, so that no run of theirs takes a fault meant for the request under test.
            paused = bool(json.loads(body or b"{}").get("paused"))
            (stack.schedules_paused.set if paused else stack.schedules_paused.clear)()
            return self.reply(200, {"content-type": "application/json"}, json.dumps({"paused": paused}).encode())
        if raw_path == "/_local/queues" and self.command == "POST":
            # Local only: the worker-kill test takes a batch off the queue itself, as a worker
            # that then dies, while the event source mappings hold off (Lambda's would not).
            asked = json.loads(body or b"{}")
            if "maximum_concurrency" in asked:
                # A bench sets a function's workers between its measures, as an operator does
                # with UpdateEventSourceMapping (ScalingConfig), without deploying again.
                wanted = int(asked["maximum_concurrency"])
                sources = [s for s in stack.queue_sources if s.binary == asked.get("function")]
                if not sources or not 1 <= wanted <= sources[0].concurrency:
                    problem = {"message": f"no queue of {asked.get('function')!r} started with {wanted} workers or more"}
                    return self.reply(400, {"content-type": "application/json"}, json.dumps(problem).encode())
                sources[0].active = wanted
                log(f"queue: {sources[0].binary} now {wanted} at once")
                return self.reply(200, {"content-type": "application/json"}, json.dumps({"maximum_concurrency": wanted}).encode())
            paused = bool(asked.get("paused"))
            (stack.queues_paused.set if paused else stack.queues_paused.clear)()
            # Answered once no poller is in the middle of a receive (a long poll started before
            # would still take what comes within its second) or of the batch it took.
            with stack.polling:
                stack.polling.wait_for(lambda: stack.receiving == 0, timeout=60)
            return self.reply(200, {"content-type": "application/json"}, json.dumps({"paused": paused}).encode())
        route, params = None, {}
        for candidate in stack.routes:
            m = candidate.regex.match(raw_path)
            if m and candidate.method in (self.command, "ANY"):
                route, params = candidate, m.groupdict()
                break
        if route is None:
            return self.reply(404, {"content-type": "application/json"}, b'{"message":"Not Found"}')
        claims = None
        if route.signed:
            iam = self.verify_signature(route, raw_path, query, body)
            if iam is None:
                return self.reply(403, {"content-type": "application/json"}, b'{"message":"Forbidden"}')
            event = self.event(route, params, raw_path, query, body, None)
            event["requestContext"]["authorizer"] = {"iam": iam}
            status, headers, payload = stack.invoke(route.binary, event)
            return self.reply(status, headers, payload)
        if route.authorized:
            claims = self.verify_token()
            if claims is None:
                return self.reply(
                    401,
                    {"content-type": "application/json", "www-authenticate": "Bearer"},
                    b'{"message":"Unauthorized"}',
                )
        event = self.event(route, params, raw_path, query, body, claims)
        status, headers, payload = stack.invoke(route.binary, event)
        self.reply(status, headers, payload)

    def verify_signature(self, route: Route, raw_path: str, query: str, body: bytes) -> dict | None:
        """The IAM identity of a request to an AWS_IAM route, as API Gateway passes it, if the
        request is signed by a principal whose policy allows `execute-api:Invoke` on it."""
        stack = self.server.stack
        headers = {k.lower(): v for k, v in self.headers.items()}
        url = f"http://{headers.get('host', '')}{raw_path}" + (f"?{query}" if query else "")
        principal = verify_sigv4(stack.role_principals, self.command, url, headers, body)
        if principal is None:
            log(f"{route.key}: no valid SigV4 signature")
            return None
        arn = f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{API_ID}/$default/{self.command}{raw_path}"
        allowed, _ = iam.evaluate(principal["statements"], iam.Need("execute-api:Invoke", arn))
        if not allowed:
            log(f"{route.key}: {principal['role']} may not invoke it")
            return None
        key_id = SIGV4.match(headers["authorization"]).group(1)
        return {
            "accessKey": key_id,
            "accountId": ACCOUNT_ID,
            "callerId": key_id,
            "principalOrgId": None,
            "userArn": principal["arn"],
            "userId": key_id,
        }

    def verify_token(self) -> dict | None:
        stack = self.server.stack
        header = self.headers.get("Authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else header
        if not token:
            return None
        try:
            key = self.server.jwks.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                audience=stack.user_pool_client_id,
                issuer=stack.issuer,
                options={"require": ["exp", "iss", "aud"]},
            )
        except Exception as err:  # every failure is the same 401, as with API Gateway
            log(f"token refused: {type(err).__name__}")
            return None
        return claims

    def event(self, route: Route, params, raw_path, query, body: bytes, claims) -> dict:
        headers: dict[str, str] = {}
        for k, v in self.headers.items():
            k = k.lower()
            headers[k] = f"{headers[k]},{v}" if k in headers else v
        ctype = headers.get("content-type", "")
        textual = ctype.startswith("text/") or "json" in ctype or "xml" in ctype or "form-urlencoded" in ctype
        qs: dict[str, str] = {}
        for part in filter(None, query.split("&")):
            k, _, v = part.partition("=")
            k, v = urllib.parse.unquote_plus(k), urllib.parse.unquote_plus(v)
            qs[k] = f"{qs[k]},{v}" if k in qs else v
        now = dt.datetime.now(dt.timezone.utc)
        context = {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": f"127.0.0.1:{self.server.server_port}",
            "domainPrefix": "local",
            "http": {
                "method": self.command,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": self.client_address[0],
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route.key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        }
        if claims is not None:
            context["authorizer"] = {"jwt": {"claims": {k: _claim(v) for k, v in claims.items()}, "scopes": None}}
        event = {
            "version": "2.0",
            "routeKey": route.key,
            "rawPath": raw_path,
            "rawQueryString": query,
            "headers": headers,
            "requestContext": context,
            "isBase64Encoded": bool(body) and not textual,
        }
        if qs:
            event["queryStringParameters"] = qs
        if params:
            event["pathParameters"] = {k: urllib.parse.unquote(v) for k, v in params.items()}
        if body:
            event["body"] = body.decode("utf-8", "replace") if textual else base64.b64encode(body).decode()
        return event

    def reply(self, status: int, headers: dict, payload: bytes) -> None:
        self.send_response(status)
        for k, v in headers.items():
            if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def _claim(value) -> str:
    """Claims as API Gateway's JWT authorizer passes them: strings, arrays as "[a b]"."""
    if isinstance(value, list):
        return "[" + " ".join(str(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- The stack --------------------------------------------------------------------------------


def wait_for_port(port: int, what: str, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{what} did not answer on port {port} within {timeout:.0f}s")


def port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


class Stack:
    def __init__(self, args):
        self.api_port = int(args.api_port)
        self.aws_port = int(args.aws_port)
        self.lambda_port = int(args.lambda_port)
        self.stripe_port = int(args.stripe_port)
        self.stripe_url = f"http://127.0.0.1:{self.stripe_port}"
        self.stack_file = Path(args.stack_file).resolve()
        self.watch_changes = args.watch
        self.overrides = dict(p.split("=", 1) for p in args.parameter)
        self.endpoint = f"http://127.0.0.1:{self.aws_port}"
        self.children: list[subprocess.Popen] = []
        self.gateway: Gateway | None = None
        self.logs = self.stack_file.parent / "logs"

    def start(self) -> None:
        for port in (self.api_port, self.aws_port, self.lambda_port, self.stripe_port):
            if not port_free(port):
                raise SystemExit(f"port {port} is in use: is another stack running? (set SOFTBRIK_*_PORT)")
        self.logs.mkdir(parents=True, exist_ok=True)
        self.start_emulator()
        self.start_stripe()
        self.template = Template(ROOT / "template.yaml", stage="dev", overrides=self.overrides)
        Provisioner(self.template, self.endpoint).provision()
        self.resolve_outputs()
        self.enforce_iam()
        self.queue_sources = queue_sources(self.template)
        self.start_functions()
        self.routes = routes(self.template)
        self.role_principals = role_principals(self.template)
        self.schedules_paused = threading.Event()
        self.queues_paused = threading.Event()
        # Pollers in the middle of a receive or of its batch.
        self.polling = threading.Condition()
        self.receiving = 0
        self.gateway = Gateway(self.api_port, self)
        threading.Thread(target=self.gateway.serve_forever, daemon=True).start()
        self.seed()
        self.start_schedules()
        self.start_queue_sources()
        self.write_stack_file()

    def start_emulator(self) -> None:
        log(f"starting the AWS emulator (moto, infra/emulator.py) on {self.endpoint}")
        out = open(self.logs / "moto.log", "w")
        self.children.append(
            subprocess.Popen(
                [str(VENV_BIN / "python"), str(ROOT / "infra" / "emulator.py"), "127.0.0.1", str(self.aws_port)],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        )
        wait_for_port(self.aws_port, "moto", 60, self.children[-1])

    def start_stripe(self) -> None:
        """The payment partner's emulator (localstripe, infra/stripe_emulator.py), for the
        Stripe adapter's tests and for trying PaymentsProvider=stripe locally."""
        log(f"starting the Stripe emulator (localstripe) on {self.stripe_url}")
        out = open(self.logs / "stripe.log", "w")
        self.children.append(
            subprocess.Popen(
                [str(VENV_BIN / "python"), str(ROOT / "infra" / "stripe_emulator.py"), "127.0.0.1", str(self.stripe_port)],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        )
        wait_for_port(self.stripe_port, "localstripe", 60, self.children[-1])

    def resolve_outputs(self) -> None:
        t = self.template
        self.table = t.ref("Table")
        self.user_pool_id = t.ref("UserPool")
        self.user_pool_client_id = t.ref("UserPoolClient")
        self.kms_key_id = t.ref("DataKey")
        self.bucket = t.ref("MailBucket")
        self.issuer = f"https://cognito-idp.{REGION}.amazonaws.com/{self.user_pool_id}"
        self.jwks_url = f"{self.endpoint}/{self.user_pool_id}/.well-known/jwks.json"

    def enforce_iam(self) -> None:
        """Hands the emulator every function's credentials and policy: from now on a function's
        request is answered only if its policy allows it (infra/iam.py)."""
        policies = function_policies(self.template)
        principals = {
            c["AWS_ACCESS_KEY_ID"]: {"function": c["function"], "statements": policies[c["function"]]}
            for c in function_credentials(self.template).values()
        }
        self.calls_log = self.logs / "aws-calls.jsonl"
        self.calls_log.unlink(missing_ok=True)
        config = {
            "principals": principals,
            "operators": [OPERATOR_KEY],
            "services": [EVENT_SOURCE_KEY],
            "log": str(self.calls_log),
            "lambda_endpoint": f"http://127.0.0.1:{self.lambda_port}",
            "enforce": os.environ.get("SOFTBRIK_IAM", "enforce") != "audit",
            "first_use": FIRST_USE_GRANTS,
        }
        request = urllib.request.Request(
            f"{self.endpoint}/_softbrik/iam", data=json.dumps(config).encode(), method="POST"
        )
        urllib.request.urlopen(request, timeout=30).read()
        log(f"IAM enforced for {len(principals)} functions; calls logged to {self.calls_log}")

    def iam_report(self) -> dict:
        with urllib.request.urlopen(f"{self.endpoint}/_softbrik/iam", timeout=30) as resp:
            return json.load(resp)

    def start_functions(self) -> None:
        env = function_environment(self.template)
        env["AWS_REGION"] = env["AWS_DEFAULT_REGION"] = REGION
        env["AWS_ENDPOINT_URL"] = self.endpoint
        # Functions that invoke others (the test clocks running jobs) call Lambda's API on the
        # emulator, which evaluates lambda:InvokeFunction and passes the call on to cargo-lambda.
        env["AWS_ENDPOINT_URL_LAMBDA"] = self.endpoint
        env["SOFTBRIK_STRIPE_API_BASE"] = self.stripe_url
        env["AWS_EC2_METADATA_DISABLED"] = "true"
        # The emulator answers DynamoDB one request at a time, and an index query passes over
        # the whole table: late in a test run a request may wait many seconds for its turn.
        # And moto ignores a transaction's ClientRequestToken, so an SDK retry of a slow
        # transaction that did land is refused (DynamoDB would answer it as done). Locally the
        # calls are given minutes (3 s and 10 s on AWS); the fault tests lose answers instead
        # of waiting for timeouts (tests/tests/faults.rs).
        env["SOFTBRIK_AWS_ATTEMPT_TIMEOUT_MS"] = "300000"
        env["SOFTBRIK_AWS_CALL_TIMEOUT_MS"] = "600000"
        env_file = self.stack_file.parent / "functions.env"
        # Double-quoted, escaped as dotenv reads them: values may hold spaces (the issuer's address).
        env_file.write_text("".join(f"{k}={json.dumps(str(v), ensure_ascii=False)}\n" for k, v in sorted(env.items())))
        # Each function's own credentials and variables, in a file of its own that infra/function-runner (the
        # runner cargo runs the functions' binaries with) exports before it starts the binary, as
        # Lambda puts a function's role credentials in its environment. cargo-lambda itself gets
        # none: a function started without its file has no credentials at all.
        credentials_dir = self.stack_file.parent / "functions"
        credentials_dir.mkdir(parents=True, exist_ok=True)
        own = own_environment(self.template)
        for binary, creds in function_credentials(self.template).items():
            variables = {k: v for k, v in creds.items() if k.startswith("AWS_")} | own.get(binary, {})
            lines = "".join(f'{k}="{v}"\n' for k, v in variables.items())
            (credentials_dir / f"{binary}.env").write_text(lines)
        runtime_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        runtime_env[f"CARGO_TARGET_{host_triple().upper().replace('-', '_')}_RUNNER"] = str(ROOT / "infra" / "function-runner")
        runtime_env["SOFTBRIK_FUNCTION_ENV_DIR"] = str(credentials_dir)
        # With the test build's dependency features (`softbrik/stack-build`, shared/Cargo.toml),
        # so that `make test` compiles the dependencies once for the functions and the tests.
        log("building the functions (cargo build --bins)")
        subprocess.run(["cargo", "build", "--quiet", "--bins", "--features", STACK_FEATURES], cwd=ROOT, check=True)
        log(f"starting the functions under cargo-lambda on port {self.lambda_port}")
        # `--timeout` also bounds a function instance's wait for its next event: an instance
        # idle that long is answered without an event, and lambda_runtime panics on it (a
        # request arriving while it restarts fails). Two hours: longer than a test run leaves a
        # function idle (the fault tests leave assign-brik idle for over 10 minutes).
        cmd = [
            str(VENV_BIN / "cargo-lambda"), "lambda", "watch", "--features", STACK_FEATURES,
            "--invoke-address", "127.0.0.1", "--invoke-port", str(self.lambda_port),
            "--env-file", str(env_file), "--concurrency", str(self.instances()), "--timeout", "7200",
        ]
        if not self.watch_changes:
            cmd.append("--ignore-changes")
        out = open(self.logs / "functions.log", "w")
        self.children.append(
            subprocess.Popen(
                cmd, cwd=ROOT, env=runtime_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        )
        wait_for_port(self.lambda_port, "cargo lambda watch", 300, self.children[-1])

    def instances(self) -> int:
        """Instances cargo-lambda may run of one function: Lambda gives every invocation one.
        4 for the API's and the tests' calls at once, and a queue's workers beside them (a
        test clock's run waits for its workers in an instance of the same function)."""
        return 4 + max((s.concurrency for s in self.queue_sources), default=0)

    def invoke(self, binary: str, event: dict) -> tuple[int, dict, bytes]:
        """Invokes an HTTP function and turns its answer into an HTTP response."""
        status, headers, raw = self.invoke_raw(binary, event)
        if status >= 400 or headers.get("X-Amz-Function-Error"):
            log(f"{binary} failed: {raw[:500]!r}")
            return 500, {"content-type": "application/json"}, b'{"message":"Internal Server Error"}'
        answer = json.loads(raw or b"{}")
        headers = {k.lower(): v for k, v in (answer.get("headers") or {}).items()}
        body = answer.get("body") or ""
        payload = base64.b64decode(body) if answer.get("isBase64Encoded") else body.encode()
        for cookie in answer.get("cookies") or []:
            headers.setdefault("set-cookie", cookie)
        return int(answer.get("statusCode", 200)), headers, payload

    def start_schedules(self) -> None:
        """Fires every schedule of the template on its rate, as EventBridge Scheduler does."""
        for schedule in schedules(self.template):
            def fire(s: Schedule = schedule) -> None:
                while True:
                    time.sleep(s.seconds)
                    if self.schedules_paused.is_set():
                        continue
                    try:
                        status, _, body = self.invoke_raw(s.binary, json.loads(s.payload))
                    except OSError as e:  # the stack stopping: no function to invoke
                        log(f"schedule {s.binary}: not invoked ({e})")
                        continue
                    log(f"schedule {s.binary}: {status} {body[:200]!r}")
            threading.Thread(target=fire, daemon=True).start()
            log(f"schedule: {schedule.binary} every {schedule.seconds}s")

    def start_queue_sources(self) -> None:
        """Polls each function's queue as Lambda's event source mapping does: batches of up to
        BatchSize messages, MaximumConcurrency invocations at once; a batch answered is
        deleted but for the messages the function names (partial batch failures); a batch whose
        invocation failed is left to come back after the queue's visibility timeout."""
        for source in self.queue_sources:
            url = self.queue_url(source.queue_arn)
            for worker in range(source.concurrency):
                threading.Thread(target=self.poll_queue, args=(source, url, worker), daemon=True).start()
            log(f"queue: {source.binary} takes {url.rsplit('/', 1)[-1]}, {source.concurrency} at once")

    def queue_url(self, arn: str) -> str:
        name = arn.rsplit(":", 1)[-1]
        return boto3.client("sqs", endpoint_url=self.endpoint, region_name=REGION).get_queue_url(QueueName=name)["QueueUrl"]

    def poll_queue(self, source: QueueSource, url: str, worker: int) -> None:
        sqs = boto3.client(
            "sqs", endpoint_url=self.endpoint, region_name=REGION,
            aws_access_key_id=EVENT_SOURCE_KEY, aws_secret_access_key="local", aws_session_token="local",
        )
        while True:
            with self.polling:
                # A worker beyond the maximum concurrency in force holds off.
                paused = self.queues_paused.is_set() or worker >= source.active
                if not paused:
                    self.receiving += 1
            if paused:
                time.sleep(0.2)
                continue
            try:
                messages = sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=source.batch_size, WaitTimeSeconds=1,
                    MessageSystemAttributeNames=["All"],
                ).get("Messages", [])
                if not messages:
                    continue
                event = {"Records": [
                    {
                        "messageId": m["MessageId"],
                        "receiptHandle": m["ReceiptHandle"],
                        "body": m["Body"],
                        "attributes": m.get("Attributes", {}),
                        "messageAttributes": {},
                        "md5OfBody": m["MD5OfBody"],
                        "eventSource": "aws:sqs",
                        "eventSourceARN": source.queue_arn,
                        "awsRegion": REGION,
                    }
                    for m in messages
                ]}
                status, headers, raw = self.invoke_raw(source.binary, event)
                if status >= 400 or headers.get("X-Amz-Function-Error"):
                    log(f"queue {source.binary}: batch of {len(messages)} failed, left for redelivery: {raw[:300]!r}")
                    continue
                failed = set()
                if source.partial:
                    answer = json.loads(raw or b"{}") or {}
                    failed = {f.get("itemIdentifier") for f in answer.get("batchItemFailures") or []}
                done = [m for m in messages if m["MessageId"] not in failed]
                if failed:
                    log(f"queue {source.binary}: {len(failed)} of {len(messages)} messages left for redelivery")
                if done:
                    sqs.delete_message_batch(
                        QueueUrl=url,
                        Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
                    )
            except Exception as e:  # the stack stopping, the emulator busy: poll again
                log(f"queue {source.binary}: {e}")
                time.sleep(1)
            finally:
                with self.polling:
                    self.receiving -= 1
                    self.polling.notify_all()

    def invoke_raw(self, binary: str, event: dict) -> tuple[int, dict, bytes]:
        url = f"http://127.0.0.1:{self.lambda_port}/2015-03-31/functions/{binary}/invocations"
        request = urllib.request.Request(url, data=json.dumps(event).encode(), method="POST")
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=300) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read()

    def seed(self) -> None:
        # The catalogue seeds itself on first read (functions/signup); reading it once here also
        # starts the function, so the first real request is not slowed by a cold start.
        with urllib.request.urlopen(f"http://127.0.0.1:{self.api_port}/briks", timeout=300) as resp:
            briks = json.load(resp)["items"]
        log(f"catalogue: {', '.join(b['id'] for b in briks)}")
        # Stripe's secret key, where the template says the functions read it (any sk_test_
        # key opens localstripe); a deployed stage's parameter is created by its operator.
        boto3.client("ssm", endpoint_url=self.endpoint, region_name=REGION).put_parameter(
            Name=self.template.ref("StripeSecretParameter"), Value="sk_test_softbrik_local",
            Type="SecureString", Overwrite=True,
        )
        self.support_email = "support-staff@softbrik.local"
        self.support_password = "Sb-" + secrets.token_urlsafe(12) + "a1A"
        idp = boto3.client("cognito-idp", endpoint_url=self.endpoint, region_name=REGION)
        idp.admin_create_user(
            UserPoolId=self.user_pool_id,
            Username=self.support_email,
            MessageAction="SUPPRESS",
            UserAttributes=[{"Name": "email", "Value": self.support_email}, {"Name": "email_verified", "Value": "true"}],
        )
        idp.admin_set_user_password(
            UserPoolId=self.user_pool_id, Username=self.support_email, Password=self.support_password, Permanent=True
        )
        idp.admin_add_user_to_group(UserPoolId=self.user_pool_id, Username=self.support_email, GroupName="support")

    def write_stack_file(self) -> None:
        key, p = next((k, p) for k, p in self.role_principals.items() if p["role"] == "BrikModulesRole")
        description = {
            "api_url": f"http://127.0.0.1:{self.api_port}",
            "aws_endpoint": self.endpoint,
            "events_url": f"{self.endpoint}/_softbrik/events",
            "region": REGION,
            "table_name": self.table,
            "keys_table_name": self.template.ref("KeysTable"),
            "user_pool_id": self.user_pool_id,
            "user_pool_client_id": self.user_pool_client_id,
            "kms_key_id": self.kms_key_id,
            "bucket": self.bucket,
            "mail_from": self.template.ref("MailFrom"),
            "support_inbox": self.template.ref("SupportInbox"),
            "security_inbox": self.template.ref("SecurityInbox"),
            "test_clocks": self.template.condition("TestClocksAllowed"),
            "lambda_endpoint": f"http://127.0.0.1:{self.lambda_port}",
            "stripe_url": self.stripe_url,
            "support_user": {"email": self.support_email, "password": self.support_password},
            # The Brik modules' role's credentials, to sign GET /entitlements/... (SigV4).
            "brik_modules": {
                "access_key_id": key,
                "secret_access_key": p["secret"],
                "region": REGION,
            },
            # The queue each function's event source mapping takes its batches from.
            "queues": {s.binary: self.queue_url(s.queue_arn) for s in self.queue_sources},
            # Every route of template.yaml and how the gateway authenticates it: the tests that
            # must cover each route (tenant isolation, hostile input) read them from here.
            "routes": [
                {
                    "method": r.method,
                    "path": r.path,
                    "function": r.binary,
                    "auth": "jwt" if r.authorized else ("iam" if r.authorizer == IAM else "none"),
                }
                for r in self.routes
            ],
        }
        self.stack_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.stack_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(description, indent=2))
        tmp.replace(self.stack_file)

    def stop(self) -> None:
        if self.gateway is not None:
            self.gateway.shutdown()
        for child in reversed(self.children):
            try:
                os.killpg(child.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for child in self.children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
        self.stack_file.unlink(missing_ok=True)


def iam_problems(report: dict) -> int:
    """Least privilege both ways, after a whole test run: no request was denied, and every grant
    of every policy was used by an allowed request. 1 if either fails."""
    for d in report["denied"]:
        log(f"IAM denied: {d['function']} {d['action']} on {d['resource']} (request {d['request']})")
    for u in report["unused"]:
        log(f"IAM grant never used: {u['function']} statement {u['sid']}: {u['action']} on {u['resource']}")
    log(
        f"IAM: {report['requests']} requests of the functions evaluated, {len(report['denied'])} denied, "
        f"{len(report['unused'])} grants unused"
    )
    return 1 if report["denied"] or report["unused"] else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["up", "run"])
    parser.add_argument("command", nargs=argparse.REMAINDER)
    env = os.environ.get
    parser.add_argument("--api-port", default=env("SOFTBRIK_API_PORT") or 3000)
    parser.add_argument("--aws-port", default=env("SOFTBRIK_AWS_PORT") or 4566)
    parser.add_argument("--lambda-port", default=env("SOFTBRIK_LAMBDA_PORT") or 9000)
    parser.add_argument("--stripe-port", default=env("SOFTBRIK_STRIPE_PORT") or 8420)
    parser.add_argument("--stack-file", default=str(ROOT / ".local" / "stack.json"))
    parser.add_argument("--watch", action="store_true", help="rebuild functions when the code changes")
    parser.add_argument(
        "--parameter", action="append", default=[], metavar="NAME=VALUE",
        help="a template parameter, as sam deploy --parameter-overrides gives it (repeatable)",
    )
    parser.add_argument(
        "--check-iam", action="store_true",
        help="with run: fail if a request was denied or a policy grants what no request used",
    )
    args = parser.parse_args()

    stack = Stack(args)
    # SIGTERM and SIGHUP (a closed terminal) stop everything, as Ctrl-C does.
    for stop_signal in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop_signal, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        stack.start()
        if args.mode == "run":
            command = args.command[1:] if args.command[:1] == ["--"] else args.command
            env = dict(os.environ, SOFTBRIK_STACK=str(stack.stack_file))
            code = subprocess.run(command, cwd=ROOT, env=env).returncode
            if args.check_iam:
                code = code or iam_problems(stack.iam_report())
            return code
        print(
            f"""
Softbrik is running.
  API            http://127.0.0.1:{stack.api_port}   (try: curl http://127.0.0.1:{stack.api_port}/briks)
  AWS emulator   {stack.endpoint}
  Stripe         {stack.stripe_url}  (localstripe; PaymentsProvider=stripe in template.yaml uses it)
  Sent mail      {stack.endpoint}/moto-api/data.json  (key "ses")
  Stack          {stack.stack_file}
  Logs           {stack.logs}/
Ctrl-C stops everything.""",
            flush=True,
        )
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        # A second signal (make passing SIGTERM on, a terminal's SIGHUP after it) must not cut
        # the stopping short and leave the emulators or cargo-lambda running.
        for stop_signal in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(stop_signal, signal.SIG_IGN)
        log("stopping")
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
