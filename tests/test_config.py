import pytest

from idp.accounts.service import AccountError, normalise_phone
from idp.config import validate_issuer


@pytest.mark.parametrize("issuer", ["https://login.example.si", "http://localhost:5000",
                                    "http://127.0.0.1:5100", "http://[::1]:5000",
                                    "https://login.example.si/"])
def test_accepted_issuers(issuer):
    assert validate_issuer(issuer) == issuer.rstrip("/")


@pytest.mark.parametrize("issuer", ["http://login.example.si", "http://10.0.0.5:5000",
                                    "ftp://localhost", "localhost:5000",
                                    "https://login.example.si/?x=1"])
def test_refused_issuers(issuer):
    with pytest.raises(ValueError):
        validate_issuer(issuer)


@pytest.mark.parametrize("raw", ["041 123 123", "+386 41 123 123", "0038641123123",
                                 "041-123-123"])
def test_slovenian_mobile_numbers_become_e164(raw):
    assert normalise_phone(raw) == "+38641123123"


@pytest.mark.parametrize("raw", ["", "123", "not a number", "+386 1"])
def test_nonsense_numbers_are_refused(raw):
    with pytest.raises(AccountError):
        normalise_phone(raw)
