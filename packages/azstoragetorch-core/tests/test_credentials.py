import sys
import types

import pytest
from azure.core.credentials import AccessToken, AzureNamedKeyCredential, AzureSasCredential
from azure.core.pipeline.policies import AzureSasCredentialPolicy, BearerTokenCredentialPolicy

from azstoragetorch._core import _credentials
from azstoragetorch._core._credentials import auth_policy, default_credential
from azstoragetorch._core._shared_key import SharedKeyPolicy
from azstoragetorch._core._url import BlobURL

HTTPS = BlobURL.parse("https://acct.blob.core.windows.net/c/b")
HTTP = BlobURL.parse("http://127.0.0.1:10000/devstoreaccount1/c/b")
KEY = AzureNamedKeyCredential("devstoreaccount1", "a2V5")


class FakeTokenCredential:
    def get_token(self, *scopes, **kwargs):
        return AccessToken("token", 2**31)


@pytest.fixture
def fake_identity(monkeypatch):
    """A stand-in azure.identity whose DefaultAzureCredential counts constructions."""
    created = []

    class DefaultAzureCredential(FakeTokenCredential):
        def __init__(self):
            created.append(self)

    module = types.ModuleType("azure.identity")
    module.DefaultAzureCredential = DefaultAzureCredential
    monkeypatch.setitem(sys.modules, "azure.identity", module)
    _credentials._default.reset()
    yield created
    _credentials._default.reset()


def test_default_credential_is_created_once_and_shared(fake_identity):
    first = default_credential()
    assert default_credential() is first
    assert len(fake_identity) == 1


def test_none_means_the_default_credential_as_a_bearer_policy(fake_identity):
    policy = auth_policy(None, HTTPS)
    assert isinstance(policy, BearerTokenCredentialPolicy)
    assert policy._credential is fake_identity[0]


def test_a_sas_in_the_url_wins_over_any_credential(fake_identity):
    url = BlobURL.parse("https://acct.blob.core.windows.net/c/b?sv=1&sig=x")
    assert auth_policy(None, url) is None
    assert auth_policy(KEY, url) is None
    assert not fake_identity


@pytest.mark.parametrize(
    ("credential", "policy_type"),
    [
        (AzureSasCredential("sv=1&sig=x"), AzureSasCredentialPolicy),
        (KEY, SharedKeyPolicy),
        (FakeTokenCredential(), BearerTokenCredentialPolicy),
    ],
)
def test_each_credential_type_gets_its_policy(credential, policy_type):
    assert isinstance(auth_policy(credential, HTTPS), policy_type)


def test_false_means_anonymous():
    assert auth_policy(False, HTTP) is None


@pytest.mark.parametrize("credential", ["sv=1&sig=x", True, 42, object()])
def test_other_credentials_are_refused_naming_the_accepted_types(credential):
    with pytest.raises(
        TypeError, match=r"AzureSasCredential, an AzureNamedKeyCredential or a TokenCredential"
    ):
        auth_policy(credential, HTTPS)


@pytest.mark.parametrize("credential", [None, FakeTokenCredential()])
def test_token_credentials_over_http_are_refused_with_what_to_use_instead(
    credential, fake_identity
):
    with pytest.raises(ValueError, match=r"only allowed over https.*AzureNamedKeyCredential"):
        auth_policy(credential, HTTP)
    assert not fake_identity


def test_key_and_sas_and_anonymous_work_over_http():
    assert isinstance(auth_policy(KEY, HTTP), SharedKeyPolicy)
    assert auth_policy(False, HTTP) is None
    assert auth_policy(KEY, BlobURL.parse(HTTP.url + "?sig=x")) is None


def test_importing_core_does_not_import_azure_identity():
    import subprocess

    code = (
        "import sys, azstoragetorch._core._blob_client, azstoragetorch.exceptions;"
        "print('azure.identity' in sys.modules, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
