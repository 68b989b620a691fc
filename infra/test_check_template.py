#!/usr/bin/env python3
"""Tests of infra/check_template.py (run by `make template`): the checks pass on template.yaml
as it is, and each one fails when the template is broken the way it guards against: a `*`
action or resource in a function policy, a bucket open to the public, point-in-time recovery
or GuardDuty off, an unrotated key, a bucket without its TLS-only policy, mail handed to a
function unscanned, the mail intake reachable without IAM, a route missing from the OpenAPI
document. A check that could never fail would pass these tests' first case only.
"""

from __future__ import annotations

import copy
import sys
import unittest
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import check_template as check  # noqa: E402
from devstack import ROOT, Template  # noqa: E402

TEMPLATE = Template(ROOT / "template.yaml", stage="dev")
SPEC = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())


def broken(change) -> Template:
    """template.yaml with `change(resources)` applied to a copy of its resources."""
    t = copy.copy(TEMPLATE)
    t.raw = copy.deepcopy(TEMPLATE.raw)
    change(t.raw["Resources"])
    t.resources = dict(t.raw["Resources"])
    return t


def broken_raw(change) -> Template:
    """template.yaml with `change(raw)` applied to a copy of the whole document."""
    t = copy.copy(TEMPLATE)
    t.raw = copy.deepcopy(TEMPLATE.raw)
    change(t.raw)
    t.resources = dict(t.raw["Resources"])
    return t


def of_type(resources: dict, kind: str) -> list[dict]:
    return [r for r in resources.values() if r.get("Type") == kind]


def first_statement(resources: dict) -> dict:
    fn = of_type(resources, "AWS::Serverless::Function")[0]
    return fn["Properties"]["Policies"][0]["Statement"][0]


def all_problems(t: Template, spec=SPEC) -> list[str]:
    return (
        check.route_problems(t, spec)
        + check.policy_problems(t)
        + check.safety_problems(t)
        + check.mail_problems(t)
        + check.route_auth_problems(t)
        + check.log_problems(t)
        + check.retention_problems(t)
        + check.prod_parameter_problems(t)
    )


class TemplateChecks(unittest.TestCase):
    def assert_caught(self, t: Template, words: str, spec=SPEC) -> None:
        problems = all_problems(t, spec)
        self.assertTrue(any(words in p for p in problems), f"'{words}' not in {problems}")

    def test_the_template_as_it_is_passes(self):
        self.assertEqual(all_problems(TEMPLATE), [])

    def test_a_wildcard_action_is_caught(self):
        def change(res):
            first_statement(res)["Action"] = ["dynamodb:*"]

        self.assert_caught(broken(change), "wildcard action")

    def test_a_bare_star_action_is_caught(self):
        def change(res):
            first_statement(res)["Action"] = "*"

        self.assert_caught(broken(change), "wildcard action")

    def test_a_star_resource_is_caught(self):
        def change(res):
            first_statement(res)["Resource"] = "*"

        self.assert_caught(broken(change), "grants every resource")

    def test_a_bucket_open_to_the_public_is_caught(self):
        def change(res):
            bucket = of_type(res, "AWS::S3::Bucket")[0]
            bucket["Properties"]["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] = False

        self.assert_caught(broken(change), "public access is not fully blocked")

    def test_point_in_time_recovery_off_is_caught(self):
        def change(res):
            table = of_type(res, "AWS::DynamoDB::Table")[0]
            table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] = False

        self.assert_caught(broken(change), "point-in-time recovery is off")

    def test_guardduty_off_or_missing_is_caught(self):
        def disable(res):
            of_type(res, "AWS::GuardDuty::Detector")[0]["Properties"]["Enable"] = False

        def remove(res):
            for lid in [k for k, v in res.items() if v.get("Type") == "AWS::GuardDuty::Detector"]:
                del res[lid]

        self.assert_caught(broken(disable), "GuardDuty is not enabled")
        self.assert_caught(broken(remove), "GuardDuty is not enabled")

    def test_key_rotation_off_is_caught(self):
        def change(res):
            of_type(res, "AWS::KMS::Key")[0]["Properties"]["EnableKeyRotation"] = False

        self.assert_caught(broken(change), "key rotation is off")

    def test_a_bucket_without_its_tls_only_policy_is_caught(self):
        def change(res):
            for lid in [k for k, v in res.items() if v.get("Type") == "AWS::S3::BucketPolicy"]:
                del res[lid]

        self.assert_caught(broken(change), "denies requests without TLS")

    def test_unscanned_mail_handed_to_a_function_is_caught(self):
        def change(res):
            rule = of_type(res, "AWS::SES::ReceiptRule")[0]
            rule["Properties"]["Rule"]["ScanEnabled"] = False

        self.assert_caught(broken(change), "without spam and virus scanning")

    def test_a_public_mail_intake_is_caught(self):
        def change(res):
            for fn in of_type(res, "AWS::Serverless::Function"):
                for event in fn["Properties"].get("Events", {}).values():
                    if event.get("Properties", {}).get("Path") == "/inbound/email":
                        event["Properties"]["Auth"] = {"Authorizer": "NONE"}

        self.assert_caught(broken(change), "must use the AWS_IAM authorizer")

    def test_a_route_missing_from_the_openapi_document_is_caught(self):
        spec = copy.deepcopy(SPEC)
        del spec["paths"]["/reseller/usage"]
        self.assert_caught(TEMPLATE, "route GET /reseller/usage is not in docs/openapi.yaml", spec)


    def test_a_transaction_granted_as_an_action_is_caught(self):
        def change(resources):
            first_statement(resources)["Action"] = ["dynamodb:GetItem", "dynamodb:TransactWriteItems"]

        self.assert_caught(broken(change), "not an IAM action")

    def test_a_function_without_its_log_group_is_caught(self):
        self.assert_caught(broken(lambda r: r.pop("RenewLogs")), "RenewFunction: no log group")

    def test_a_log_group_without_retention_or_key_is_caught(self):
        self.assert_caught(broken(lambda r: r["RenewLogs"]["Properties"].pop("RetentionInDays")), "keeps logs forever")
        self.assert_caught(broken(lambda r: r["RenewLogs"]["Properties"].pop("KmsKeyId")), "not encrypted")

    def test_a_log_group_outliving_its_conditional_function_is_caught(self):
        self.assert_caught(broken(lambda r: r["TestClockLogs"].pop("Condition")), "another condition")

    def test_invoice_data_not_retained_is_caught(self):
        for lid in ("Table", "DataKey", "MailBucket"):
            self.assert_caught(broken(lambda r, lid=lid: r[lid].pop("DeletionPolicy")), f"{lid}: not retained")
            self.assert_caught(broken(lambda r, lid=lid: r[lid].pop("UpdateReplacePolicy")), f"{lid}: not retained")

    def test_a_prod_deploy_keeping_a_placeholder_issuer_is_caught(self):
        self.assert_caught(broken_raw(lambda raw: raw["Rules"].pop("NoPlaceholderIssuerInProd")), "IssuerVatNumber")

        def other_default(raw):
            raw["Parameters"]["IssuerAddress"]["Default"] = "Somewhere 2"

        self.assert_caught(broken_raw(other_default), "IssuerAddress: a prod deploy does not refuse")


    def test_point_in_time_recovery_on_the_keys_table_is_caught(self):
        def change(resources):
            resources["KeysTable"]["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] = True

        self.assert_caught(broken(change), "KeysTable: holds the accounts' keys")


if __name__ == "__main__":
    unittest.main(verbosity=1)
