"""Benchmark of BlobIO (checkpoint I/O): ours against upstream 0.2.0 and curl.

``python3 tools/dev.py hatch run bench [--quick]`` starts Azurite, uploads the data,
runs every scenario in fresh processes for both implementations, prints one table
and (in full mode) rewrites the results included by ``docs/performance.rst``. See
``__main__.py``.
"""
