"""Credentials from the forms Azure hands out: connection strings.

Azure ML, the portal and ``az storage account show-connection-string`` give a
*connection string*. :class:`ConnectionString` turns one into the endpoint URL and
the credential that every azstoragetorch API takes::

    from azstoragetorch.credentials import ConnectionString
    from azstoragetorch.io import BlobIO

    conn = ConnectionString.parse("BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1")
    print(conn.url("models", "model.pt"))  # the URL to give BlobIO with conn.credential
"""

from azstoragetorch.credentials._connection_string import ConnectionString

__all__ = ["ConnectionString"]
