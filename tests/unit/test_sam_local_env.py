"""events/env.json (for `sam local invoke --env-vars`) and local/secrets.local.json are generated and kept current."""

from __future__ import annotations

import json
import re

from generators import local_secrets, sam_local_env
from local.aws_resources import secret_provider_name
from project import template as cfn


def test_the_committed_env_json_is_what_the_template_gives():
    assert sam_local_env.DOCUMENT.read_text() == sam_local_env.render(), "run `python -m generators.sam_local_env`"


def test_it_has_a_section_of_plain_strings_for_every_function_and_no_top_level_comment():
    document = json.loads(sam_local_env.DOCUMENT.read_text())
    assert set(document) == {"Parameters", *cfn.functions()}  # SAM refuses any key whose value is not a map
    for section in document.values():
        assert all(isinstance(value, str) for value in section.values())


def test_the_docs_show_sam_local_invoke_for_every_function_on_an_event_that_exists():
    guide = (cfn.ROOT / "docs" / "local-stack.md").read_text()
    shown = dict((function, event) for event, function in re.findall(r"\$SAM_INVOKE -e (\S+) (\w+)", guide))
    assert set(shown) == set(cfn.functions())
    assert all((cfn.ROOT / event).is_file() for event in shown.values())
    assert "--env-vars events/env.json" in guide
    assert "docs/local-stack.md#with-docker-sam-local-invoke" in (cfn.ROOT / "README.md").read_text()


def test_the_committed_local_secrets_are_what_the_sandbox_providers_declare():
    assert local_secrets.DOCUMENT.read_text() == local_secrets.render(), "run `python -m generators.local_secrets`"


def test_every_secret_of_the_template_has_a_fake_value_in_the_local_secrets():
    # Given the template's secrets, When the local stack seeds them, Then each has its section
    document = local_secrets.document()
    for logical_id, resource in cfn.resources().items():
        if resource["Type"] == "AWS::SecretsManager::Secret":
            assert secret_provider_name(logical_id) in document, logical_id
