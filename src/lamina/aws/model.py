"""Service models, loaded from the JSON files that ship inside botocore.

Loading and resolving a model costs tens of milliseconds (Lambda's is ~20 ms), so nothing is read at
import time: the first :func:`service_model` call for a name pays it and every later call in the
process gets the same object.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from botocore.loaders import Loader
    from botocore.model import ServiceModel


@functools.cache
def _loader() -> Loader:
    # Imported here, not at module level: botocore's loader pulls in its whole data path machinery,
    # which the CLI's fast commands never need.
    from botocore.loaders import Loader

    return Loader()


@functools.cache
def service_model(name: str) -> ServiceModel:
    """The botocore :class:`~botocore.model.ServiceModel` of service ``name`` (e.g. ``"lambda"``).

    Cached per process. Raises botocore's ``UnknownServiceError`` for a name botocore lacks.
    """
    from botocore.model import ServiceModel

    return ServiceModel(_loader().load_service_model(name, "service-2"), service_name=name)
