"""Moved to `multimaster.lab.tls`; this name keeps `from multimaster import labtls` working."""

from multimaster.lab.tls import DAYS, FILES, TlsError, make, server_options

__all__ = ["DAYS", "FILES", "TlsError", "make", "server_options"]
