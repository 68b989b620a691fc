#!/usr/bin/env python3
"""Tests of infra/emulator.py's transactions and queries (run by `make template`).

Transactions: each case runs against moto's own TransactWriteItems and against the emulator's,
which does not copy the table, and both must leave the same items and give the same answer: a
condition that fails writes nothing, a write that fails puts back the ones before it, two
actions on one item are refused.

Queries: each case runs against moto's own Query and the emulator's, which reads only the
partition, over a table of several partitions, and both must give the same pages.

Queue attributes: the emulator's, worked out when read, are moto's for queues of every kind
(standard, FIFO, encrypted, with a redrive policy and a policy), with messages waiting, in
flight and delayed.
"""

from __future__ import annotations

import sys
import unittest
from pathlib import Path

import boto3
import botocore.exceptions
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.sqs.models import Queue

sys.path.insert(0, str(Path(__file__).resolve().parent))
import emulator  # noqa: E402

MOTO = DynamoDBBackend.transact_write_items
MOTO_QUERY = Table.query
MOTO_ATTRIBUTES = Queue.attributes
emulator.MOTO_QUERY = MOTO_QUERY  # what the emulator's query calls, as `install` keeps it


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


def new_table(indexes: list[dict] | None = None):
    """A client of the mocked DynamoDB (inside `mock_aws`) and its table `t` (pk, sk), with
    the global secondary indexes given (their key attributes strings)."""
    db = boto3.client("dynamodb", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    names = ["pk", "sk"] + [k["AttributeName"] for i in indexes or [] for k in i["KeySchema"]]
    db.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in dict.fromkeys(names)],
        BillingMode="PAY_PER_REQUEST",
        **({"GlobalSecondaryIndexes": indexes} if indexes else {}),
    )
    return db


def outcome(transaction: list[dict], patched: bool):
    """What the transaction answers, and every item afterwards."""
    DynamoDBBackend.transact_write_items = emulator.transact_write_items if patched else MOTO
    try:
        with mock_aws():
            db = new_table()
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


QUERIES = {
    "a partition": {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "ACC#2"}}},
    "a partition, backwards": {
        "KeyConditionExpression": "pk = :p",
        "ExpressionAttributeValues": {":p": {"S": "ACC#2"}},
        "ScanIndexForward": False,
    },
    "a prefix": {
        "KeyConditionExpression": "pk = :p AND begins_with(sk, :s)",
        "ExpressionAttributeValues": {":p": {"S": "ACC#2"}, ":s": {"S": "USER#"}},
    },
    "a range": {
        "KeyConditionExpression": "pk = :p AND sk BETWEEN :a AND :b",
        "ExpressionAttributeValues": {":p": {"S": "ACC#1"}, ":a": {"S": "PACK#"}, ":b": {"S": "USER#03"}},
    },
    "a filter and a projection": {
        "KeyConditionExpression": "pk = :p",
        "FilterExpression": "n > :n",
        "ProjectionExpression": "pk, sk",
        "ExpressionAttributeValues": {":p": {"S": "ACC#2"}, ":n": {"N": "3"}},
    },
    "pages of 2": {
        "KeyConditionExpression": "pk = :p AND begins_with(sk, :s)",
        "ExpressionAttributeValues": {":p": {"S": "ACC#1"}, ":s": {"S": "USER#"}},
        "Limit": 2,
    },
    "pages of 2, backwards": {
        "KeyConditionExpression": "pk = :p",
        "ExpressionAttributeValues": {":p": {"S": "ACC#1"}},
        "Limit": 2,
        "ScanIndexForward": False,
    },
    "an empty partition": {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "ACC#9"}}},
    "an index": {
        "IndexName": "due",
        "KeyConditionExpression": "shard = :s AND due <= :d",
        "ExpressionAttributeValues": {":s": {"S": "1"}, ":d": {"S": "2027-03"}},
    },
    "an index, pages of 1, backwards": {
        "IndexName": "due",
        "KeyConditionExpression": "shard = :s",
        "ExpressionAttributeValues": {":s": {"S": "1"}},
        "Limit": 1,
        "ScanIndexForward": False,
    },
    "an index, a partition without items": {
        "IndexName": "due",
        "KeyConditionExpression": "shard = :s",
        "ExpressionAttributeValues": {":s": {"S": "7"}},
    },
}


