"""Checks every event the Brik modules were told during `make test` against the published
schema (docs/events/events.schema.json), and the guarantees of docs/events.md that hold across
the whole run: per account, the events come numbered 1, 2, 3... in that order, and an event
told twice (at least once: two publishers may meet) is the same event both times. Reads the local subscriber (`events_url` of the stack,
`$SOFTBRIK_STACK`); run by `make integration` after the suites, inside the test stack.

An event still waiting in the outbox when the run ends (the bus failed, the settlement run not
yet come) is not told yet: only the numbers after the last told may be missing."""

import collections
import json
import os
import sys
import urllib.request
from pathlib import Path

from jsonschema import Draft202012Validator, FormatChecker

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "docs" / "events" / "events.schema.json"


def problems(events: list[dict], schema: dict) -> list[str]:
    """What is wrong with `events` (in the order told): schema violations; per account, the
    events' first deliveries not numbered 1, 2, 3... in that order; an event id told twice as
    two different events."""
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    found = []
    for event in events:
        for error in validator.iter_errors(event):
            path = "/".join(str(p) for p in error.absolute_path)
            found.append(f"{event.get('detail-type')} at {path or '.'}: {error.message}")
    # At least once: an event may come twice (two publishers met), always the same event.
    first: dict[str, dict] = {}
    numbers = collections.defaultdict(list)
    for event in events:
        detail = event.get("detail", {})
        seen = first.setdefault(detail.get("event_id"), detail)
        if seen != detail:
            found.append(f"event {detail.get('event_id')} told twice, differently")
        elif seen is detail:
            numbers[detail.get("account_id")].append(detail.get("sequence"))
    for account, told in numbers.items():
        if told != list(range(1, len(told) + 1)):
            found.append(f"{account}: told in the order {told}, not 1..{len(told)} once each")
    return found


def main() -> int:
    stack = json.loads(Path(os.environ["SOFTBRIK_STACK"]).read_text())
    with urllib.request.urlopen(stack["events_url"], timeout=60) as answer:
        events = json.load(answer)
    schema = json.loads(SCHEMA.read_text())
    Draft202012Validator.check_schema(schema)
    found = problems(events, schema)
    kinds = collections.Counter(e.get("detail-type") for e in events)
    print(f"events told during the run: {len(events)}: {dict(sorted(kinds.items()))}")
    for problem in found[:50]:
        print(f"event problem: {problem}")
    if not events:
        print("event problem: no event was told during the run")
        return 1
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
