"""Run with aws-sam-cli's own venv: the environment `sam local invoke --env-vars <file>` gives each function of
<template>, as SAM CLI itself resolves it (template variables, the file's overrides, the shell's credentials).
Prints {LogicalId: {variable: value}} as JSON."""

import json
import sys

from samcli.commands.local.lib.local_lambda import LocalLambdaRunner
from samcli.lib.providers.sam_function_provider import SamFunctionProvider
from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider

template, env_vars_file = sys.argv[1], sys.argv[2]
stacks, _ = SamLocalStackProvider.get_stacks(template)
provider = SamFunctionProvider(stacks)
with open(env_vars_file) as handle:
    env_vars_values = json.load(handle)
runner = LocalLambdaRunner(
    local_runtime=None, function_provider=provider, cwd=".", real_path=".", env_vars_values=env_vars_values
)
resolved = {function.name: runner._make_env_vars(function).resolve() for function in provider.get_all()}
print(json.dumps(resolved))
