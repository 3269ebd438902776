"""CodeDeploy's pre-traffic hook: a function's new version must answer the deploy check before any traffic shifts."""

from kyc_gateway.deploy_hook import lambda_handler

__all__ = ["lambda_handler"]
