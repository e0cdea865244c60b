"""Intake: the request path (register, confirm). One store call per request, no I/O of its
own, no mail: what a state change owes is written with it and delivered later
(`regflow.delivery`)."""

from __future__ import annotations

import logging
from datetime import timedelta

from regflow.config import LANGUAGES, Rules
from regflow.domain import CreateResult, Outcome, Registration, Status, mask_email, utcnow
from regflow.ports import Clock, ErasureStore, IdFactory, RegistrationStore
from regflow.tokens import TokenSigner, new_registration_id
from regflow.validation import clean_email, clean_name

log = logging.getLogger("regflow.intake")


class IntakeService:
    def __init__(
        self,
        *,
        store: RegistrationStore,
        rules: Rules,
        signer: TokenSigner,
        clock: Clock = utcnow,
        new_id: IdFactory = new_registration_id,
    ) -> None:
        self.store = store
        self.rules = rules
        self.signer = signer
        self.clock = clock
        self._new_id = new_id
        self._erasure_signer: TokenSigner | None = None

    # --- step 1: register ---------------------------------------------------------------

    def register(
        self,
        name: object,
        email: object,
        *,
        client_key: str | None = None,
        honeypot: object = "",
        language: str | None = None,
    ) -> CreateResult | None:
        """Validate and store a PENDING registration; its verification message is owed
        through the outbox. Raises `ValidationError`, `ClientRateLimited`, `StoreUnavailable`.

        Returns None when a bot trap caught the post (nothing stored). Callers must answer
        every non-error return the same way: the caller's answer never tells whether the
        address was new, pending, confirmed or limited."""
        if honeypot:  # before validation: a bot gets the normal answer and learns no rules
            log.info("bot trap: honeypot field filled; nothing stored")
            return None
        clean = clean_name(name)
        address = clean_email(email, self.rules.blocked_email_domains)
        now = self.clock()
        registration = Registration(
            id=self._new_id(),
            name=clean,
            email=address,
            status=Status.PENDING,
            timestamp=now,
            ttl=int((now + timedelta(hours=self.rules.token_ttl_hours)).timestamp()),
            language=language if language in LANGUAGES else self.rules.default_language,
        )
        result = self.store.create_pending(
            registration,
            address_limit=self.rules.address_limit,
            client_key=client_key,
            client_limit=self.rules.client_limit,
        )
        log.info(
            "registration %s",
            result.value,
            extra={"registration_id": registration.id, "email": mask_email(address)},
        )
        return result

    # --- step 2: confirm ----------------------------------------------------------------

    def check_token(self, token: object) -> tuple[str, str] | None:
        """`(registration_id, addr_key)` if the token is genuine; touches no store."""
        if not isinstance(token, str):
            return None
        return self.signer.verify(token.strip())

    def confirm(self, token: object) -> Outcome:
        parsed = self.check_token(token)
        if parsed is None:
            outcome = Outcome.INVALID
        else:
            registration_id, addr_key = parsed
            outcome = self.store.confirm(registration_id, addr_key, self.clock())
        log.info("confirmation %s", outcome.value)
        return outcome

    # --- self-service erasure (docs/erasure.md) -----------------------------------------

    def check_erase_token(self, token: object) -> tuple[str, str] | None:
        """`(registration_id, addr_key)` if the erasure token is genuine; touches no store."""
        if not isinstance(token, str):
            return None
        if self._erasure_signer is None:
            self._erasure_signer = self.signer.for_erasure()
        return self._erasure_signer.verify(token.strip())

    def erase(self, token: object) -> bool | None:
        """Erase the address the token names (one atomic store step, which also owes the
        owner's notice and the Registration Erased events). None: the token is not genuine;
        False: nothing left to erase (erased already); True: erased."""
        parsed = self.check_erase_token(token)
        if parsed is None:
            log.info("erasure invalid")
            return None
        eraser = getattr(self.store, "erase", None)
        if eraser is None:
            raise RuntimeError("this store cannot erase registrations")
        store: ErasureStore = self.store  # type: ignore[assignment]
        erased = store.erase(parsed[0], parsed[1], self.clock())
        log.info("erasure %s", "erased" if erased else "nothing-left")
        return erased is not None
