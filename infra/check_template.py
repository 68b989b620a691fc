#!/usr/bin/env python3
"""Checks of template.yaml that `sam validate --lint` does not make (run by `make template`).

- Every HttpApi route of the template is in docs/openapi.yaml, and every operation there is a
  route of the template, so the contract and the deployment cannot drift apart.
- docs/openapi.yaml is a valid OpenAPI 3.1 document.
- Least privilege and safe defaults (security.md): no function policy grants a `*` action or
  a `*` resource, the bucket blocks public access, the table has point-in-time recovery and
  the keys table (SOFTBRIK_KEYS_TABLE) has none (shredded keys must not come back from a
  restore), the KMS key rotates, GuardDuty is declared.
- Inbound mail (support.md): every bucket has a policy denying requests without TLS, every SES
  receipt rule that hands mail to a function has spam and virus scanning on, and no route
  writing tickets is reachable without authentication: POST /inbound/email and every route of
  ticket-intake use AWS_IAM (on an API that enables it), and no ticket route is public.
- No policy grants an "action" IAM does not have (a transaction is authorised item by item:
  `dynamodb:TransactWriteItems` grants nothing).
- Logs: every function has its own log group (`/aws/lambda/<function>`), with a retention period
  and the customer managed key, deployed under the same condition as the function.
- What holds invoices kept 10 years (tables, keys, buckets) is retained when the stack is deleted
  or the resource replaced (DeletionPolicy and UpdateReplacePolicy Retain).
- A prod deploy refuses the placeholder issuer parameters (a Rule per parameter, asserting that
  a prod stage does not keep the parameter's default).
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml
from openapi_spec_validator import validate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from devstack import IAM, PUBLIC, ROOT, Template, routes  # noqa: E402

# Names of operations that are not IAM actions: granting them grants nothing (AWS authorises a
# transaction by the action of each of its items).
NOT_IAM_ACTIONS = {"dynamodb:TransactWriteItems", "dynamodb:TransactGetItems"}
# Issuer parameters whose defaults are placeholders, printed on every invoice.
PLACEHOLDER_PARAMETERS = ("IssuerAddress", "IssuerVatNumber")
# Resources that hold invoices or what opens them.
RETAINED_TYPES = ("AWS::DynamoDB::Table", "AWS::KMS::Key", "AWS::S3::Bucket")

# Functions that write tickets from what their routes receive.
TICKET_WRITERS = {"tickets", "ticket-intake"}
# Functions whose routes take mail from outside: IAM-signed callers only, never a user's token.
MAIL_INTAKE = {"ticket-intake"}


def route_problems(template: Template, spec: dict) -> list[str]:
    deployed = {(r.method, r.path) for r in routes(template)}
    documented = {
        (method.upper(), path)
        for path, ops in spec.get("paths", {}).items()
        for method in ops
        if method in ("get", "put", "post", "delete", "patch")
    }
    problems = [f"route {m} {p} is not in docs/openapi.yaml" for m, p in sorted(deployed - documented)]
    problems += [f"docs/openapi.yaml has {m} {p}, which template.yaml does not route" for m, p in sorted(documented - deployed)]
    return problems


def policy_problems(template: Template) -> list[str]:
    problems = []
    for lid, res in template.raw["Resources"].items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        for policy in res.get("Properties", {}).get("Policies", []):
            for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
                actions = statement.get("Action", [])
                actions = [actions] if isinstance(actions, str) else actions
                resources = statement.get("Resource", [])
                resources = [resources] if not isinstance(resources, list) else resources
                if any(a == "*" or a.endswith(":*") for a in actions):
                    problems.append(f"{lid}: statement {statement.get('Sid')} grants a wildcard action")
                if any(r == "*" for r in resources):
                    problems.append(f"{lid}: statement {statement.get('Sid')} grants every resource")
                for a in sorted(set(actions) & NOT_IAM_ACTIONS):
                    problems.append(f"{lid}: statement {statement.get('Sid')} grants {a}, which is not an IAM action")
    return problems


def log_problems(template: Template) -> list[str]:
    resources = template.raw["Resources"]
    groups = {
        str(res.get("Properties", {}).get("LogGroupName", {}).get("Fn::Sub", "")): res
        for res in resources.values()
        if res["Type"] == "AWS::Logs::LogGroup" and isinstance(res.get("Properties", {}).get("LogGroupName"), dict)
    }
    problems = []
    for lid, res in resources.items():
        if res["Type"] != "AWS::Serverless::Function":
            continue
        group = groups.get(f"/aws/lambda/${{{lid}}}")
        if group is None:
            problems.append(f"{lid}: no log group of its own (/aws/lambda/${{{lid}}})")
            continue
        props = group.get("Properties", {})
        if not props.get("RetentionInDays"):
            problems.append(f"{lid}: its log group keeps logs forever (no RetentionInDays)")
        if not props.get("KmsKeyId"):
            problems.append(f"{lid}: its log group is not encrypted with the customer managed key")
        if group.get("Condition") != res.get("Condition"):
            problems.append(f"{lid}: its log group is deployed under another condition than the function")
    return problems


def retention_problems(template: Template) -> list[str]:
    return [
        f"{lid}: not retained when the stack is deleted or it is replaced (DeletionPolicy and UpdateReplacePolicy Retain)"
        for lid, res in template.raw["Resources"].items()
        if res["Type"] in RETAINED_TYPES
        and not (res.get("DeletionPolicy") == "Retain" and res.get("UpdateReplacePolicy") == "Retain")
    ]


def _is_prod_rule(rule: dict) -> bool:
    return rule.get("RuleCondition") in (
        {"Fn::Equals": [{"Ref": "Stage"}, "prod"]},
        {"Fn::Equals": ["prod", {"Ref": "Stage"}]},
    )


def prod_parameter_problems(template: Template) -> list[str]:
    problems = []
    asserted = [
        a.get("Assert")
        for rule in template.raw.get("Rules", {}).values()
        if _is_prod_rule(rule)
        for a in rule.get("Assertions", [])
    ]
    for name in PLACEHOLDER_PARAMETERS:
        default = template.raw["Parameters"][name].get("Default")
        refuses = {"Fn::Not": [{"Fn::Equals": [{"Ref": name}, default]}]}
        if refuses not in asserted:
            problems.append(f"{name}: a prod deploy does not refuse its placeholder default {default!r}")
    return problems


def safety_problems(template: Template) -> list[str]:
    problems = []
    resources = template.raw["Resources"]
    env = template.raw.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    keys_tables = {_ref(env.get("SOFTBRIK_KEYS_TABLE"))} - {None}
    if not keys_tables:
        problems.append("the functions are given no keys table (SOFTBRIK_KEYS_TABLE)")
    for lid, res in resources.items():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::S3::Bucket":
            block = props.get("PublicAccessBlockConfiguration", {})
            if not all(block.get(k) for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")):
                problems.append(f"{lid}: public access is not fully blocked")
            if "BucketEncryption" not in props:
                problems.append(f"{lid}: not encrypted with the customer managed key")
        if res["Type"] == "AWS::DynamoDB::Table":
            recovers = props.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled")
            if lid in keys_tables and recovers is not False:
                problems.append(f"{lid}: holds the accounts' keys, so point-in-time recovery must be off (a restore would bring shredded keys back)")
            if lid not in keys_tables and not recovers:
                problems.append(f"{lid}: point-in-time recovery is off")
            if not props.get("SSESpecification", {}).get("KMSMasterKeyId"):
                problems.append(f"{lid}: not encrypted with the customer managed key")
        if res["Type"] == "AWS::KMS::Key" and not props.get("EnableKeyRotation"):
            problems.append(f"{lid}: key rotation is off")
    detectors = [r for r in resources.values() if r["Type"] == "AWS::GuardDuty::Detector"]
    if not detectors or not all(d.get("Properties", {}).get("Enable") for d in detectors):
        problems.append("GuardDuty is not enabled")
    return problems


def _ref(value) -> str | None:
    return value.get("Ref") if isinstance(value, dict) else None


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _arn_text(value) -> str:
    """An ARN as written in the template, in Fn::Sub form: GetAtt [B, Arn] reads ${B.Arn}."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        att = value["Fn::GetAtt"]
        return "${%s}" % (".".join(att) if isinstance(att, list) else att)
    if isinstance(value, dict) and isinstance(value.get("Fn::Sub"), str):
        return value["Fn::Sub"]
    return str(value)


