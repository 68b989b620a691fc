#!/usr/bin/env python3
"""Checks of template.yaml that `sam validate --lint` does not make (run by `make template`).

- Every HttpApi route of the template is in docs/openapi.yaml, and every operation there is a
  route of the template, so the contract and the deployment cannot drift apart.
- docs/openapi.yaml is a valid OpenAPI 3.1 document.
- Least privilege and safe defaults (security.md): no function policy grants a `*` action or
  a `*` resource, the bucket blocks public access, the table has point-in-time recovery, the
  KMS key rotates, GuardDuty is declared.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml
from openapi_spec_validator import validate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from devstack import ROOT, Template, routes  # noqa: E402


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
    return problems


def safety_problems(template: Template) -> list[str]:
    problems = []
    resources = template.raw["Resources"]
    for lid, res in resources.items():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::S3::Bucket":
            block = props.get("PublicAccessBlockConfiguration", {})
            if not all(block.get(k) for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")):
                problems.append(f"{lid}: public access is not fully blocked")
            if "BucketEncryption" not in props:
                problems.append(f"{lid}: not encrypted with the customer managed key")
        if res["Type"] == "AWS::DynamoDB::Table":
            if not props.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled"):
                problems.append(f"{lid}: point-in-time recovery is off")
            if not props.get("SSESpecification", {}).get("KMSMasterKeyId"):
                problems.append(f"{lid}: not encrypted with the customer managed key")
        if res["Type"] == "AWS::KMS::Key" and not props.get("EnableKeyRotation"):
            problems.append(f"{lid}: key rotation is off")
    detectors = [r for r in resources.values() if r["Type"] == "AWS::GuardDuty::Detector"]
    if not detectors or not all(d.get("Properties", {}).get("Enable") for d in detectors):
        problems.append("GuardDuty is not enabled")
    return problems


def main() -> int:
    template = Template(ROOT / "template.yaml", stage="dev")
    spec = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())
    validate(spec)
    problems = route_problems(template, spec) + policy_problems(template) + safety_problems(template)
    for p in problems:
        print(f"template check: {p}", file=sys.stderr)
    print(f"template checks: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
