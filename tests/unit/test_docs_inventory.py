"""What the README and the architecture page say the gateway is made of, against the registry and the template: a
route, a provider or a resource added to one and not the other fails here, saying which."""

from __future__ import annotations

import re

from kyc_gateway.registry import FUNCTIONS, PROVIDERS
from project import template as cfn

README = (cfn.ROOT / "README.md").read_text()
ARCHITECTURE = (cfn.ROOT / "docs" / "architecture.md").read_text()
NUMBERS = dict(
    enumerate(
        (
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        )
    )
)


def test_the_readmes_routes_are_the_registrys():
    # Given the README's routes table, and the routes of the registry
    table = README.split("## Routes", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([A-Z]+ /[^`]*)` \|", table, re.MULTILINE))
    routes = {f"{function.method} {function.path}" for function in FUNCTIONS if function.path}

    # Then each names the other's, no more
    assert listed == routes, (
        f"README.md's routes table: add {sorted(routes - listed)}, remove {sorted(listed - routes)}"
    )


def test_the_readme_names_every_provider_and_how_many_there_are():
    providers = README.split("## Routes", 1)[0]
    assert f"in front of {NUMBERS[len(PROVIDERS)]} identity/KYC providers" in providers
    for entry in PROVIDERS:
        assert re.search(rf"^\| {re.escape(entry.label)}\b", providers, re.MULTILINE) or (
            f"| {entry.title} " in providers
        ), f"README.md's providers table: no row for {entry.label}"


def test_the_architecture_page_counts_what_the_template_declares():
    resources = cfn.resources().values()

    def count(*kinds: str) -> str:
        return NUMBERS[sum(1 for resource in resources if resource["Type"] in kinds)]

    overview = ARCHITECTURE.split("\n## ", 1)[0]
    for phrase in (
        f"{NUMBERS[len(cfn.lambda_functions())]} Lambda functions",
        f"{count('AWS::DynamoDB::Table')} DynamoDB tables",
        f"{count('AWS::SQS::Queue')} SQS queues",
        f"{count('AWS::SecretsManager::Secret')} Secrets Manager secrets",
    ):
        assert re.search(phrase.replace(" ", r"\s+"), overview), f"docs/architecture.md's first paragraph: {phrase}"