DUE_INDEX = {
    "IndexName": "due",
    "KeySchema": [{"AttributeName": "shard", "KeyType": "HASH"}, {"AttributeName": "due", "KeyType": "RANGE"}],
    "Projection": {"ProjectionType": "ALL"},
}


def pages(query: dict, patched: bool) -> list:
    """Every page the query answers, following LastEvaluatedKey."""
    Table.query = emulator.query if patched else MOTO_QUERY
    try:
        with mock_aws():
            db = new_table([DUE_INDEX])
            for a in (3, 1, 2):  # partitions written out of order, items too
                db.put_item(TableName="t", Item={"pk": {"S": f"ACC#{a}"}, "sk": {"S": "ACCOUNT"},
                                                 "shard": {"S": str(a % 2)}, "due": {"S": f"2027-0{a}"}})
                for u in (5, 2, 4, 1, 3):
                    db.put_item(TableName="t", Item={"pk": {"S": f"ACC#{a}"}, "sk": {"S": f"USER#{u:02}"},
                                                     "n": {"N": str(u)}})
                db.put_item(TableName="t", Item={"pk": {"S": f"ACC#{a}"}, "sk": {"S": "PACK#1"}, "n": {"N": "9"}})
            answers, start = [], None
            while True:
                page = db.query(TableName="t", **query, **({"ExclusiveStartKey": start} if start else {}))
                answers.append((page["Items"], page["Count"], page.get("LastEvaluatedKey")))
                start = page.get("LastEvaluatedKey")
                if not start:
                    return answers
    finally:
        Table.query = MOTO_QUERY


class Queries(unittest.TestCase):
    def test_same_pages_as_moto(self):
        for name, query in QUERIES.items():
            with self.subTest(name):
                self.assertEqual(pages(query, patched=True), pages(query, patched=False))

    def test_the_cases_read_one_partition_in_order(self):
        answer = pages(QUERIES["a partition"], patched=True)
        self.assertEqual([i["sk"]["S"] for i in answer[0][0]],
                         ["ACCOUNT", "PACK#1", "USER#01", "USER#02", "USER#03", "USER#04", "USER#05"])
        self.assertEqual({i["pk"]["S"] for i in answer[0][0]}, {"ACC#2"})
        self.assertEqual(len(pages(QUERIES["pages of 2"], patched=True)), 3)
        self.assertEqual(pages(QUERIES["an empty partition"], patched=True), [([], 0, None)])
        index = pages(QUERIES["an index"], patched=True)
        self.assertEqual([i["pk"]["S"] for i in index[0][0]], ["ACC#1", "ACC#3"])
        backwards = pages(QUERIES["an index, pages of 1, backwards"], patched=True)
        self.assertEqual([page[0][0]["pk"]["S"] for page in backwards], ["ACC#3", "ACC#1"])


class QueueAttributes(unittest.TestCase):
    def test_same_attributes_as_moto_for_every_kind_of_queue(self):
        with mock_aws():
            sqs = boto3.client("sqs", region_name="eu-west-1")
            dlq = sqs.create_queue(QueueName="dead")["QueueUrl"]
            dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            kinds = {
                "standard": {},
                "redriven": {
                    "RedrivePolicy": f'{{"deadLetterTargetArn": "{dlq_arn}", "maxReceiveCount": "5"}}',
                    "Policy": '{"Version": "2012-10-17", "Statement": []}',
                    "SqsManagedSseEnabled": "true",
                },
                "encrypted": {"KmsMasterKeyId": "alias/aws/sqs"},
                "ordered.fifo": {"FifoQueue": "true", "ContentBasedDeduplication": "true"},
            }
            from moto.sqs.models import sqs_backends

            for name, attributes in kinds.items():
                url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
                extra = {"MessageGroupId": "g"} if name.endswith(".fifo") else {}
                for i in range(3):
                    sqs.send_message(QueueUrl=url, MessageBody=f"m{i}", **extra)
                sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)
                if not name.endswith(".fifo"):
                    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
                queue = sqs_backends["123456789012"]["eu-west-1"].queues[name]
                theirs = MOTO_ATTRIBUTES.fget(queue)
                ours = dict(emulator.QueueAttributes(queue))
                self.assertEqual(ours, theirs, name)
                self.assertEqual(theirs["ApproximateNumberOfMessagesNotVisible"], 1, name)
                self.assertEqual(emulator.QueueAttributes(queue).get("ContentBasedDeduplication"),
                                 theirs.get("ContentBasedDeduplication"), name)


if __name__ == "__main__":
    unittest.main()
