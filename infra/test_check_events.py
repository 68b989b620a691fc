"""infra/check_events.py on events made here: what the schema and the order refuse."""

import copy
import json
import unittest

import check_events

SCHEMA = json.loads(check_events.SCHEMA.read_text())
EVENT = {
    "id": "x", "source": "softbrik.billing", "detail-type": "Brik Unassigned",
    "time": "2027-01-11T23:00:00Z",
    "detail": {"event_id": "evt_01jbq3x4y5z6a7b8c9d0e1f2g3", "account_id": "acc_1", "sequence": 1,
               "user_id": "usr_1", "brik_id": "files", "reason": "removed"},
}


def numbered(n: int, event_id: str) -> dict:
    e = copy.deepcopy(EVENT)
    e["detail"].update(sequence=n, event_id=event_id)
    return e


class CheckEvents(unittest.TestCase):
    def test_an_event_as_published_passes(self):
        self.assertEqual(check_events.problems([EVENT], SCHEMA), [])

    def test_personal_data_or_a_field_not_in_the_schema_is_refused(self):
        e = copy.deepcopy(EVENT)
        e["detail"]["email"] = "mia@example.com"
        self.assertTrue(check_events.problems([e], SCHEMA))
        e = copy.deepcopy(EVENT)
        e["detail"]["reason"] = "fired"
        self.assertTrue(check_events.problems([e], SCHEMA))
        e = copy.deepcopy(EVENT)
        e["source"] = "softbrik.support"
        self.assertTrue(check_events.problems([e], SCHEMA))

    def test_numbers_in_order_with_duplicates_pass_and_a_gap_or_swap_does_not(self):
        a, b = "evt_01jbq3x4y5z6a7b8c9d0e1f2g3", "evt_01jbq3x4y5z6a7b8c9d0e1f2g4"
        ok = [numbered(1, a), numbered(1, a), numbered(2, b)]
        self.assertEqual(check_events.problems(ok, SCHEMA), [])
        self.assertTrue(check_events.problems([numbered(2, b), numbered(1, a)], SCHEMA))
        self.assertTrue(check_events.problems([numbered(2, b)], SCHEMA))
        self.assertTrue(check_events.problems([numbered(1, a), numbered(2, a)], SCHEMA))


if __name__ == "__main__":
    unittest.main()
