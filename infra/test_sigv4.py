"""The local gateway's SigV4 check of AWS_IAM routes (devstack.verify_sigv4): a request the
Brik modules' role signed passes; a wrong secret, another service, an altered path or an old
signature does not."""

import datetime as dt
import unittest

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

import devstack

PRINCIPALS = {"LOCALROLEX": {"role": "X", "arn": "arn:aws:iam::123456789012:role/X", "secret": "s3cret", "statements": []}}
URL = "http://127.0.0.1:3000/entitlements/acc_1/users/usr_1"


def signed(url: str = URL, secret: str = "s3cret", service: str = "execute-api") -> dict:
    request = AWSRequest(method="GET", url=url, headers={"host": "127.0.0.1:3000"})
    SigV4Auth(Credentials("LOCALROLEX", secret), service, devstack.REGION).add_auth(request)
    return {k.lower(): v for k, v in request.headers.items()}


class VerifySigV4(unittest.TestCase):
    def test_the_roles_signature_passes(self):
        principal = devstack.verify_sigv4(PRINCIPALS, "GET", URL, signed(), b"")
        self.assertEqual(principal["role"], "X")

    def test_a_wrong_secret_another_service_or_path_fail(self):
        self.assertIsNone(devstack.verify_sigv4(PRINCIPALS, "GET", URL, signed(secret="nope"), b""))
        self.assertIsNone(devstack.verify_sigv4(PRINCIPALS, "GET", URL, signed(service="s3"), b""))
        other = URL.replace("usr_1", "usr_2")
        self.assertIsNone(devstack.verify_sigv4(PRINCIPALS, "GET", other, signed(), b""))
        self.assertIsNone(devstack.verify_sigv4(PRINCIPALS, "POST", URL, signed(), b""))

    def test_no_signature_a_bearer_token_or_an_old_signature_fail(self):
        self.assertIsNone(devstack.verify_sigv4(PRINCIPALS, "GET", URL, {"host": "127.0.0.1:3000"}, b""))
        token = {"host": "127.0.0.1:3000", "authorization": "Bearer eyJ..."}
        self.assertIsNone(devstack.verify_sigv4(PRINCIPALS, "GET", URL, token, b""))
        headers = signed()
        old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=20)
        headers["x-amz-date"] = old.strftime("%Y%m%dT%H%M%SZ")
        self.assertIsNone(devstack.verify_sigv4(PRINCIPALS, "GET", URL, headers, b""))


if __name__ == "__main__":
    unittest.main()
