"""The API's part of template.yaml that follows from the registry's routes and the layer's error envelope: who may
call which route (the resource policy, the callers' managed policy), and API Gateway's own refusals."""

from __future__ import annotations

import json
from typing import Any

from generators.intrinsics import ref, sub
from kyc_gateway.registry import FunctionEntry

INVOKE = "execute-api:Invoke"


def api_access(functions: tuple[FunctionEntry, ...]) -> dict[str, Any]:
    """Who may call which route, from the registry's routes (a new route is covered by itself):

    - the API's resource policy: the signed routes for the principals or accounts of CallerPrincipals (default: this
      account) and no one else, each as its own IAM policy allows, the public (webhook) routes for anyone or
      WebhookSourceCidrs, and with a PRIVATE endpoint nothing but through VpcEndpointIds;
    - GatewayCallersPolicy, for callers' roles: invoke on the caller routes only (no webhook, no audit route)."""
    routes = [function for function in functions if function.invoke_path]
    signed = [
        sub(f"execute-api:/${{Environment}}/{function.invoke_path}") for function in routes if not function.public
    ]
    public = [sub(f"execute-api:/${{Environment}}/{function.invoke_path}") for function in routes if function.public]
    callers = {"Fn::If": ["HasCallerPrincipals", ref("CallerPrincipals"), [ref("AWS::AccountId")]]}
    other_accounts = {
        "Sid": "NamedCallersOfOtherAccounts",
        "Effect": "Allow",
        "Principal": {"AWS": ref("CallerPrincipals")},
        "Action": INVOKE,
        "Resource": signed,
        "Condition": {"StringNotEquals": {"aws:PrincipalAccount": ref("AWS::AccountId")}},
    }
    statements: list[Any] = [
        # This account's identities are allowed only as their own IAM policies allow (an allow naming the account
        # delegates to them): an allow naming one of its roles would let that role call every signed route, the
        # audit search included, with no policy of its own. Other accounts' named principals are allowed here, and
        # need their own account's policy too (cross-account calls always do).
        {
            "Sid": "ThisAccountsCallers",
            "Effect": "Allow",
            "Principal": {"AWS": ref("AWS::AccountId")},
            "Action": INVOKE,
            "Resource": signed,
        },
        {"Fn::If": ["HasCallerPrincipals", other_accounts, ref("AWS::NoValue")]},
        {  # the allows name them; this keeps out every identity not named, whatever its own policies allow
            "Sid": "NoOtherCallers",
            "Effect": "Deny",
            "Principal": "*",
            "Action": INVOKE,
            "Resource": signed,
            "Condition": {
                "StringNotEquals": {"aws:PrincipalAccount": callers},
                "StringNotLike": {"aws:PrincipalArn": callers},
            },
        },
    ]
    if public:
        source = {"IpAddress": {"aws:SourceIp": ref("WebhookSourceCidrs")}}
        statements.append(
            {
                "Sid": "Webhooks",
                "Effect": "Allow",
                "Principal": "*",
                "Action": INVOKE,
                "Resource": public,
                "Condition": {"Fn::If": ["HasWebhookSourceCidrs", source, ref("AWS::NoValue")]},
            }
        )
    through_endpoints = {
        "Sid": "OnlyThroughTheVpcEndpoints",
        "Effect": "Deny",
        "Principal": "*",
        "Action": INVOKE,
        "Resource": "execute-api:/*",
        "Condition": {"StringNotEquals": {"aws:SourceVpce": ref("VpcEndpointIds")}},
    }
    statements.append({"Fn::If": ["IsPrivateApi", through_endpoints, ref("AWS::NoValue")]})
    api_arn = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${GatewayApi}/${Environment}/"
    caller_routes = [sub(api_arn + function.invoke_path) for function in routes if function.caller_route]
    return {
        "GatewayApi": {
            "Type": "AWS::Serverless::Api",
            "Properties": {
                "Policy": {"Version": "2012-10-17", "Statement": statements},
                "GatewayResponses": gateway_responses(),
            },
        },
        "GatewayCallersPolicy": {
            "Type": "AWS::IAM::ManagedPolicy",
            "Properties": {
                "Description": "Call the KYC gateway: invoke on its caller routes (not the webhook, not audit)",
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Sid": "InvokeTheCallerRoutes", "Effect": "Allow", "Action": INVOKE, "Resource": caller_routes}
                    ],
                },
            },
        },
    }


# API Gateway's own refusals -> the code of the gateway's error envelope they answer with.
GATEWAY_RESPONSES = {
    "DEFAULT_4XX": "request_refused",
    "DEFAULT_5XX": "gateway_error",
    "MISSING_AUTHENTICATION_TOKEN": "not_authenticated",  # an unsigned request, or an unknown route or method
    "UNAUTHORIZED": "not_authenticated",
    "ACCESS_DENIED": "forbidden",
    "INVALID_SIGNATURE": "not_authenticated",
    "EXPIRED_TOKEN": "not_authenticated",
    "THROTTLED": "throttled",
    "REQUEST_TOO_LARGE": "request_too_large",
    "INTEGRATION_TIMEOUT": "gateway_timeout",
}
# A caller not authenticated is 401, as the gateway's contract says; API Gateway's own status for these is 403.
# (It cannot tell an unknown route or method from an unsigned request: both are MISSING_AUTHENTICATION_TOKEN.)
NOT_AUTHENTICATED_STATUS = 401


def gateway_responses() -> dict[str, Any]:
    """API Gateway's own refusals in the layer's error envelope (its message API Gateway's, its correlationId the
    request id), echoing the caller's X-Correlation-Id header as the functions do (as sent: API Gateway cannot
    check it)."""
    from kyc_gateway.errors import GatewayError

    def envelope(code: str) -> str:
        # API Gateway substitutes $context.error.messageString as a quoted JSON string, $context.requestId bare.
        text = json.dumps(GatewayError("MESSAGE", code=code).envelope("REQUEST-ID"))
        return text.replace('"MESSAGE"', "$context.error.messageString").replace("REQUEST-ID", "$context.requestId")

    echo = {"Headers": {"X-Correlation-Id": "method.request.header.X-Correlation-Id"}}
    status = {"StatusCode": str(NOT_AUTHENTICATED_STATUS)}
    return {
        kind: {"ResponseParameters": echo, "ResponseTemplates": {"application/json": envelope(code)}}
        | (status if code == "not_authenticated" else {})
        for kind, code in GATEWAY_RESPONSES.items()
    }
