"""Content-addressed object storage adapters implementing exchange.ports.ObjectStore.

LocalFolderStore is the embedded default; storage.s3.S3Store (imported on demand, it needs the
MinIO SDK) talks to any S3-compatible server. open_object_store picks one from settings.
"""

from storage.errors import ObjectStoreUnavailable
from storage.factory import ObjectStoreSettings, open_object_store
from storage.keys import object_key
from storage.local import LocalFolderStore

__all__ = [
    "LocalFolderStore",
    "ObjectStoreSettings",
    "ObjectStoreUnavailable",
    "object_key",
    "open_object_store",
]
