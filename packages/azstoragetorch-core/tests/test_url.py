import urllib.parse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from azstoragetorch._core._url import BlobURL


@pytest.mark.parametrize(
    ("url", "account", "container", "blob_name"),
    [
        ("https://acct.blob.core.windows.net/c/dir/sub/name.pt", "acct", "c", "dir/sub/name.pt"),
        ("https://acct.blob.core.chinacloudapi.cn/c/b", "acct", "c", "b"),
        ("https://acct.blob.core.usgovcloudapi.net/c/b", "acct", "c", "b"),
        ("https://acct.privatelink.blob.core.windows.net/c/b", "acct", "c", "b"),
        ("https://acct.z12.blob.storage.azure.net/c/b", "acct", "c", "b"),
        ("http://devstoreaccount1.blob.localhost:10000/c/b", "devstoreaccount1", "c", "b"),
        ("https://data.example.com/c/b", None, "c", "b"),
    ],
)
def test_host_style_urls_take_the_container_from_the_first_path_segment(
    url, account, container, blob_name
):
    parsed = BlobURL.parse(url)
    assert (parsed.account, parsed.container, parsed.blob_name) == (account, container, blob_name)
    assert not parsed.path_style
    assert parsed.url == url


@pytest.mark.parametrize(
    "host", ["127.0.0.1:10000", "localhost:10000", "10.1.2.3:10000", "[::1]:10000", "localhost"]
)
def test_ip_and_localhost_urls_are_path_style_with_the_account_first(host):
    parsed = BlobURL.parse(f"http://{host}/devstoreaccount1/c/a/b")
    assert parsed.path_style
    assert (parsed.account, parsed.container, parsed.blob_name) == ("devstoreaccount1", "c", "a/b")
    assert parsed.account_url == f"http://{host}/devstoreaccount1"
    assert parsed.container_url == f"http://{host}/devstoreaccount1/c"


@pytest.mark.parametrize(
    "url",
    ["https://acct.blob.core.windows.net/c", "https://acct.blob.core.windows.net/c/"],
)
def test_a_container_url_has_no_blob_name(url):
    parsed = BlobURL.parse(url)
    assert parsed.container == "c"
    assert parsed.blob_name is None
    assert parsed.url == "https://acct.blob.core.windows.net/c"


def test_names_are_percent_decoded_once():
    parsed = BlobURL.parse("https://a.blob.core.windows.net/c/with%20space/%2523x%3F+y")
    assert parsed.blob_name == "with space/%23x?+y"
    assert parsed.url == "https://a.blob.core.windows.net/c/with%20space/%2523x%3F%2By"


# Blob names: any text the service accepts. Control characters and lone surrogates
# are excluded because they cannot be encoded in a URL path.
blob_names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=60
)


@given(name=blob_names)
def test_any_blob_name_round_trips_through_its_url(name):
    container = BlobURL.parse("https://acct.blob.core.windows.net/cont?sv=1&sig=abc")
    blob = container.blob(name)
    assert BlobURL.parse(blob.url).blob_name == name
    assert BlobURL.parse(blob.request_url()).blob_name == name
    assert blob.url == container.url + "/" + urllib.parse.quote(name, safe="/~")


@given(name=blob_names)
def test_any_blob_name_round_trips_in_path_style_urls(name):
    container = BlobURL.parse("http://127.0.0.1:10000/devstoreaccount1/cont")
    assert BlobURL.parse(container.blob(name).url).blob_name == name


@pytest.mark.parametrize("name", ["a b", "ü/日本", "100%", "#1", "what?", "a+b", "x//y", "/lead"])
def test_special_blob_names_round_trip(name):
    container = BlobURL.parse("https://acct.blob.core.windows.net/cont")
    assert BlobURL.parse(container.blob(name).url).blob_name == name


def test_sas_is_recognised_by_sig_and_kept_raw_for_requests():
    query = "sv=2024-01-01&sp=r&sig=ab%2Bcd%3D"
    parsed = BlobURL.parse(f"https://a.blob.core.windows.net/c/b?{query}")
    assert parsed.has_sas
    assert parsed.request_url() == f"https://a.blob.core.windows.net/c/b?{query}"
    assert "sig" not in parsed.url
    assert "ab%2Bcd" not in repr(parsed)
    assert "sas=<redacted>" in repr(parsed)


