"""The tongban domain: the catalog of matters, the case aggregate, application services, audit.

Nothing here imports gRPC, object-store SDKs, pyHanko or does file I/O; adapters plug in
through the protocols in :mod:`exchange.ports`.
"""