def _denies_insecure_transport(statement: dict, bucket: str) -> bool:
    """A Deny of every S3 action on the bucket and its objects when the request is not TLS."""
    condition = statement.get("Condition", {}).get("Bool", {})
    actions = _as_list(statement.get("Action", []))
    resources = {_arn_text(r) for r in _as_list(statement.get("Resource", []))}
    covers_bucket = f"${{{bucket}.Arn}}" in resources
    covers_objects = f"${{{bucket}.Arn}}/*" in resources
    return (
        statement.get("Effect") == "Deny"
        and statement.get("Principal") in ("*", {"AWS": "*"})
        and "s3:*" in actions
        and str(condition.get("aws:SecureTransport")).lower() == "false"
        and covers_bucket
        and covers_objects
    )


def mail_problems(template: Template) -> list[str]:
    problems = []
    resources = template.raw["Resources"]
    policies = [res.get("Properties", {}) for res in resources.values() if res["Type"] == "AWS::S3::BucketPolicy"]
    for lid, res in resources.items():
        if res["Type"] == "AWS::S3::Bucket":
            statements = [
                st
                for p in policies
                if _ref(p.get("Bucket")) == lid
                for st in _as_list(p.get("PolicyDocument", {}).get("Statement", []))
            ]
            if not any(_denies_insecure_transport(st, lid) for st in statements):
                problems.append(f"{lid}: no bucket policy denies requests without TLS (aws:SecureTransport)")
        if res["Type"] == "AWS::SES::ReceiptRule":
            rule = res.get("Properties", {}).get("Rule", {})
            if any("LambdaAction" in action for action in rule.get("Actions", [])) and rule.get("ScanEnabled") is not True:
                problems.append(f"{lid}: hands mail to a function without spam and virus scanning (ScanEnabled)")
    return problems


