"""POST /audit/search: the audit records of one subject, newest first (compliance roles only, docs/audit.md)."""

from kyc_gateway import audit_search
from kyc_gateway.api import http_route

lambda_handler = http_route(
    audit_search.ROUTE,
    audit_search.Search,
    audit_search.search,
    parse=audit_search.parse,
    body_model=audit_search.SearchRequest,
)
