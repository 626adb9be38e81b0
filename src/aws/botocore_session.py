"""A private botocore session whose data loader looks only at the services it may need.

botocore checks a service name on a client's first model loads by listing every
service it ships (about 450 directories, some 2,700 `stat` calls, once for the
service model and once for the endpoint rules): 20 ms of CPU warm, more on a
container's cold overlay filesystem, all on the path to ready. The loader here
answers that list from the directories of the client's own service and of the
services botocore's credential providers build clients for on the same session
(STS for a role or a web identity, SSO and SSO-OIDC for an SSO profile, Sign-In
for `aws login`); for those the answer is the same, and any other name is
unknown, as botocore would say of a name it does not ship. Everything else is
botocore's own Loader, with the same search paths (AWS_DATA_PATH included).

Imported only by `src.aws.client.build_client`, after botocore itself.
"""

from __future__ import annotations

import os
from typing import Any

import botocore.session
from botocore.exceptions import DataNotFoundError
from botocore.loaders import Loader

# botocore/credentials.py and botocore/tokens.py create clients of these on the session whose
# credentials they resolve (AssumeRole, AssumeRoleWithWebIdentity, SSO, SSO-OIDC, Sign-In).
CREDENTIAL_SERVICES = ("sts", "sso", "sso-oidc", "signin")


class ServiceLoader(Loader):
    def __init__(self, service: str, extra_search_paths: list[str] | None = None) -> None:
        super().__init__(extra_search_paths=extra_search_paths)
        self._services = tuple(dict.fromkeys((service, *CREDENTIAL_SERVICES)))

    def list_available_services(self, type_name: str) -> list[str]:
        return sorted(name for name in self._services if self._ships(name, type_name))

    def _ships(self, service: str, type_name: str) -> bool:
        try:
            self.list_api_versions(service, type_name)
        except DataNotFoundError:
            return False
        return True


def session_for(service: str) -> Any:
    """A new session (a shared one is not safe across threads) loading only the data it may need."""
    session = botocore.session.get_session()
    # As botocore.loaders.create_loader reads it: AWS_DATA_PATH, os.pathsep-separated.
    data_path = session.get_config_variable("data_path")
    extra = [os.path.expanduser(os.path.expandvars(p)) for p in data_path.split(os.pathsep)] if data_path else None
    session.register_component("data_loader", ServiceLoader(service, extra))
    return session
