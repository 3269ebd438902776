"""template.yaml is generated from infrastructure/gateway.yaml and the registry; what the source writes amends what
is generated, never drops it."""

from __future__ import annotations

from generators import template as generator


def test_template_yaml_is_what_the_source_and_the_registry_give():
    # A stale template.yaml would deploy something no one wrote: `make template` regenerates it
    assert generator.TARGET.read_text() == generator.render(generator.build()), "run `make template`"


def test_a_source_block_adds_its_policies_and_variables_after_the_generated_ones():
    generated = {"Policies": [{"Ref": "DataKeyDecryptPolicy"}], "Environment": {"Variables": {"A": "1"}}}
    written = {"Policies": [{"Ref": "DataKeyDecryptPolicy"}, {"Ref": "Extra"}], "Environment": {"Variables": {"B": 2}}}

    merged = generator.amend(generated, written)

    assert merged["Policies"] == [{"Ref": "DataKeyDecryptPolicy"}, {"Ref": "Extra"}]
    assert merged["Environment"]["Variables"] == {"A": "1", "B": 2}


def test_a_source_block_replaces_a_generated_scalar_and_adds_its_own_keys():
    merged = generator.amend({"MemorySize": 512, "Timeout": 25}, {"MemorySize": 1024, "EventInvokeConfig": {}})
    assert merged == {"MemorySize": 1024, "Timeout": 25, "EventInvokeConfig": {}}


def test_every_registered_function_and_provider_is_in_the_template_and_no_alarm_is_written_by_hand():
    source = generator.load(generator.SOURCE)
    built = generator.build()
    for function in generator.FUNCTIONS:
        for suffix in ("", "ErrorsAlarm", "ThrottlesAlarm", "GatewayFaultsAlarm"):
            assert f"{function.logical_id}{suffix}" in built["Resources"]
        assert function.log_group in built["Resources"]
    for provider in generator.PROVIDERS:
        assert {provider.secret, f"{provider.title}ProviderFailuresAlarm"} <= set(built["Resources"])
    # the source writes only the alarms that are the gateway's as a whole, none per function or per provider
    names = [name for name, resource in source["Resources"].items() if resource["Type"] == "AWS::CloudWatch::Alarm"]
    per_function = tuple(function.logical_id for function in generator.FUNCTIONS)
    per_provider = {
        f"{p.title}{kind}Alarm" for p in generator.PROVIDERS for kind in ("ProviderFailures", "TokenFailures")
    }
    assert [name for name in names if name.startswith(per_function) or name in per_provider] == []


def test_the_check_mode_fails_on_a_stale_template(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "template.yaml"
    stale.write_text(generator.TARGET.read_text().replace("Threshold: 5", "Threshold: 50", 1))
    monkeypatch.setattr(generator, "TARGET", stale)

    assert generator.main(["--check"]) == 1
    assert "make template" in capsys.readouterr().err
    assert generator.main([]) == 0 and generator.main(["--check"]) == 0


def test_every_checkov_skip_is_on_its_resource_with_a_reason_not_in_the_configuration():
    """checkov run on template.yaml without this repository's configuration (a reviewer's own run) must agree with
    `make checkov`: the configuration skips nothing, and each resource's skip says why."""
    configuration = (generator.project.ROOT / ".checkov.yaml").read_text()
    skips = [
        (logical_id, skip)
        for logical_id, resource in generator.build()["Resources"].items()
        for skip in ((resource.get("Metadata") or {}).get("checkov") or {}).get("skip", [])
    ]

    functions = {function.logical_id for function in generator.FUNCTIONS} | {generator.DEPLOY_HOOK}
    skipping = {
        check: {logical_id for logical_id, skip in skips if skip["id"] == check}
        for _, skip in skips
        for check in [skip["id"]]
    }

    assert "skip-check" not in configuration
    assert skipping == {
        "CKV_AWS_116": functions,  # a dead-letter queue per function
        "CKV_AWS_117": functions,  # functions inside a VPC
        "CKV_AWS_120": {"GatewayApi"},  # API Gateway caching
        "CKV_AWS_115": {generator.DEPLOY_HOOK},  # reserved concurrency (every other function declares it)
        "CKV_AWS_18": {"AuditArchiveBucket"},  # an access log bucket (CloudTrail's data events say who wrote or read)
    }
    assert all(len(skip["comment"]) > 40 for _, skip in skips)
