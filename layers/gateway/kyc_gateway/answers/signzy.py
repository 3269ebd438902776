"""Signzy EzKRA's success bodies: the repush page shows its answer by example only."""

from __future__ import annotations

from kyc_gateway.answers import answer, by_example

SCHEMAS = {
    "RepushAnswer": answer(
        "Signzy's answer to a repush, as Signzy sends it (its page shows it by example only: every field may be "
        "absent).",
        {
            "onboardingId": by_example("string", "the onboarding re-pushed"),
            "customerId": by_example("string", "Signzy's id of the customer that logged in"),
            "callbackUrl": by_example("string", "empty in Signzy's example"),
            "message": by_example("string", "e.g. The application is in progress, and it has been repushed to KRA"),
        },
    )
}
ANSWERS = {"signzy.repush": "RepushAnswer"}
