"""The caller kit installs from the repository path with pip, as a new service would install it, and what is
installed is the package (its modules, answer types and py.typed), not the source tree on the test path; installed,
it fails with its own errors, never a bare ValueError nor a requests or botocore exception."""

from __future__ import annotations

import json

import pytest

from release import version
from tests.support import client_package


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    return client_package.install(tmp_path_factory.mktemp("client"))


def test_the_client_installs_from_its_path_and_imports_from_the_install(installed):
    # Given the client pip-installed from its path, When an isolated interpreter imports it
    probe = """
import kyc_gateway_client as k, pathlib, typing
from importlib import metadata
from kyc_gateway_client import answers
returned = typing.get_type_hints(k.GatewayClient.cladfy_krapin)["return"]
print(k.__version__, metadata.version("kyc-gateway-client"), k.__file__)
typed = pathlib.Path(k.__file__).parent.joinpath("py.typed").exists()
print(typed, len(k.ROUTES), typing.get_args(returned)[0].__name__)
print(sorted(answers.KraPinDetails.__required_keys__)[:2])
"""
    versions, typed, required = client_package.run(installed, probe).splitlines()

    # Then it is the install, at the release's version, typed, with its routes and their answer types
    assert versions.split()[:2] == [version.current()] * 2
    assert versions.split()[2].startswith(str(installed))
    assert typed.split() == ["True", "10", "KraPinAnswer"]
    assert required == "['Business_Certificate_Id', 'Email_Addresses']"


def test_the_installed_client_fails_with_its_own_errors(installed, tmp_path):
    # Given a machine without AWS credentials, and a port where nothing listens
    environment = {
        "PATH": "",
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    probe = """
import json, socket
from kyc_gateway_client import GatewayClient, GatewayError

with socket.socket() as closed:
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
attempts = {
    "not http(s)": lambda: GatewayClient("ftp://gateway.example/prod", sign=False),
    "no host": lambda: GatewayClient("https:///prod", sign=False),
    "no credentials": lambda: GatewayClient("https://gateway.example/prod", region="eu-west-1")
        .cladfy_krapin({"pinnumber": "A004416331M"}),
    "nothing listens": lambda: GatewayClient(f"http://127.0.0.1:{port}", sign=False, max_attempts=2,
        backoff_seconds=0.01).cladfy_krapin({"pinnumber": "A004416331M"}),
}
raised = {}
for name, attempt in attempts.items():
    try:
        attempt()
    except Exception as error:
        raised[name] = [type(error).__name__, isinstance(error, GatewayError), error.code]
print(json.dumps(raised))
"""
    # When an adopter's code makes each mistake with the installed client
    raised = json.loads(client_package.run(installed, probe, env=environment))

    # Then each is the client's own error, a GatewayError with its code
    assert raised == {
        "not http(s)": ["InvalidBaseUrl", True, "invalid_base_url"],
        "no host": ["InvalidBaseUrl", True, "invalid_base_url"],
        "no credentials": ["CredentialsUnavailable", True, "credentials_unavailable"],
        "nothing listens": ["TransportError", True, "transport_error"],
    }
