#!/usr/bin/env python3
"""Checks what `sam build` made (run by `make sam-build`): every function of template.yaml has
its artifact, a `bootstrap` executable for Lambda's arm64 (aarch64 ELF), and the built template
points each function at it. Prints each one's size."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from devstack import ROOT  # noqa: E402
from cfnlint.decode import decode  # noqa: E402

BUILD = ROOT / ".aws-sam" / "build"
EM_AARCH64 = 183


def problems() -> list[str]:
    source, _ = decode(str(ROOT / "template.yaml"))
    built, matches = decode(str(BUILD / "template.yaml"))
    if matches or built is None:
        return [f"{BUILD / 'template.yaml'} is missing or does not parse: run sam build"]
    found = []
    for lid, res in source["Resources"].items():
        if res["Type"] != "AWS::Serverless::Function":
            continue
        code = built["Resources"].get(lid, {}).get("Properties", {}).get("CodeUri")
        if code != lid:
            found.append(f"{lid}: the built template's CodeUri is {code!r}, not its build folder")
        bootstrap = BUILD / lid / "bootstrap"
        if not bootstrap.is_file():
            found.append(f"{lid}: no {bootstrap.relative_to(ROOT)}")
            continue
        header = bootstrap.read_bytes()[:20]
        if header[:4] != b"\x7fELF" or struct.unpack("<H", header[18:20])[0] != EM_AARCH64:
            found.append(f"{lid}: {bootstrap.relative_to(ROOT)} is not an arm64 executable")
        elif not bootstrap.stat().st_mode & 0o111:
            found.append(f"{lid}: {bootstrap.relative_to(ROOT)} is not executable")
        else:
            print(f"{lid}: bootstrap {bootstrap.stat().st_size / 1e6:.1f} MB, arm64")
    return found


if __name__ == "__main__":
    found = problems()
    for p in found:
        print(f"build check: {p}", file=sys.stderr)
    print(f"build checks: {len(found)} problem(s)")
    sys.exit(1 if found else 0)
