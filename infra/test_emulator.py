#!/usr/bin/env python3
"""Tests of infra/emulator.py's transactions (run by `make template`): each case runs against
moto's own TransactWriteItems and against the emulator's, which does not copy the table, and
both must leave the same items and give the same answer: a condition that fails writes
nothing, a write that fails puts back the ones before it, two actions on one item are refused.
"""

from __future__ import annotations

import sys
import unittest
from pathlib import Path

import boto3
import botocore.exceptions
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend

sys.path.insert(0, str(Path(__file__).resolve().parent))
import emulator  # noqa: E402

MOTO = DynamoDBBackend.transact_write_items


def key(pk: str) -> dict:
    return {"pk": {"S": pk}, "sk": {"S": "A"}}


def put(pk: str, condition: str | None = None, **extra) -> dict:
    op = {"TableName": "t", "Item": {**key(pk), "n": {"N": "1"}, "m": {"M": {"z": {"S": pk}}}}, **extra}
    if condition:
        op["ConditionExpression"] = condition
    return {"Put": op}


def update(pk: str, expression: str, value: dict) -> dict:
    return {
        "Update": {
            "TableName": "t",
            "Key": key(pk),
            "UpdateExpression": expression,
            "ExpressionAttributeValues": {":v": value},
        }
    }


CASES = {
    "all written": [put("a"), update("x", "SET n = :v", {"N": "9"}), {"Delete": {"TableName": "t", "Key": key("y")}}],
    "a condition fails": [
        put("a"),
        put("x", "attribute_not_exists(pk)", ReturnValuesOnConditionCheckFailure="ALL_OLD"),
    ],
    "a condition check fails": [
        put("a"),
        {"ConditionCheck": {"TableName": "t", "Key": key("y"), "ConditionExpression": "attribute_not_exists(pk)"}},
    ],
    "a write fails after two": [
        put("b"),
        update("x", "SET n = :v", {"N": "9"}),
        update("y", "SET n = n + :v", {"S": "not a number"}),
    ],
    "one item twice": [put("c"), put("c")],
}


def outcome(transaction: list[dict], patched: bool):
    """What the transaction answers, and every item afterwards."""
    DynamoDBBackend.transact_write_items = emulator.transact_write_items if patched else MOTO
    try:
        with mock_aws():
            db = boto3.client(
                "dynamodb", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
            )
            db.create_table(
                TableName="t",
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                AttributeDefinitions=[
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
                BillingMode="PAY_PER_REQUEST",
            )
            db.put_item(TableName="t", Item={**key("x"), "n": {"N": "5"}})
            db.put_item(TableName="t", Item={**key("y"), "n": {"N": "7"}})
            try:
                db.transact_write_items(TransactItems=transaction)
                answer = "ok"
            except botocore.exceptions.ClientError as e:
                answer = (e.response["Error"]["Code"], e.response.get("CancellationReasons"))
            items = sorted(db.scan(TableName="t")["Items"], key=lambda i: i["pk"]["S"])
            return answer, items
    finally:
        DynamoDBBackend.transact_write_items = MOTO


class Transactions(unittest.TestCase):
    def test_same_outcome_as_moto(self):
        for name, transaction in CASES.items():
            with self.subTest(name):
                self.assertEqual(outcome(transaction, patched=True), outcome(transaction, patched=False))

    def test_the_cases_cover_success_and_each_failure(self):
        answers = {name: outcome(t, patched=True)[0] for name, t in CASES.items()}
        self.assertEqual(answers["all written"], "ok")
        self.assertEqual(answers["a condition fails"][0], "TransactionCanceledException")
        self.assertEqual(answers["a condition check fails"][0], "TransactionCanceledException")
        self.assertEqual(answers["a write fails after two"][0], "ValidationException")
        self.assertEqual(answers["one item twice"][0], "ValidationException")
        _, items = outcome(CASES["a write fails after two"], patched=True)
        self.assertEqual([i["pk"]["S"] for i in items], ["x", "y"])
        self.assertEqual(items[0]["n"], {"N": "5"})


if __name__ == "__main__":
    unittest.main()
