"""make mutation's configuration: every module of the layer it must cover, with tests that exist, and every listed
equivalent mutant with its reason."""

from __future__ import annotations

import ast
import tomllib

from mutation import __main__ as mutation
from mutation.modules import CORE, MODULES, REST
from project import template as cfn

PACKAGE = cfn.ROOT / "layers" / "gateway" / "kyc_gateway"
# The modules that decide whether a write is sent twice or a caller waits past its deadline, at 90%
CORE_MODULES = {
    "http.py",
    "token_cache.py",
    "idempotency_keys.py",
    "claims.py",
    "secrets.py",
    "strict_json.py",  # what is forwarded: the JSON every body is read as, and the caller's bytes
    "fields.py",
    "clock.py",
    "watchdog.py",  # the end of a provider's answer at its deadline
}


def has_mutable_functions(path) -> bool:
    """Functions mutmut mutates: undecorated ones, static and class methods (it leaves the others alone)."""
    return any(
        isinstance(node, ast.FunctionDef)
        and all(isinstance(d, ast.Name) and d.id in ("staticmethod", "classmethod") for d in node.decorator_list)
        for node in ast.walk(ast.parse(path.read_text()))
    )


def test_every_module_of_the_api_edge_errors_and_providers_is_mutated_at_its_goal():
    goals = {module.path: module.goal for module in MODULES}
    providers = {
        str(path.relative_to(PACKAGE))
        for path in (PACKAGE / "providers").rglob("*.py")
        if path.name != "__init__.py" and has_mutable_functions(path)
    }
    assert {path: goals.get(path) for path in CORE_MODULES} == dict.fromkeys(CORE_MODULES, CORE)
    assert {
        path: goals.get(path) for path in providers | {"api.py", "errors.py", "audit.py", "audit_search.py"}
    } == dict.fromkeys(providers | {"api.py", "errors.py", "audit.py", "audit_search.py"}, REST)


def test_every_module_and_test_named_exists():
    for module in MODULES:
        assert (PACKAGE / module.path).is_file(), module.path
        for test in module.tests:
            assert (cfn.ROOT / test).is_file(), (module.path, test)


def test_every_listed_equivalent_mutant_names_a_known_module_and_says_why():
    entries = tomllib.loads(mutation.EQUIVALENTS.read_text()).get("mutant", [])
    known = {module.path for module in MODULES}
    for entry in entries:
        assert entry["module"] in known, entry
        assert entry["why"].strip() and entry["original"] != entry["mutated"], entry
    assert len(mutation.load_equivalents()) == len(entries)  # no entry twice


def test_a_mutants_function_is_named_as_a_reader_would():
    assert mutation.readable_function("kyc_gateway.http.xǁProviderHttpǁpost__mutmut_8") == "ProviderHttp.post"
    assert mutation.readable_function("kyc_gateway.http.x__maybe_done__mutmut_2") == "_maybe_done"
