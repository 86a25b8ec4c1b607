"""The pure parts of the flows: what a code guess amounts to, and the details check."""

import pytest

from idp import codes
from idp.flows.registration import check_details

RECORD = {"digest": "x", "sent_at": 100.0, "expires": 700.0}


@pytest.mark.parametrize("record, tries_used, at, verdict", [
    (None, 0, 200, codes.MISSING),
    (RECORD, 1, 700, codes.EXPIRED),
    (RECORD, 6, 200, codes.EXHAUSTED),
    (RECORD, 6, 800, codes.EXPIRED),   # expiry is said first
    (RECORD, 5, 200, None),            # the fifth guess is still compared
    (RECORD, 1, 699.9, None),
])
def test_judge(record, tries_used, at, verdict):
    assert codes.judge(record, tries_used, max_tries=5, at=at) == verdict


@pytest.mark.parametrize("email, region, phone, errors, normalised", [
    ("Ana@Example.SI", "SI", "041 123 123", set(), ("ana@example.si", "+38641123123")),
    ("ana@example.si", "SI", "+386 41 123 123", set(), ("ana@example.si", "+38641123123")),
    ("ana@example.si", "HR", "0038641123123", set(), ("ana@example.si", "+38641123123")),
    ("ana@example.si", "HR", "091 234 5678", set(), ("ana@example.si", "+385912345678")),
    ("ana", "SI", "041 123 123", {"email"}, (None, "+38641123123")),
    ("ana@example.si", "SI", "01 234 56 78", {"phone"}, ("ana@example.si", None)),
    ("ana@example.si", "SI", "12", {"phone"}, ("ana@example.si", None)),
    ("ana@example.si", "XX", "041 123 123", {"phone"}, ("ana@example.si", None)),
])
def test_check_details(app, email, region, phone, errors, normalised):
    details = check_details(email, region, phone)
    assert set(details.errors) == errors
    assert (details.email, details.phone) == normalised
