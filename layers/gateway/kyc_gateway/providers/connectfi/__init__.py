"""connectFi (US KYC/KYB, "akepa"): the client (token, identification, status), webhook ingestion and processing,
and the store of each application's latest confirmed state."""
