"""A private botocore session whose data loader looks only at the one service it serves.

botocore checks a service name on a client's first model loads by listing every
service it ships (about 450 directories, some 2,700 `stat` calls, once for the
service model and once for the endpoint rules): 20 ms of CPU warm, more on a
container's cold overlay filesystem, all on the path to ready. The loader here
answers that list for its own service only, from that service's directory; the
answer for that service is the same, and any other name is unknown, as botocore
would say of a name it does not ship. Everything else is botocore's own Loader,
with the same search paths (AWS_DATA_PATH included).

Imported only by `src.aws.build_client`, after botocore itself.
"""

from __future__ import annotations

import os
from typing import Any

import botocore.session
from botocore.exceptions import DataNotFoundError
from botocore.loaders import Loader


class ServiceLoader(Loader):
    def __init__(self, service: str, extra_search_paths: list[str] | None = None) -> None:
        super().__init__(extra_search_paths=extra_search_paths)
        self._service = service

    def list_available_services(self, type_name: str) -> list[str]:
        try:
            self.list_api_versions(self._service, type_name)
        except DataNotFoundError:
            return []
        return [self._service]


def session_for(service: str) -> Any:
    """A new session (a shared one is not safe across threads) loading only `service`'s data."""
    session = botocore.session.get_session()
    # As botocore.loaders.create_loader reads it: AWS_DATA_PATH, os.pathsep-separated.
    data_path = session.get_config_variable("data_path")
    extra = [os.path.expanduser(os.path.expandvars(p)) for p in data_path.split(os.pathsep)] if data_path else None
    session.register_component("data_loader", ServiceLoader(service, extra))
    return session
