"""Intake: the request path (register, confirm). One store call per request, no I/O of its
own, no mail: what a state change owes is written with it and delivered later
(`regflow.delivery`)."""

from __future__ import annotations

import logging
from datetime import timedelta

from regflow.challenge import ChallengeIssuer
from regflow.config import Rules
from regflow.domain import (
    ClientRateLimited,
    Consent,
    CreateResult,
    Outcome,
    Registration,
    Status,
    ValidationError,
    address_key,
    consent_of,
    mask_email,
    utcnow,
)
from regflow.domain.transitions import ResendInputs, decide_resend
from regflow.ports import Clock, ErasureStore, IdFactory, RegistrationStore
from regflow.render import SUPPORTED_LANGUAGES
from regflow.tokens import (
    TokenSigner,
    code_matches,
    issue_handle,
    new_registration_id,
    read_handle,
)
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
        challenges: ChallengeIssuer | None = None,
    ) -> None:
        self.challenges = challenges  # CHALLENGE=pow (`regflow.challenge`), else None
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
        registration_id: str | None = None,
        consent: Consent | None = None,
        challenge: object = None,
    ) -> CreateResult | None:
        """Validate and store a PENDING registration; its verification message is owed
        through the outbox. Raises `ValidationError`, `ClientRateLimited`, `StoreUnavailable`.

        Returns None when a bot trap caught the post (nothing stored). Callers must answer
        every non-error return the same way: the caller's answer never tells whether the
        address was new, pending, confirmed or limited."""
        if honeypot:  # before validation: a bot gets the normal answer and learns no rules
            log.info("bot trap: honeypot field filled; nothing stored")
            return None
        spent = None
        if self.challenges is not None:  # CHALLENGE=pow: refused like a bad field
            spent = self.challenges.verify(challenge, self.clock().timestamp())
        clean = clean_name(name)
        address = clean_email(email, self.rules.blocked_email_domains)
        now = self.clock()
        registration = Registration(
            id=registration_id or self._new_id(),
            name=clean,
            email=address,
            status=Status.PENDING,
            timestamp=now,
            ttl=int((now + timedelta(hours=self.rules.token_ttl_hours)).timestamp()),
            language=language if language in SUPPORTED_LANGUAGES else self.rules.default_language,
            signup_consent=consent,
        )
        if spent is None:
            result = self.store.create_pending(
                registration,
                address_limit=self.rules.address_limit,
                client_key=client_key,
                client_limit=self.rules.client_limit,
            )
        else:  # the solution is spent in the same atomic write (single use)
            result = self.store.create_pending(
                registration,
                address_limit=self.rules.address_limit,
                client_key=client_key,
                client_limit=self.rules.client_limit,
                challenge=spent,
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

    def consent_of(self, ip: str | None, user_agent: str | None) -> Consent:
        """The proof of consent of one request, as the rules keep it (CONSENT_IP,
        CONSENT_TEXT_VERSION, the user agent truncated)."""
        rules = self.rules
        return consent_of(
            ip, user_agent, mode=rules.consent_ip, text_version=rules.consent_text_version
        )

    def confirm(self, token: object, consent: Consent | None = None) -> Outcome:
        parsed = self.check_token(token)
        if parsed is None:
            outcome = Outcome.INVALID
        else:
            registration_id, addr_key = parsed
            if consent is None:
                outcome = self.store.confirm(registration_id, addr_key, self.clock())
            else:
                outcome = self.store.confirm(
                    registration_id, addr_key, self.clock(), consent=consent
                )
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

    # --- CONFIRM_CODE: the code beside the link ------------------------------------------

    def register_with_handle(
        self,
        name: object,
        email: object,
        *,
        client_key: str | None = None,
        honeypot: object = "",
        language: str | None = None,
        consent: Consent | None = None,
        challenge: object = None,
    ) -> tuple[CreateResult | None, str]:
        """`register`, and the handle (`tokens.issue_handle`) the submitting browser keeps to
        send the code later. Every accepted post gets one of the same shape, whether a
        registration was written, limited or caught by the bot trap: a fresh random id and
        the key of the address as typed, which the submitter knows anyway."""
        registration_id = self._new_id()
        result = self.register(
            name,
            email,
            client_key=client_key,
            honeypot=honeypot,
            language=language,
            registration_id=registration_id,
            consent=consent,
            challenge=challenge,
        )
        try:
            address = clean_email(email, self.rules.blocked_email_domains)
        except ValidationError:  # the bot trap answered before any check
            address = email if isinstance(email, str) else ""
        return result, issue_handle(registration_id, address_key(address))

    def confirm_code(self, handle: object, code: object, consent: Consent | None = None) -> Outcome:
        """Confirm the registration `handle` names with the code from its mail. INVALID for
        a wrong code, an unknown handle, or a registration whose code is dead (too many wrong
        codes): the three are one answer. A right code gives `confirm`'s outcomes."""
        parsed = read_handle(handle)
        if parsed is None or not isinstance(code, str):
            log.info("confirmation by code %s", Outcome.INVALID.value)
            return Outcome.INVALID
        registration_id, addr_key = parsed
        digits = code.strip().replace(" ", "").replace("-", "")
        matched = digits.isascii() and code_matches(self.signer, registration_id, addr_key, digits)
        outcome = self.store.confirm_code(
            registration_id,
            addr_key,
            self.clock(),
            matched=matched,
            max_tries=self.rules.code_max_tries,
            consent=consent,
        )
        log.info("confirmation by code %s", outcome.value)
        return outcome

    # --- a way back from an expired link: "send me a new link" ----------------------------

    def resend(
        self, token: object, *, client_key: str | None = None, consent: Consent | None = None
    ) -> CreateResult | None:
        """A fresh registration (new id, new link, new code) for the one a genuine link
        token names, if that one is still PENDING (expired or not: the store keeps expired
        ones until its TTL purge), under the same per-address and per-client limits as
        `register`. None when nothing was written for any reason but the address limit
        (forged token, registration gone or confirmed, client limited): callers answer every
        non-error return the same way. Two store calls: read the registration, then
        `create_pending`. Raises `StoreUnavailable`."""
        parsed = self.check_token(token)
        if parsed is None:
            log.info("resend: not a genuine token; nothing written")
            return None
        registration_id, addr_key = parsed
        inputs = ResendInputs(addr_key, self._new_id, self.rules.token_ttl_hours, consent)
        fresh = decide_resend(self.store.get(registration_id), self.clock(), inputs)
        if fresh is None:
            log.info("resend: no pending registration; nothing written")
            return None
        try:
            result = self.store.create_pending(
                fresh,
                address_limit=self.rules.address_limit,
                client_key=client_key,
                client_limit=self.rules.client_limit,
            )
        except ClientRateLimited:
            log.info("resend: client limited; nothing written")
            return None
        log.info(
            "resend %s",
            result.value,
            extra={"registration_id": fresh.id, "email": mask_email(fresh.email)},
        )
        return result

    # --- CHALLENGE=pow --------------------------------------------------------------------

    def issue_challenge(self) -> dict[str, object] | None:
        """A fresh signed challenge (ALTCHA format), or None when CHALLENGE is off."""
        if self.challenges is None:
            return None
        return self.challenges.issue(self.clock().timestamp())
