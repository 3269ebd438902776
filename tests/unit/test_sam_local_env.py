"""events/env.json, for `sam local invoke --env-vars`, is generated from the template and kept current."""

from __future__ import annotations

import json

from local import sam_local_env
from local import template as cfn


def test_the_committed_env_json_is_what_the_template_gives():
    assert sam_local_env.DOCUMENT.read_text() == sam_local_env.render(), "run `python -m local.sam_local_env`"


def test_it_has_a_section_of_plain_strings_for_every_function_and_no_top_level_comment():
    document = json.loads(sam_local_env.DOCUMENT.read_text())
    assert set(document) == {"Parameters", *cfn.functions()}  # SAM refuses any key whose value is not a map
    for section in document.values():
        assert all(isinstance(value, str) for value in section.values())
