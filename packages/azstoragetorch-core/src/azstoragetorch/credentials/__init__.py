"""Credentials from the forms Azure hands out: connection strings.

Azure ML, the portal and ``az storage account show-connection-string`` give a
*connection string*. :class:`ConnectionString` turns one into the endpoint URL and
the credential that every azstoragetorch API takes::

    from azstoragetorch.credentials import ConnectionString
    from azstoragetorch.io import BlobIO

    conn = ConnectionString.parse(
        "DefaultEndpointsProtocol=https;AccountName=<account>;"
        "AccountKey=<key>;EndpointSuffix=core.windows.net"
    )
    with BlobIO(conn.url("models", "model.pt"), "rb", credential=conn.credential) as f:
        ...
"""

from azstoragetorch.credentials._connection_string import ConnectionString

__all__ = ["ConnectionString"]
