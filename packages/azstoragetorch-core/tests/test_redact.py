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


@pytest.fixture
def urllib3_records():
    import logging

    import azstoragetorch._core._shared_transport  # noqa: F401  (installs the filter)

    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    logger = logging.getLogger("urllib3.connectionpool")
    handler, level = Keep(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield logger, records
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_urllib3_request_lines_are_redacted_once_core_is_imported(urllib3_records):
    logger, records = urllib3_records
    logger.debug('%s://%s:%s "%s %s %s"', "http", "h", 80, "GET", "/c/b?sv=1&sig=SECRET%3D", 200)
    assert records[0].getMessage() == 'http://h:80 "GET /c/b?sv=1&sig=REDACTED 200"'


def test_urllib3_records_without_secrets_are_left_as_they_are(urllib3_records):
    logger, records = urllib3_records
    logger.debug("Starting new HTTP connection (%d): %s", 1, "h")
    assert (records[0].msg, records[0].args) == ("Starting new HTTP connection (%d): %s", (1, "h"))


def test_installing_the_filter_again_adds_none():
    import logging

    from azstoragetorch._core._redact import URLLIB3_LOGGERS, install_log_redaction

    install_log_redaction()
    install_log_redaction()
    for name in URLLIB3_LOGGERS:
        assert len(logging.getLogger(name).filters) == 1
