"""Run with aws-sam-cli's own venv: the CloudFormation template AWS deploys from <template> (SAM's own translator,
with each CodeUri/ContentUri replaced by an S3 URI as `sam package` does), for the given parameter values.
Prints the transformed template as JSON. Usage: transformed_template.py <template> [Name=value ...]"""

import json
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicies:
    """The template names no AWS managed policy by name (only ARNs and its own policies): nothing to look up."""

    def load(self) -> dict:
        return {}


with open(sys.argv[1]) as source:
    template = yaml_parse(source.read())
parameters = dict(argument.split("=", 1) for argument in sys.argv[2:])
for resource in template["Resources"].values():
    properties = resource.get("Properties") or {}
    for key in ("CodeUri", "ContentUri"):
        if isinstance(properties.get(key), str):
            properties[key] = f"s3://artifacts/{properties[key]}"
print(json.dumps(transform(template, parameters, NoManagedPolicies())))
