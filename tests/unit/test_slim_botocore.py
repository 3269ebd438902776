"""The layer ships botocore's data for the services the gateway calls only (build_steps/slim_botocore.py): those
services still get every client and every endpoint they had, and nothing else is shipped."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import botocore
import botocore.loaders
import botocore.session
import pytest
from botocore.exceptions import BotoCoreError, UnknownServiceError
from botocore.regions import EndpointResolver

from build_steps import slim_botocore
from kyc_gateway import aws
from project import LAYER_DIR

FULL_DATA = Path(botocore.__file__).parent / "data"
SAMPLE_REGIONS = ("us-east-1", "eu-west-1", "ap-south-1", "me-central-1", "af-south-1")  # and names no list has


@pytest.fixture(scope="module")
def slimmed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site_packages = tmp_path_factory.mktemp("site-packages")
    shutil.copytree(FULL_DATA, site_packages / "botocore" / "data")
    slim_botocore.slim(site_packages)
    return site_packages / "botocore" / "data"


def session_on(data: Path) -> botocore.session.Session:
    session = botocore.session.Session()
    session.register_component("data_loader", botocore.loaders.Loader([str(data)], include_default_search_paths=False))
    return session


def test_given_the_slimmed_data_then_only_the_services_the_gateway_calls_remain(slimmed):
    assert {path.name for path in slimmed.iterdir() if path.is_dir()} == aws.SHIPPED_SERVICES
    assert slim_botocore.problems(slimmed.parents[1]) == []


def test_given_unslimmed_data_then_the_check_names_what_is_left(tmp_path):
    (tmp_path / "botocore" / "data").mkdir(parents=True)
    for service in [*aws.SHIPPED_SERVICES, "kinesis"]:
        shutil.copytree(FULL_DATA / service, tmp_path / "botocore" / "data" / service)
    shutil.copy(FULL_DATA / "endpoints.json", tmp_path / "botocore" / "data" / "endpoints.json")

    found = slim_botocore.problems(tmp_path)

    assert found[0].endswith("ships kinesis, which the gateway does not call")
    assert "endpoints.json: not slimmed" in found[1] and len(found) == 2


def resolved(resolver: EndpointResolver, prefix: str, region: str, partition: str, variants: dict) -> object:
    try:
        return resolver.construct_endpoint(prefix, region, partition_name=partition, **variants)
    except BotoCoreError as error:
        return type(error).__name__


@pytest.mark.parametrize("service", sorted(aws.SERVICES))
def test_every_endpoint_of_a_kept_service_resolves_as_before(slimmed, service, caplog):
    caplog.set_level("ERROR", "botocore.regions")  # deprecated FIPS region names are part of "every region"
    # Given the full and the slimmed endpoints.json
    full = EndpointResolver(json.loads((FULL_DATA / "endpoints.json").read_text()), uses_builtin_data=True)
    slim = EndpointResolver(json.loads((slimmed / "endpoints.json").read_text()), uses_builtin_data=True)
    prefix = slim_botocore.endpoint_prefix(FULL_DATA / service)
    regions = [
        (partition, region)
        for partition in full.get_available_partitions()
        for region in [*full.get_available_endpoints(prefix, partition, allow_non_regional=True), *SAMPLE_REGIONS]
    ]
    assert regions

    # When every region of every partition is resolved, with and without FIPS and dual-stack
    for partition, region in regions:
        for variants in ({}, {"use_fips_endpoint": True}, {"use_dualstack_endpoint": True}):
            # Then the slimmed data answers exactly what the full data answers (or refuses as it refuses)
            expected = resolved(full, prefix, region, partition, variants)
            assert resolved(slim, prefix, region, partition, variants) == expected, (region, variants)


@pytest.mark.parametrize("service", sorted(aws.SERVICES))
def test_a_kept_service_keeps_its_endpoints_entries_under_the_key_botocore_looks_up(slimmed, service):
    prefix = botocore.session.get_session().get_service_model(service).endpoint_prefix
    full = json.loads((FULL_DATA / "endpoints.json").read_text())["partitions"]
    slim = json.loads((slimmed / "endpoints.json").read_text())["partitions"]

    assert slim_botocore.endpoint_prefix(FULL_DATA / service) == prefix
    entries = [partition["services"].get(prefix) for partition in full]
    assert any(entries)  # else the resolution test would only compare the partitions' defaults
    assert [partition["services"].get(prefix) for partition in slim] == entries


@pytest.mark.parametrize("service", sorted(aws.SERVICES))
def test_a_client_of_a_kept_service_is_built_from_the_slimmed_data(slimmed, service):
    client = session_on(slimmed).create_client(
        service, region_name="eu-west-1", aws_access_key_id="k", aws_secret_access_key="s"
    )
    assert client.meta.endpoint_url.endswith(".eu-west-1.amazonaws.com")


def test_a_service_the_gateway_does_not_call_is_not_shipped(slimmed):
    with pytest.raises(UnknownServiceError):
        session_on(slimmed).create_client("kinesis", region_name="eu-west-1")


def test_a_client_of_an_unlisted_service_fails_in_every_test_not_only_on_lambda():
    with pytest.raises(ValueError, match="SERVICES"):
        aws.client("kinesis")


def test_every_service_the_layer_names_is_listed():
    named = {
        match
        for path in (LAYER_DIR / "kyc_gateway").rglob("*.py")
        for match in re.findall(r"client\(\"([a-z0-9-]+)\"\)", path.read_text())
    }
    assert named and named <= aws.SHIPPED_SERVICES
