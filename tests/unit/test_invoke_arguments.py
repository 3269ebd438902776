"""`make invoke` refuses what is not an event with a clear message, before starting anything."""

from __future__ import annotations

import pytest

from local import invoke
from project import template as cfn


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[1, 2]", "must hold one JSON object (an event), not a list"),
        ('"text"', "must hold one JSON object (an event), not a str"),
        ("{not json", "is not JSON"),
    ],
)
def test_an_event_file_that_is_not_an_event_is_a_usage_error(tmp_path, capsys, content, message):
    event = tmp_path / "event.json"
    event.write_text(content)

    with pytest.raises(SystemExit) as exited:
        invoke.main(["CladfyKraPinFunction", str(event)])

    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_a_missing_event_file_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        invoke.main(["CladfyKraPinFunction", str(tmp_path / "absent.json")])

    assert exited.value.code == 2
    assert "cannot read the event file" in capsys.readouterr().err


def test_an_unknown_function_is_a_usage_error_that_shows_the_make_form_and_the_functions(capsys):
    with pytest.raises(SystemExit) as exited:
        invoke.main(["Nope", "events/CladfyKraPinFunction.json"])

    assert exited.value.code == 2
    said = capsys.readouterr().err
    assert "usage: make invoke FUNCTION=<LogicalId> EVENT=events/<file>.json" in said
    assert "unknown function Nope; one of: " in said
    assert set(said.split("one of: ", 1)[1].strip().split(", ")) == set(cfn.functions())