def route_auth_problems(template: Template) -> list[str]:
    problems = []
    iam_apis = {
        lid
        for lid, api in template.of_type("AWS::Serverless::HttpApi")
        if api.get("Properties", {}).get("Auth", {}).get("EnableIamAuthorizer") is True
    }
    for r in routes(template):
        if (r.path == "/inbound/email" or r.binary in MAIL_INTAKE) and r.authorizer != IAM:
            problems.append(f"{r.key} ({r.binary}) must use the AWS_IAM authorizer, not {r.authorizer}")
        if r.authorizer == IAM and r.api not in iam_apis:
            problems.append(f"{r.key} uses AWS_IAM on {r.api}, which does not set Auth.EnableIamAuthorizer")
        if r.binary in TICKET_WRITERS and r.authorizer in (None, PUBLIC):
            problems.append(f"{r.key} ({r.binary}) writes tickets and is public")
    return problems


def main() -> int:
    template = Template(ROOT / "template.yaml", stage="dev")
    spec = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())
    validate(spec)
    problems = (
        route_problems(template, spec)
        + policy_problems(template)
        + safety_problems(template)
        + mail_problems(template)
        + route_auth_problems(template)
        + log_problems(template)
        + retention_problems(template)
        + prod_parameter_problems(template)
    )
    for p in problems:
        print(f"template check: {p}", file=sys.stderr)
    print(f"template checks: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
