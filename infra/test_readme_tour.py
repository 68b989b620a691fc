"""Runs README.md's "A short tour with curl" as written, against the stack `make test` runs
(`$SOFTBRIK_STACK`), and fails if any command fails: every curl of it must get a 2xx answer,
and the amounts the tour states must be the ones it prints.

Run by `make integration` inside the test stack (infra/devstack.py run)."""

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def tour() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## A short tour with curl", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    if block is None:
        sys.exit("README.md: no sh block in the tour")
    return block.group(1)


# Every curl of the tour fails on an HTTP error (curl -s alone would not), and every pipeline
# fails with its first failing command.
PRELUDE = """set -euo pipefail
curl() { command curl --fail-with-body --show-error "$@"; }
"""


def main() -> int:
    if not os.environ.get("SOFTBRIK_STACK"):
        sys.exit("run inside a stack: infra/devstack.py run -- python infra/test_readme_tour.py")
    script = tour()
    with tempfile.TemporaryDirectory() as work:
        # The tour runs from the repository's root (infra/sign-in); its files land elsewhere.
        (Path(work) / "infra").symlink_to(ROOT / "infra")
        run = subprocess.run(
            ["bash", "-c", PRELUDE + script],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=900,
        )
        pdf = Path(work) / "invoice.pdf"
        pdf_ok = pdf.exists() and pdf.read_bytes().startswith(b"%PDF")
    print(run.stdout[-4000:])
    if run.returncode != 0:
        print(run.stderr[-4000:], file=sys.stderr)
        print(f"README tour: failed (exit {run.returncode})", file=sys.stderr)
        return 1
    problems = []
    # What the tour's comments promise.
    for amount, what in [('"19.20"', "the signup's invoice total"), ('"5.94"', "Bob's prorated line")]:
        if amount not in run.stdout:
            problems.append(f"{what} ({amount}) not printed")
    if not pdf_ok:
        problems.append("invoice.pdf is not a PDF")
    for p in problems:
        print(f"README tour: {p}", file=sys.stderr)
    if not problems:
        print("README tour: every command ran, the amounts are as stated")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
