"""Private core of azstoragetorch: URLs, credentials, the blob client and errors.

Nothing here is public API; the other distributions import it by module path.
"""
