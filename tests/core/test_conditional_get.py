"""BlobClient.open_if_changed: one GET with If-None-Match, 304 when unchanged."""

import pytest

from azstoragetorch._core._blob_client import BlobClient
from azstoragetorch._core._url import BlobURL
from azstoragetorch.exceptions import BlobNotFoundError

pytestmark = pytest.mark.azurite


def test_an_unchanged_blob_answers_not_modified_and_a_changed_one_its_content(
    container, upload, key, recorder
):
    url = upload("a.bin", b"first")
    etag = container.client.get_blob_client("a.bin").get_blob_properties().etag
    client = BlobClient.create(BlobURL.parse(url), key)
    assert client.open_if_changed(etag) is None
    assert [(r.method, r.headers["If-None-Match"]) for r in recorder.requests] == [("GET", etag)]

    upload("a.bin", b"second")
    response = client.open_if_changed(etag)
    assert response is not None
    assert response.status_code == 200
    assert response.headers["ETag"] != etag
    assert response.body() == b"second"
    assert len(recorder.requests) == 2


def test_a_missing_blob_is_not_found(container, key):
    client = BlobClient.create(BlobURL.parse(f"{container.url}/missing"), key)
    with pytest.raises(BlobNotFoundError):
        client.open_if_changed('"0x1"')
