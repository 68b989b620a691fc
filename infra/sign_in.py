"""Signs in to the local stack through Cognito (the emulator) and prints the ID token the API
takes as `Authorization: Bearer ...`.

    infra/sign-in EMAIL PASSWORD     a company's admin or member
    infra/sign-in --staff            the support staff user the stack seeds

The stack is the one `make dev` runs (.local/stack.json), or the one `$SOFTBRIK_STACK` names
(as `make test` sets it)."""

import json
import os
import sys
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent


def stack() -> dict:
    path = Path(os.environ.get("SOFTBRIK_STACK") or ROOT / ".local" / "stack.json")
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        sys.exit(f"sign-in: no stack at {path}: start one with `make dev`")


def main(args: list[str]) -> int:
    described = stack()
    if args == ["--staff"]:
        email, password = described["support_user"]["email"], described["support_user"]["password"]
    elif len(args) == 2 and not args[0].startswith("-"):
        email, password = args
    else:
        print(__doc__, file=sys.stderr)
        return 2
    idp = boto3.client(
        "cognito-idp",
        endpoint_url=described["aws_endpoint"],
        region_name=described["region"],
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    try:
        answer = idp.initiate_auth(
            ClientId=described["user_pool_client_id"],
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": email, "PASSWORD": password},
        )
    except idp.exceptions.NotAuthorizedException:
        print(f"sign-in: wrong email or password for {email}", file=sys.stderr)
        return 1
    except idp.exceptions.UserNotFoundException:
        print(f"sign-in: no user {email}", file=sys.stderr)
        return 1
    result = answer.get("AuthenticationResult")
    if result is None:
        # An invited user's first sign-in asks for a new password (NEW_PASSWORD_REQUIRED).
        print(f"sign-in: {email} must first choose a password ({answer.get('ChallengeName')})", file=sys.stderr)
        return 1
    print(result["IdToken"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
