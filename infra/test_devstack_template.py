#!/usr/bin/env python3
"""What the local stack refuses of a template as AWS would (run by `make template`): a
parameter override outside its bounds, allowed values or pattern (CloudFormation refuses the
deployment), and an SQS event whose queue's visibility timeout is below the function's timeout
(Lambda refuses the event source mapping). Without these checks a bench or a test could run a
stack that `sam deploy` would never create.
"""

from __future__ import annotations

import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import devstack  # noqa: E402

TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Workers: {{Type: Number, Default: 4, MinValue: 2, MaxValue: 100}}
  Provider: {{Type: String, Default: sandbox, AllowedValues: [sandbox, stripe]}}
  Price: {{Type: String, Default: "5.00", AllowedPattern: "^[0-9]{{1,6}}(\\\\.[0-9]{{1,2}})?$"}}
Globals:
  Function:
    Timeout: 20
Resources:
  WorkQueue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: {visibility}
  WorkFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: work
    Properties:
      Timeout: 900
      Events:
        Work:
          Type: SQS
          Properties:
            Queue: {{"Fn::GetAtt": [WorkQueue, Arn]}}
            ScalingConfig: {{MaximumConcurrency: {{Ref: Workers}}}}
"""


def template(visibility: int = 5400, overrides: dict[str, str] | None = None) -> devstack.Template:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(textwrap.dedent(TEMPLATE.format(visibility=visibility)))
    t = devstack.Template(Path(f.name), "dev", overrides)
    t.attributes[("WorkQueue", "Arn")] = "arn:aws:sqs:eu-west-1:123456789012:work"
    return t


class Overrides(unittest.TestCase):
    def test_values_within_the_parameters_rules_are_taken(self):
        t = template(overrides={"Workers": "8", "Provider": "stripe", "Price": "4.50"})
        self.assertEqual(t.params["Workers"], "8")
        self.assertEqual(t.params["Price"], "4.50")

    def test_a_number_below_its_minimum_or_above_its_maximum_is_refused(self):
        for value in ("1", "101", "many"):
            with self.assertRaises(SystemExit, msg=value):
                template(overrides={"Workers": value})

    def test_a_value_not_allowed_or_not_matching_the_pattern_is_refused(self):
        with self.assertRaises(SystemExit):
            template(overrides={"Provider": "paypal"})
        with self.assertRaises(SystemExit):
            template(overrides={"Price": "4.505"})


class QueueMappings(unittest.TestCase):
    def test_a_queue_visible_again_after_the_function_may_end_is_mapped(self):
        (source,) = devstack.queue_sources(template(visibility=900))
        self.assertEqual((source.binary, source.concurrency), ("work", 4))

    def test_a_queue_visible_again_before_the_function_may_end_is_refused(self):
        with self.assertRaises(SystemExit):
            devstack.queue_sources(template(visibility=899))


if __name__ == "__main__":
    unittest.main()
