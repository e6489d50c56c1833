"""Parsing List Blobs responses (the datasets list containers through it)."""

from azstoragetorch._core._blob_client import BlobProperties
from azstoragetorch._core._listing import listed_properties, parse_page


def page(blobs: str, next_marker: str = "") -> bytes:
    marker = f"<NextMarker>{next_marker}</NextMarker>" if next_marker else "<NextMarker/>"
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<EnumerationResults ServiceEndpoint="https://a.blob.core.windows.net/" '
        f'ContainerName="c"><MaxResults>5000</MaxResults><Blobs>{blobs}</Blobs>{marker}'
        "</EnumerationResults>"
    ).encode()


def blob(name: str, size: int = 3, metadata: str = "", extra: str = "", encoded: bool = False):
    attribute = ' Encoded="true"' if encoded else ""
    return (
        f"<Blob><Name{attribute}>{name}</Name><Properties>"
        "<Creation-Time>Mon, 01 Jan 2024 00:00:00 GMT</Creation-Time>"
        "<Last-Modified>Tue, 02 Jan 2024 03:04:05 GMT</Last-Modified>"
        f"<Etag>0x8DC0000000000{size}</Etag><Content-Length>{size}</Content-Length>"
        f"<Content-Type>image/png</Content-Type><BlobType>BlockBlob</BlobType>{extra}"
        f"</Properties>{metadata}</Blob>"
    )


def test_a_page_yields_names_and_properties_and_the_next_marker():
    blobs, marker = parse_page(page(blob("a/1.png", 3) + blob("a/2.png", 10), "2!8!xyz"))
    assert marker == "2!8!xyz"
    assert blobs == [
        ("a/1.png", 3, '"0x8DC00000000003"', "Tue, 02 Jan 2024 03:04:05 GMT", "image/png", None),
        ("a/2.png", 10, '"0x8DC000000000010"', "Tue, 02 Jan 2024 03:04:05 GMT", "image/png", None),
    ]


def test_the_last_page_has_no_marker_and_an_empty_page_no_blobs():
    assert parse_page(page("")) == ([], None)


def test_directory_markers_are_left_out():
    marked = "<Metadata><hdi_isfolder>true</hdi_isfolder></Metadata>"
    shouted = "<Metadata><Hdi_IsFolder>TRUE</Hdi_IsFolder></Metadata>"
    other = "<Metadata><hdi_isfolder>false</hdi_isfolder><owner>me</owner></Metadata>"
    directory = "<ResourceType>directory</ResourceType>"
    blobs, _ = parse_page(
        page(
            blob("dir", 0, marked)
            + blob("DIR2", 0, shouted)
            + blob("dir/file", 1, other)
            + blob("hns-dir", 0, extra=directory)
            + blob("hns-file", 2, extra="<ResourceType>file</ResourceType>")
        )
    )
    assert [b[0] for b in blobs] == ["dir/file", "hns-file"]


def test_encoded_names_are_decoded():
    blobs, _ = parse_page(page(blob("bad%01name%20x", encoded=True) + blob("plain%20name")))
    assert [b[0] for b in blobs] == ["bad\x01name x", "plain%20name"]


def test_xml_escapes_in_names_are_undone():
    blobs, _ = parse_page(page(blob("a&amp;b&lt;c&gt;")))
    assert blobs[0][0] == "a&b<c>"


def test_blobs_of_a_page_share_repeated_strings():
    first, second = parse_page(page(blob("a") + blob("b")))[0]
    first, second = listed_properties(first), listed_properties(second)
    assert first.content_type is second.content_type
    assert first.last_modified is second.last_modified


def test_a_listed_blob_has_the_properties_a_read_reports():
    blobs, _ = parse_page(page(blob("a/1.png", 3)))
    assert listed_properties(blobs[0]) == BlobProperties(
        size=3,
        etag='"0x8DC00000000003"',
        last_modified="Tue, 02 Jan 2024 03:04:05 GMT",
        content_type="image/png",
    )
