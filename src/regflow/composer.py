"""Composition: what an owed message says. The email a message owes, rendered in the
registrant's language with its signed links, or None when it is no longer owed (confirmed or
expired meanwhile; an owner notification under OWNER_DIGEST=daily). Reads the store (is the
address confirmed already? the day's confirmations for the digest); never sends and knows no
delivery policy (`regflow.delivery` sends what this composes).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from regflow.config import MailSettings
from regflow.domain import Email, Message, MessageKind, Registration, utcnow
from regflow.ports import Clock, RegistrationStore
from regflow.tokens import TokenSigner

if TYPE_CHECKING:
    from regflow.render.templates import Renderer

log = logging.getLogger("regflow.delivery")


class Composer:
    def __init__(
        self,
        *,
        store: RegistrationStore,
        settings: MailSettings,
        signer: TokenSigner,
        clock: Clock = utcnow,
    ) -> None:
        self.store = store
        self.settings = settings
        self.signer = signer
        self.clock = clock
        self._renderer: Renderer | None = None
        self._erasure_signer: TokenSigner | None = None

    @property
    def renderer(self) -> Renderer:
        # Imported here, not at module level: only senders render, and the template engine
        # would add to the register/confirm handlers' cold start.
        if self._renderer is None:
            from regflow.render.catalog import Catalog
            from regflow.render.templates import Renderer

            s = self.settings
            self._renderer = Renderer(
                Catalog(s.templates_dir, s.default_language), s.templates_dir, site=s.site_name
            )
        return self._renderer

    def recipient(self, message: Message) -> str:
        if message.kind.is_event:
            return message.target
        if message.kind in (
            MessageKind.OWNER_NOTIFICATION,
            MessageKind.ERASURE_NOTICE,
            MessageKind.OWNER_DIGEST,
        ):
            return self.settings.owner_email
        return message.registration.email

    def confirm_link(self, registration: Registration) -> str:
        token = self.signer.issue(registration.id, registration.addr_key)
        link = f"{self.settings.confirm_url}?token={token}"
        if registration.language != self.settings.default_language:
            link += f"&lang={registration.language}"
        return link

    def erase_link(self, registration_id: str, addr_key: str, lang: str) -> str:
        """The signed self-service erasure link every mail to a registrant carries."""
        if self._erasure_signer is None:
            self._erasure_signer = self.signer.for_erasure()
        token = self._erasure_signer.issue(registration_id, addr_key)
        link = f"{self.settings.erase_url}?token={token}"
        if lang != self.settings.default_language:
            link += f"&lang={lang}"
        return link

    def compose(self, message: Message) -> Email | None:
        """The email a message owes, or None when it no longer owes one."""
        from regflow import emails

        if message.kind.is_event:
            return None  # not an email (`publish`)
        reg = message.registration
        s = self.settings
        if message.kind is MessageKind.OWNER_DIGEST:
            return self._digest(message)
        if message.kind is MessageKind.OWNER_NOTIFICATION:
            if s.owner_digest == "daily":
                return None  # the day's digest tells the owner (OWNER_DIGEST=daily)
            return emails.owner_notification(
                reg, sender=s.sender_email, owner=s.owner_email, renderer=self.renderer
            )
        if message.kind is MessageKind.ERASURE_NOTICE:
            return emails.erasure_notice(
                reg,
                erased_at=self.clock(),
                sender=s.sender_email,
                owner=s.owner_email,
                renderer=self.renderer,
            )
        confirmed_id = self.store.confirmed_registration_id(reg.addr_key)
        if confirmed_id == reg.id:
            return None  # confirmed already (a retried stream record): the link is not needed
        if confirmed_id is not None:
            return emails.already_registered(
                reg,
                sender=s.sender_email,
                site=s.site_name,
                lang=reg.language,
                renderer=self.renderer,
                # bound to the confirmed registration: it outlives this pending one
                erase_link=self.erase_link(confirmed_id, reg.addr_key, reg.language),
            )
        if reg.ttl is None or reg.expired(self.clock()):
            log.warning(
                "verification message not sent: registration expired before delivery",
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
            lang=reg.language,
            renderer=self.renderer,
            erase_link=self.erase_link(reg.id, reg.addr_key, reg.language),
            code=self.confirm_code(reg) if s.confirm_code else None,
        )

    def _digest(self, message: Message) -> Email:
        """The owner's digest of one UTC day: the confirmations in its window, read from the
        store through its index of confirmations (`ExportQueries.registrations_since`,
        oldest first, read only up to the window's end; on DynamoDB the ConfirmedRegistrations
        index, one Query per shard, never a Scan of the table)."""
        from itertools import takewhile

        from regflow import emails
        from regflow.domain import Status
        from regflow.domain.digest import window_of
        from regflow.ports import ExportQueries

        since, until = window_of(message)
        queries: ExportQueries = self.store  # type: ignore[assignment]
        in_order = queries.registrations_since(Status.CONFIRMED, since)
        confirmed = [
            r
            for r in takewhile(lambda r: r.confirmed_at is None or r.confirmed_at < until, in_order)
            if r.confirmed_at is not None and since <= r.confirmed_at
        ]
        confirmed.sort(key=lambda r: (r.confirmed_at or r.timestamp, r.id))
        s = self.settings
        return emails.owner_digest(
            since.date().isoformat(),
            confirmed,
            sender=s.sender_email,
            owner=s.owner_email,
            renderer=self.renderer,
        )

    def confirm_code(self, registration: Registration) -> str:
        """The 6-digit code beside the link (CONFIRM_CODE; `tokens.confirmation_code`)."""
        from regflow.tokens import confirmation_code

        return confirmation_code(self.signer, registration.id, registration.addr_key)
