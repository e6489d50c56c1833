"""A response that echoes another request's client request ID is refused."""

import types

import pytest
from azure.core.pipeline import PipelineContext, PipelineRequest, PipelineResponse
from azure.core.pipeline.transport import HttpRequest

from azstoragetorch._core._blob_client import _RequestIdCheckPolicy
from azstoragetorch.exceptions import ClientRequestIdMismatchError


def exchange(sent, echoed):
    request = HttpRequest("GET", "https://a.blob.core.windows.net/c/b")
    if sent is not None:
        request.headers["x-ms-client-request-id"] = sent
    headers = {"x-ms-request-id": "service-id"}
    if echoed is not None:
        headers["x-ms-client-request-id"] = echoed
    response = types.SimpleNamespace(headers=headers)
    context = PipelineContext(None)
    return PipelineRequest(request, context), PipelineResponse(request, response, context)


def test_a_mismatched_echo_raises_with_all_three_ids():
    with pytest.raises(ClientRequestIdMismatchError) as caught:
        _RequestIdCheckPolicy().on_response(*exchange("mine", "theirs"))
    error = caught.value
    assert (error.request_client_id, error.response_client_id, error.service_request_id) == (
        "mine",
        "theirs",
        "service-id",
    )


@pytest.mark.parametrize(("sent", "echoed"), [("same", "same"), ("mine", None), (None, "x")])
def test_matching_or_absent_ids_pass(sent, echoed):
    _RequestIdCheckPolicy().on_response(*exchange(sent, echoed))