def test_a_query_without_sig_is_not_a_sas():
    assert not BlobURL.parse("https://a.blob.core.windows.net/c/b?sv=1&se=2").has_sas


def test_snapshot_version_and_unknown_parameters_are_kept():
    parsed = BlobURL.parse(
        "https://a.blob.core.windows.net/c/b?snapshot=2024-01-01T00%3A00%3A00Z&versionid=v1&x=y"
    )
    assert parsed.snapshot == "2024-01-01T00:00:00Z"
    assert parsed.version_id == "v1"
    assert parsed.request_url().endswith("?snapshot=2024-01-01T00%3A00%3A00Z&versionid=v1&x=y")
    assert "snapshot='2024-01-01T00:00:00Z'" in repr(parsed)


def test_a_child_blob_keeps_the_container_sas_but_not_the_snapshot():
    container = BlobURL.parse("https://a.blob.core.windows.net/c?sv=1&sig=s&snapshot=t")
    child = container.blob("x")
    assert child.request_url() == "https://a.blob.core.windows.net/c/x?sv=1&sig=s"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://a.blob.core.windows.net/c/b", "Unsupported URL scheme ('ftp')"),
        ("a.blob.core.windows.net/c/b", "Unsupported URL scheme (no scheme)"),
        ("https:///c/b", "has no host name"),
        ("https://a.blob.core.windows.net/c/b#frag", "percent-encoded as %23"),
        ("http://127.0.0.1:10000/", "names no account"),
        ("http://[::1/a/c/b", "has an invalid host: Invalid IPv6 URL"),
        ("http://::1]/a/c/b", "has an invalid host: Invalid IPv6 URL"),
    ],
)
def test_malformed_urls_say_what_is_wrong(url, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        BlobURL.parse(url)


def test_parse_rejects_non_strings():
    with pytest.raises(TypeError, match="must be a str, not bytes"):
        BlobURL.parse(b"https://a.blob.core.windows.net/c")  # type: ignore[arg-type]


def test_require_container_and_blob_explain_what_to_add():
    account = BlobURL.parse("https://a.blob.core.windows.net")
    with pytest.raises(
        ValueError, match=r"names no container: use https://a.blob.core.windows.net/<container>"
    ):
        account.require_container()
    container = BlobURL.parse("https://a.blob.core.windows.net/c")
    with pytest.raises(ValueError, match=r"names a container but no blob"):
        container.require_blob()


def test_errors_never_echo_the_query_of_a_bad_url():
    with pytest.raises(ValueError) as caught:
        BlobURL.parse("ftp://a.blob.core.windows.net/c/b?sig=SECRET")
    assert "SECRET" not in str(caught.value)


def test_a_pickle_carries_the_fields_not_the_cached_strings():
    import pickle

    container = BlobURL.parse("https://acct.blob.core.windows.net/cont?sv=1&sig=a%2Bb")
    url = container.blob("dir/a b.bin")
    fresh = pickle.dumps(BlobURL.parse(url.request_url()))
    _ = (url.url, url.request_url(), url.has_sas, url.sas_query, url.account_url)
    used = pickle.dumps(url)
    assert len(used) == len(fresh)
    copy = pickle.loads(used)
    assert copy == url
    assert copy.request_url() == url.request_url()
    assert copy.container_url == url.container_url


@pytest.mark.parametrize("query", ["snapshot=2024-01-01T00%3A00%3A00Z", "versionid=v1"])
def test_require_current_refuses_a_snapshot_or_version_naming_what_needs_current_blobs(query):
    parsed = BlobURL.parse(f"https://a.blob.core.windows.net/c/p?{query}")
    with pytest.raises(ValueError, match=r"^Pruning cannot select a snapshot or version"):
        parsed.require_current("Pruning")


def test_require_current_accepts_a_current_url():
    BlobURL.parse("https://a.blob.core.windows.net/c/p?sv=1&sig=s").require_current("Pruning")
