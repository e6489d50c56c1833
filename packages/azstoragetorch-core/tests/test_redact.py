import pytest

from azstoragetorch._core._redact import redact, redact_exception_chain


@pytest.mark.parametrize(
    "text",
    [
        "GET /c/b?sv=1&sig=SECRET%2Babc&se=2",
        "url=/c/b%3Fsv%3D1%26sig%3DSECRET",
        "twice: sig%253DSECRET",
        "Authorization: Bearer SECRET",
        "Authorization: SharedKey acct:SECRET",
    ],
)
def test_secrets_are_replaced_in_every_encoding(text):
    cleaned = redact(text)
    assert "SECRET" not in cleaned
    assert "REDACTED" in cleaned


def test_other_text_is_untouched():
    assert redact("blob 'https://a/c/b' is missing") == "blob 'https://a/c/b' is missing"


def test_exception_chains_are_cleaned_in_place():
    inner = ConnectionError("failed: /c/b?sig=SECRET")
    outer = RuntimeError("outer sig=SECRET")
    outer.__cause__ = inner
    redact_exception_chain(outer)
    assert "SECRET" not in str(outer)
    assert "SECRET" not in str(inner)
