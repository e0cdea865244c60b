"""RegistrationService: the rules of the pipeline, over the ports. No I/O of its own."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from regflow.config import Settings
from regflow.domain import (
    CreateResult,
    Email,
    MailKind,
    OutboxEntry,
    Outcome,
    Registration,
    Status,
    mask_email,
    utcnow,
)
from regflow.ports import Clock, IdFactory, Mailer, RegistrationStore
from regflow.tokens import TokenSigner, new_registration_id
from regflow.validation import clean_email, clean_name

log = logging.getLogger("regflow.service")


class RegistrationService:
    def __init__(
        self,
        *,
        store: RegistrationStore,
        settings: Settings,
        signer: TokenSigner,
        mailer: Mailer | None = None,
        clock: Clock = utcnow,
        new_id: IdFactory = new_registration_id,
    ) -> None:
        self.store = store
        self.settings = settings
        self.signer = signer
        self._mailer = mailer
        self.clock = clock
        self._new_id = new_id

    # --- step 1: register ---------------------------------------------------------------

    def register(
        self, name: object, email: object, *, client_key: str | None = None, honeypot: object = ""
    ) -> CreateResult | None:
        """Validate and store a PENDING registration; its verification mail is owed through
        the outbox. Raises `ValidationError`, `ClientRateLimited`, `StoreUnavailable`.

        Returns None when a bot trap caught the post (nothing stored). Callers must answer
        every non-error return the same way: the caller's answer never tells whether the
        address was new, pending, confirmed or limited."""
        if honeypot:  # before validation: a bot gets the normal answer and learns no rules
            log.info("bot trap: honeypot field filled; nothing stored")
            return None
        clean = clean_name(name)
        address = clean_email(email, self.settings.blocked_email_domains)
        now = self.clock()
        registration = Registration(
            id=self._new_id(),
            name=clean,
            email=address,
            status=Status.PENDING,
            timestamp=now,
            ttl=int((now + timedelta(hours=self.settings.token_ttl_hours)).timestamp()),
        )
        result = self.store.create_pending(
            registration,
            address_limit=self.settings.address_limit,
            client_key=client_key,
            client_limit=self.settings.client_limit,
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

    # --- step 3: mail (called by the outbox sender, never inside a request) -------------

    def confirm_link(self, registration: Registration) -> str:
        token = self.signer.issue(registration.id, registration.addr_key)
        return f"{self.settings.confirm_url}?token={token}"

    def render(self, entry: OutboxEntry) -> Email | None:
        """The message an outbox entry owes, or None when it no longer owes one."""
        # Imported here, not at module level: only the mail sender renders mail, and the stdlib
        # `email` package it pulls in would add to the register/confirm handlers' cold start.
        from regflow import emails

        reg = entry.registration
        s = self.settings
        if entry.kind is MailKind.OWNER_NOTIFICATION:
            return emails.owner_notification(reg, sender=s.sender_email, owner=s.owner_email)
        confirmed_id = self.store.confirmed_registration_id(reg.addr_key)
        if confirmed_id == reg.id:
            return None  # confirmed already (a retried stream record): the link is not needed
        if confirmed_id is not None:
            return emails.already_registered(reg, sender=s.sender_email, site=s.site_name)
        if reg.ttl is None or reg.expired(self.clock()):
            log.warning(
                "verification mail not sent: registration expired before delivery",
                extra={"registration_id": reg.id},
            )
            return None
        return emails.verification(
            reg,
            link=self.confirm_link(reg),
            expires_at=datetime.fromtimestamp(reg.ttl, tz=reg.timestamp.tzinfo),
            hours=s.token_ttl_hours,
            sender=s.sender_email,
            site=s.site_name,
        )

    def deliver(self, entry: OutboxEntry) -> bool:
        """Render and send what `entry` owes. True if a message was sent. Raises
        `MailDeliveryError` (the outbox keeps the entry and retries transient ones)."""
        message = self.render(entry)
        if message is None:
            return False
        if self._mailer is None:
            raise RuntimeError("this service was built without a mailer")
        self._mailer.send(message)
        log.info(
            "mail sent",
            extra={
                "kind": entry.kind.value,
                "registration_id": entry.registration.id,
                "to": mask_email(message.to),
            },
        )
        return True
