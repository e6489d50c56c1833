"""ConnectionString.parse: every form, and malformed strings that never echo a secret."""

from __future__ import annotations

import pytest
from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential

from azstoragetorch.credentials import ConnectionString

KEY = "c2VjcmV0LWtleS0xMjM0NTY3ODkw"  # base64, made up
SAS = "sv=2025-01-05&ss=b&srt=co&sp=rl&se=2030-01-01T00:00:00Z&sig=c2VjcmV0c2lnbmF0dXJl"


def test_account_name_and_key_build_the_public_endpoint():
    conn = ConnectionString.parse(
        f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={KEY};"
        "EndpointSuffix=core.windows.net"
    )
    assert conn.blob_endpoint == "https://acct.blob.core.windows.net"
    assert isinstance(conn.credential, AzureNamedKeyCredential)
    assert conn.credential.named_key == ("acct", KEY)
    assert conn.account_name == "acct"


def test_a_sovereign_suffix_and_http():
    conn = ConnectionString.parse(
        f"DefaultEndpointsProtocol=http;AccountName=acct;AccountKey={KEY};"
        "EndpointSuffix=core.chinacloudapi.cn"
    )
    assert conn.blob_endpoint == "http://acct.blob.core.chinacloudapi.cn"


def test_keys_are_case_insensitive_and_spaces_and_trailing_separators_ignored():
    conn = ConnectionString.parse(f" accountname=acct ; ACCOUNTKEY={KEY} ;; ")
    assert conn.blob_endpoint == "https://acct.blob.core.windows.net"


def test_a_blob_endpoint_wins_over_the_suffix():
    conn = ConnectionString.parse(
        f"AccountName=acct;AccountKey={KEY};BlobEndpoint=http://127.0.0.1:5/acct/;"
        "QueueEndpoint=http://127.0.0.1:6/acct"
    )
    assert conn.blob_endpoint == "http://127.0.0.1:5/acct"


def test_a_shared_access_signature_becomes_a_sas_credential():
    conn = ConnectionString.parse(
        f"BlobEndpoint=https://a.blob.core.windows.net;SharedAccessSignature=?{SAS}"
    )
    assert isinstance(conn.credential, AzureSasCredential)
    assert conn.credential.signature == SAS


def test_a_blob_endpoint_alone_is_anonymous():
    conn = ConnectionString.parse("BlobEndpoint=https://a.blob.core.windows.net/")
    assert conn.credential is False
    assert conn.url("public", "a b/c.png") == "https://a.blob.core.windows.net/public/a%20b/c.png"


def test_use_development_storage_is_the_well_known_emulator_account():
    conn = ConnectionString.parse("UseDevelopmentStorage=true")
    assert conn.blob_endpoint == "http://127.0.0.1:10000/devstoreaccount1"
    assert isinstance(conn.credential, AzureNamedKeyCredential)
    assert conn.credential.named_key[0] == "devstoreaccount1"
    proxied = ConnectionString.parse(
        "UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://emulator"
    )
    assert proxied.blob_endpoint == "http://emulator:10000/devstoreaccount1"


def test_the_repr_shows_no_secret():
    conn = ConnectionString.parse(f"AccountName=acct;AccountKey={KEY}")
    assert KEY not in repr(conn)
    assert "AzureNamedKeyCredential" in repr(conn)
    sas = ConnectionString.parse(f"BlobEndpoint=https://a.b;SharedAccessSignature={SAS}")
    assert "sig" not in repr(sas)
    assert "sig" not in str(sas)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("", "empty"),
        (" ; ", "empty"),
        (f"AccountName=acct;{KEY}", "Field 2"),
        (f"AccountName=acct;AccountKey={KEY};Colour=blue", "'Colour'"),
        (f"AccountName=acct;AccountName=other;AccountKey={KEY}", "AccountName twice"),
        ("AccountName=;AccountKey=x", "AccountName is empty"),
        ("AccountName=acct;AccountKey=not*base64!", "AccountKey"),
        (f"AccountKey={KEY};BlobEndpoint=https://a.b", "AccountName"),
        (f"AccountKey={KEY}", "AccountName"),
        (
            f"DefaultEndpointsProtocol=ftp;AccountName=a;AccountKey={KEY}",
            "DefaultEndpointsProtocol",
        ),
        (f"BlobEndpoint=a.blob.core.windows.net;SharedAccessSignature={SAS}", "BlobEndpoint"),
        (f"BlobEndpoint=https://a.b/?{SAS}", "BlobEndpoint"),
        ("UseDevelopmentStorage=yes", "UseDevelopmentStorage"),
        (f"UseDevelopmentStorage=true;AccountKey={KEY}", "AccountKey"),
        (
            "UseDevelopmentStorage=true;DevelopmentStorageProxyUri=emulator",
            "DevelopmentStorageProxyUri",
        ),
    ],
)
def test_a_malformed_string_is_a_value_error_naming_the_field_without_secrets(text, field):
    with pytest.raises(ValueError) as raised:
        ConnectionString.parse(text)
    message = str(raised.value)
    assert field in message
    assert KEY not in message
    assert "c2VjcmV0c2lnbmF0dXJl" not in message
    assert "not*base64" not in message


def test_a_connection_string_must_be_a_str():
    with pytest.raises(TypeError, match="must be a str"):
        ConnectionString.parse(b"AccountName=a")  # type: ignore[arg-type]


def test_a_blob_name_needs_a_container():
    conn = ConnectionString.parse("BlobEndpoint=https://a.b")
    with pytest.raises(ValueError, match="needs a container"):
        conn.url(None, "x")
    assert conn.url() == "https://a.b"
    assert conn.url("c") == "https://a.b/c"
