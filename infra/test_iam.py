#!/usr/bin/env python3
"""Tests of the local stack's IAM enforcement (infra/iam.py, run by `make template`).

The policy evaluation on its own (wildcards, an explicit Deny, conditions, absent keys), the
actions a request needs (a transaction item by item, an index query on the index), and the
emulator enforcing a policy that lacks one action: the request fails as AWS fails it
(AccessDeniedException, nothing written), the same request passes once the action is granted,
and every evaluation is a line of the calls log.
"""

from __future__ import annotations

import json
import socket
import sys
import tempfile
import threading
import unittest
from pathlib import Path

import boto3
import botocore.exceptions
from werkzeug.serving import make_server

sys.path.insert(0, str(Path(__file__).resolve().parent))
import emulator  # noqa: E402
import iam  # noqa: E402

ACCOUNT = iam.Account("eu-west-1", "123456789012")
TABLE = "arn:aws:dynamodb:eu-west-1:123456789012:table/t"


class Evaluation(unittest.TestCase):
    def test_wildcards_match_actions_without_case_and_resources_with_it(self):
        policy = [{"Effect": "Allow", "Action": "dynamodb:Get*", "Resource": TABLE + "/index/*"}]
        self.assertTrue(iam.evaluate(policy, iam.Need("DynamoDB:GetItem", TABLE + "/index/g1"))[0])
        self.assertFalse(iam.evaluate(policy, iam.Need("dynamodb:GetItem", TABLE))[0])
        self.assertFalse(iam.evaluate(policy, iam.Need("dynamodb:GetItem", TABLE.upper() + "/index/g1"))[0])

    def test_an_explicit_deny_wins_over_any_allow(self):
        policy = [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"},
            {"Effect": "Deny", "NotAction": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"},
        ]
        self.assertTrue(iam.evaluate(policy, iam.Need("s3:GetObject", "arn:aws:s3:::b/k"))[0])
        self.assertFalse(iam.evaluate(policy, iam.Need("s3:PutObject", "arn:aws:s3:::b/k"))[0])

    def test_nothing_granted_is_the_implicit_deny(self):
        self.assertEqual(iam.evaluate([], iam.Need("kms:Decrypt", "arn:aws:kms:::key/k")), (False, []))

    def test_conditions_and_absent_keys(self):
        listing = {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": "arn:aws:s3:::b",
            "Condition": {"StringLike": {"s3:prefix": "attachments/*"}},
        }
        need = lambda ctx: iam.Need("s3:ListBucket", "arn:aws:s3:::b", ctx)  # noqa: E731
        self.assertTrue(iam.evaluate([listing], need({"s3:prefix": "attachments/a1/"}))[0])
        self.assertFalse(iam.evaluate([listing], need({"s3:prefix": "inbound/"}))[0])
        self.assertFalse(iam.evaluate([listing], need({}))[0], "an absent key matches no StringLike")
        negated = dict(listing, Condition={"StringNotLike": {"s3:prefix": "inbound/*"}})
        self.assertTrue(iam.evaluate([negated], need({}))[0], "a negated operator holds when the key is absent")
        if_exists = dict(listing, Condition={"StringLikeIfExists": {"s3:prefix": "attachments/*"}})
        self.assertTrue(iam.evaluate([if_exists], need({}))[0])
        every = dict(listing, Condition={"ForAllValues:StringEquals": {"k": ["a", "b"]}})
        self.assertTrue(iam.evaluate([every], need({"k": ["a", "b"]}))[0])
        self.assertFalse(iam.evaluate([every], need({"k": ["a", "c"]}))[0])

    def test_an_unknown_condition_operator_is_refused_when_loaded(self):
        with self.assertRaises(ValueError):
            iam.check_operator("DateGreaterThanIfExists")


class Needs(unittest.TestCase):
    def test_a_transaction_needs_each_items_own_action(self):
        body = {"TransactItems": [
            {"Put": {"TableName": "t", "Item": {}}},
            {"Update": {"TableName": "t", "Key": {}, "UpdateExpression": "SET a = :a"}},
            {"Delete": {"TableName": "t", "Key": {}}},
            {"ConditionCheck": {"TableName": "t", "Key": {}, "ConditionExpression": "a = :a"}},
        ]}
        needs = iam.json_needs(ACCOUNT, "DynamoDB_20120810.TransactWriteItems", body)
        self.assertEqual(
            [n.action for n in needs],
            ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"],
        )
        self.assertEqual({n.resource for n in needs}, {TABLE})

    def test_an_index_query_needs_the_index(self):
        needs = iam.json_needs(ACCOUNT, "DynamoDB_20120810.Query", {"TableName": "t", "IndexName": "gsi2"})
        self.assertEqual(needs, [iam.Need("dynamodb:Query", TABLE + "/index/gsi2")])

    def test_a_batch_delete_needs_each_object(self):
        body = b"<Delete><Object><Key>attachments/a</Key></Object><Object><Key>inbound/b</Key></Object></Delete>"
        needs = iam.s3_needs("POST", "/b", {"delete": [""]}, body, {})
        self.assertEqual([n.resource for n in needs], ["arn:aws:s3:::b/attachments/a", "arn:aws:s3:::b/inbound/b"])

    def test_a_queue_batch_needs_its_single_action_on_the_queue_its_url_names(self):
        url = "http://127.0.0.1:4566/123456789012/softbrik-dev-renew"
        needs = iam.json_needs(ACCOUNT, "AmazonSQS.SendMessageBatch", {"QueueUrl": url, "Entries": []})
        self.assertEqual(
            needs, [iam.Need("sqs:SendMessage", "arn:aws:sqs:eu-west-1:123456789012:softbrik-dev-renew")]
        )
        needs = iam.json_needs(ACCOUNT, "AmazonSQS.GetQueueAttributes", {"QueueUrl": url})
        self.assertEqual([n.action for n in needs], ["sqs:GetQueueAttributes"])
        with self.assertRaises(iam.Unmapped):
            iam.json_needs(ACCOUNT, "AmazonSQS.SendMessage", {"MessageBody": "{}"})

    def test_an_unknown_request_is_not_let_through(self):
        with self.assertRaises(iam.Unmapped):
            iam.json_needs(ACCOUNT, "DynamoDB_20120810.DeleteTable", {})
        with self.assertRaises(iam.Unmapped):
            iam.s3_needs("PUT", "/b", {"policy": [""]}, None, {})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Enforcement(unittest.TestCase):
    """The emulator itself, in this process: a function whose policy lacks UpdateItem."""

    @classmethod
    def setUpClass(cls):
        port = free_port()
        cls.server = make_server("127.0.0.1", port, emulator.build_app(), threaded=True)
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()
        cls.endpoint = f"http://127.0.0.1:{port}"
        cls.logs = tempfile.TemporaryDirectory()
        operator = cls.client("testing")
        operator.create_table(
            TableName="t",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.logs.cleanup()

    @classmethod
    def client(cls, key: str):
        return boto3.client(
            "dynamodb", endpoint_url=cls.endpoint, region_name="eu-west-1",
            aws_access_key_id=key, aws_secret_access_key="s",
        )

    def enforce(self, actions: list[str]) -> Path:
        log = Path(self.logs.name) / f"calls-{len(actions)}.jsonl"
        config = {
            "principals": {"LOCALRENEW": {"function": "RenewFunction", "statements": [
                {"Sid": "Items", "Effect": "Allow", "Action": actions, "Resource": TABLE},
            ]}},
            "operators": ["testing"],
            "log": str(log),
        }
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(
            f"{self.endpoint}/_softbrik/iam", data=json.dumps(config).encode(), method="POST"
        )).read()
        return log

    def transaction(self, pk: str) -> list[dict]:
        return [
            {"Put": {"TableName": "t", "Item": {"pk": {"S": pk}}}},
            {"Update": {"TableName": "t", "Key": {"pk": {"S": "counter"}}, "UpdateExpression": "ADD n :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}}}},
        ]

    def test_a_policy_missing_one_action_fails_the_request_as_aws_does(self):
        log = self.enforce(["dynamodb:GetItem", "dynamodb:PutItem"])
        renew = self.client("LOCALRENEW")
        with self.assertRaises(botocore.exceptions.ClientError) as denied:
            renew.transact_write_items(TransactItems=self.transaction("invoice-1"))
        self.assertEqual(denied.exception.response["Error"]["Code"], "AccessDeniedException")
        self.assertIn("dynamodb:UpdateItem", denied.exception.response["Error"]["Message"])
        self.assertNotIn("Item", self.client("testing").get_item(TableName="t", Key={"pk": {"S": "invoice-1"}}))
        renew.put_item(TableName="t", Item={"pk": {"S": "allowed"}})
        lines = [json.loads(line) for line in log.read_text().splitlines()]
        self.assertEqual(
            [(d["action"], d["allowed"]) for d in lines],
            [("dynamodb:PutItem", True), ("dynamodb:UpdateItem", False), ("dynamodb:PutItem", True)],
        )
        self.assertEqual(lines[0]["request"], lines[1]["request"], "one request, one number")
        self.assertEqual({d["function"] for d in lines}, {"RenewFunction"})
        self.assertEqual(lines[0]["resource"], TABLE)

    def test_the_same_request_passes_once_the_action_is_granted(self):
        self.enforce(["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"])
        self.client("LOCALRENEW").transact_write_items(TransactItems=self.transaction("invoice-2"))
        self.assertIn("Item", self.client("testing").get_item(TableName="t", Key={"pk": {"S": "invoice-2"}}))

    def test_unused_grants_and_unknown_credentials_are_reported(self):
        self.enforce(["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"])
        self.client("LOCALRENEW").get_item(TableName="t", Key={"pk": {"S": "x"}})
        with self.assertRaises(botocore.exceptions.ClientError):
            self.client("SOMEONE").get_item(TableName="t", Key={"pk": {"S": "x"}})
        import urllib.request

        report = json.load(urllib.request.urlopen(f"{self.endpoint}/_softbrik/iam"))
        self.assertEqual(
            sorted(u["action"] for u in report["unused"]), ["dynamodb:DeleteItem", "dynamodb:PutItem"]
        )
        self.assertEqual(len(report["denied"]), 1)


if __name__ == "__main__":
    unittest.main(verbosity=1)
