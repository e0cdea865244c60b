"""The state changes' entry points of every store, said once: `create_pending`, `confirm` and
`confirm_code` bundle their arguments as the domain's inputs (`domain.transitions`) and hand
them to the store's `_create` / `_confirm`, which read, lock and write what the domain
decides."""

from __future__ import annotations

from datetime import datetime

from regflow.domain import Consent, CreateResult, Limit, Outcome, Registration, SpentChallenge
from regflow.domain.transitions import CodeEntry, ConfirmInputs, CreateInputs


class DecidedChanges:
    # where each confirmation's event goes (`regflow.domain.events`: one owed message per
    # target, written with the confirmation); DynamoDB's stream owes them instead
    event_targets: tuple[str, ...] = ()

    def create_pending(
        self,
        registration: Registration,
        *,
        address_limit: Limit,
        client_key: str | None,
        client_limit: Limit,
        challenge: SpentChallenge | None = None,
    ) -> CreateResult:
        inputs = CreateInputs(address_limit, client_key, client_limit, challenge)
        return self._create(registration, inputs)

    def confirm(
        self,
        registration_id: str,
        addr_key: str,
        now: datetime,
        *,
        consent: Consent | None = None,
    ) -> Outcome:
        inputs = ConfirmInputs(addr_key, consent, self.event_targets)
        return self._confirm(registration_id, now, inputs)

    def confirm_code(
        self,
        registration_id: str,
        addr_key: str,
        now: datetime,
        *,
        matched: bool,
        max_tries: int,
        consent: Consent | None = None,
    ) -> Outcome:
        code = CodeEntry(matched, max_tries)
        inputs = ConfirmInputs(addr_key, consent, self.event_targets, code)
        return self._confirm(registration_id, now, inputs)

    def _create(self, registration: Registration, inputs: CreateInputs) -> CreateResult:
        raise NotImplementedError

    def _confirm(self, registration_id: str, now: datetime, inputs: ConfirmInputs) -> Outcome:
        raise NotImplementedError
