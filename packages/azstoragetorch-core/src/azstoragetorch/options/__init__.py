"""Tuning for azstoragetorch: timeouts, retries, connections and transfer sizes.

Every object that takes a ``credential`` also takes ``options``, a
:class:`ClientOptions`; the defaults suit most uses::

    from azstoragetorch.io import BlobIO
    from azstoragetorch.options import ClientOptions

    url = "https://<account>.blob.core.windows.net/<container>/blob"
    options = ClientOptions(read_timeout=120.0, max_retries=8)
    with BlobIO(url, "rb", options=options) as f:
        data = f.read()
"""

from azstoragetorch.options._client_options import ClientOptions

__all__ = ["ClientOptions"]
