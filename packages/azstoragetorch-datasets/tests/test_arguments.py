"""The datasets refuse bad arguments before sending any request."""

import pickle
import subprocess
import sys

import pytest
from azure.core.credentials import AccessToken, AzureNamedKeyCredential

import azstoragetorch.datasets
from azstoragetorch.datasets import BlobDataset, IterableBlobDataset

# Nothing listens here: a test that sent a request would fail with a connection error.
CONTAINER = "http://127.0.0.1:1/devstoreaccount1/c"
KEY = AzureNamedKeyCredential("devstoreaccount1", "a2V5")
SECRET = "c2VjcmV0LXNpZ25hdHVyZQ%3D%3D"
SAS = f"sv=2025-01-05&sp=r&sig={SECRET}"

DATASETS = pytest.mark.parametrize("dataset_cls", [BlobDataset, IterableBlobDataset])


class FakeToken:
    def get_token(self, *scopes, **kwargs):
        return AccessToken("token", 2**31)


def test_public_names_are_pinned():
    assert azstoragetorch.datasets.__all__ == ["Blob", "BlobDataset", "IterableBlobDataset"]


def test_importing_datasets_does_not_pull_in_azure_identity():
    code = (
        "import sys, azstoragetorch.datasets;"
        "print(sorted(m for m in sys.modules if m.startswith('azure.identity')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@DATASETS
def test_a_non_string_element_is_a_type_error_naming_its_position(dataset_cls):
    urls = [f"{CONTAINER}/a", f"{CONTAINER}/b", b"http://127.0.0.1:1/devstoreaccount1/c/x?sig=s"]
    with pytest.raises(TypeError, match=r"blob_urls\[2\] is a bytes, not a str") as caught:
        dataset_cls.from_blob_urls(urls, credential=KEY)
    assert "sig" not in str(caught.value)


@DATASETS
@pytest.mark.parametrize("value", [b"http://127.0.0.1:1/a/c/b", 42, None])
def test_blob_urls_must_be_a_string_or_an_iterable_of_them(dataset_cls, value):
    with pytest.raises(TypeError, match="blob_urls must be a blob URL"):
        dataset_cls.from_blob_urls(value, credential=KEY)


@DATASETS
def test_a_url_without_a_blob_is_a_value_error_naming_its_position(dataset_cls):
    with pytest.raises(ValueError, match=r"blob_urls\[1\]: .*names a container but no blob"):
        dataset_cls.from_blob_urls([f"{CONTAINER}/a", CONTAINER], credential=KEY)


def test_a_generator_of_urls_is_read_once_in_order():
    urls = (f"{CONTAINER}/{name}" for name in ["b", "a", "b"])
    dataset = BlobDataset.from_blob_urls(urls, credential=KEY)
    assert len(dataset) == 3
    assert [blob.blob_name for blob in dataset._blobs] == ["b", "a", "b"]


def test_a_single_url_string_is_one_blob():
    dataset = BlobDataset.from_blob_urls(f"{CONTAINER}/dir/a%20b", credential=KEY)
    assert len(dataset) == 1
    assert dataset._blobs[0].blob_name == "dir/a b"
    assert dataset._blobs[0].container_name == "c"


@DATASETS
def test_a_container_url_naming_a_blob_points_to_prefix(dataset_cls):
    with pytest.raises(ValueError, match="prefix='images/'"):
        dataset_cls.from_container_url(f"{CONTAINER}/images/", credential=KEY)


@DATASETS
def test_a_url_without_a_container_is_refused(dataset_cls):
    with pytest.raises(ValueError, match="names no container"):
        dataset_cls.from_container_url("http://127.0.0.1:1/devstoreaccount1", credential=KEY)


@DATASETS
def test_a_credential_of_the_wrong_type_is_refused(dataset_cls):
    with pytest.raises(TypeError, match="credential must be"):
        dataset_cls.from_container_url(CONTAINER, credential="account-key")
    with pytest.raises(TypeError, match="credential must be"):
        dataset_cls.from_blob_urls(f"{CONTAINER}/a", credential="account-key")


@DATASETS
def test_a_token_credential_over_http_is_refused(dataset_cls):
    with pytest.raises(ValueError, match="only allowed over https"):
        dataset_cls.from_blob_urls(f"{CONTAINER}/a", credential=FakeToken())
    with pytest.raises(ValueError, match="only allowed over https"):
        dataset_cls.from_container_url(CONTAINER, credential=FakeToken())


@DATASETS
def test_a_sas_in_the_url_makes_the_credential_irrelevant(dataset_cls):
    dataset = dataset_cls.from_blob_urls(f"{CONTAINER}/a?{SAS}", credential=FakeToken())
    assert SECRET not in repr(dataset)


@DATASETS
def test_transform_and_prefix_are_type_checked(dataset_cls):
    with pytest.raises(TypeError, match="transform must be a callable"):
        dataset_cls.from_blob_urls(f"{CONTAINER}/a", credential=KEY, transform="upper")
    with pytest.raises(TypeError, match="prefix must be a str"):
        dataset_cls.from_container_url(CONTAINER, credential=KEY, prefix=b"dir/")


def test_the_iterable_dataset_sends_nothing_until_iterated():
    dataset = IterableBlobDataset.from_container_url(CONTAINER, credential=KEY, prefix="x/")
    assert "127.0.0.1:1/devstoreaccount1/c" in repr(dataset)


def test_no_sas_signature_in_reprs_or_urls():
    dataset = BlobDataset.from_blob_urls(f"{CONTAINER}/dir/b.bin?{SAS}")
    blob = dataset._blobs[0]
    assert blob.url == f"{CONTAINER}/dir/b.bin"
    for text in (repr(dataset), repr(blob), str(blob), blob.url, repr(dataset._blobs)):
        assert SECRET not in text
        assert "sig=" not in text


@DATASETS
def test_datasets_pickle_without_connections(dataset_cls):
    dataset = dataset_cls.from_blob_urls([f"{CONTAINER}/a", f"{CONTAINER}/b?{SAS}"], credential=KEY)
    clients = dataset._blobs._clients
    pipeline = clients.pipeline(dataset._blobs[0]._url)
    assert clients.pipeline(dataset._blobs[0]._url) is pipeline  # one per endpoint
    copy = pickle.loads(pickle.dumps(dataset))
    assert [blob.url for blob in copy._blobs] == [f"{CONTAINER}/a", f"{CONTAINER}/b"]
    assert copy._blobs._clients._pipelines == {}
    assert copy._blobs._clients.credential.named_key == KEY.named_key
    # The copy still knows the SAS of the second blob.
    assert copy._blobs[1]._url.has_sas


def test_a_blob_pickles_with_its_properties():
    dataset = BlobDataset.from_blob_urls(f"{CONTAINER}/a?{SAS}", credential=KEY)
    blob = pickle.loads(pickle.dumps(dataset._blobs[0]))
    assert blob.url == f"{CONTAINER}/a"
    assert blob._url.has_sas


@DATASETS
@pytest.mark.parametrize("method", ["from_container_url", "from_blob_urls"])
def test_an_unknown_keyword_argument_is_a_type_error_naming_it(dataset_cls, method):
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'colour'"):
        getattr(dataset_cls, method)(f"{CONTAINER}/a", credential=KEY, colour="blue")


class _Unread:
    """Stands in for a Blob whose reader is never opened: no request is sent."""

    _reader_called = False
    container_name = "c"  # noted as yielded, for a mid-epoch resume
    blob_name = "blob"

    def _start_reading(self, pool: object) -> None:
        pass

    def _release(self) -> None:
        pass


def test_set_epoch_while_iterating_is_refused():
    dataset = IterableBlobDataset([_Unread(), _Unread()], transform=id)
    samples = iter(dataset)
    next(samples)
    with pytest.raises(RuntimeError, match="before the epoch starts"):
        dataset.set_epoch(1)
    samples.close()
    dataset.set_epoch(1)  # allowed again once the iteration ended


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"uneven_shares": "even"}, ValueError, "uneven_shares must be one of"),
        ({"shard_by_rank": 1}, TypeError, "shard_by_rank must be True or False"),
        ({"shuffle": True, "seed": -1}, ValueError, "seed must be 0 or more"),
        ({"shuffle": True, "seed": 0.5}, TypeError, "seed must be an int"),
        ({"shuffle": True, "shuffle_buffer_size": 0}, ValueError, "shuffle_buffer_size"),
    ],
)
@pytest.mark.parametrize("method", ["from_container_url", "from_blob_urls"])
def test_bad_sharding_and_shuffle_arguments_are_refused(method, arguments, error, message):
    url = CONTAINER if method == "from_container_url" else f"{CONTAINER}/blob"
    with pytest.raises(error, match=message):
        getattr(IterableBlobDataset, method)(url, credential=KEY, **arguments)


@pytest.mark.parametrize("epoch", [-1, 1.0, "2", None])
def test_set_epoch_takes_a_non_negative_int(epoch):
    dataset = IterableBlobDataset.from_container_url(CONTAINER, credential=KEY)
    with pytest.raises((TypeError, ValueError), match="epoch must be"):
        dataset.set_epoch(epoch)
