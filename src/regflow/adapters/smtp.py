"""Mail over SMTP (the embedded mode with `SMTP_URL` set).

`SMTP_URL` forms: `smtp://host:port` (plain), `smtp+starttls://user:pass@host:587` (STARTTLS,
required), `smtps://user:pass@host:465` (implicit TLS). Credentials are URL-decoded. A 4xx reply
or a connection problem is transient (the outbox retries it); whose fault a 5xx reply is (the
recipient's or the sender's, the relay's) is read from its RFC 3463 enhanced status code and the
step it answered (`adapters.refusals`).
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from regflow.adapters.refusals import Reply, Stage, classify_reply, smtp_reply
from regflow.domain import ConfigError, DeliveryError, Email, FailureClass
from regflow.emails import to_mime

_DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str
    port: int
    security: str  # "plain", "starttls" or "tls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def from_url(cls, url: str) -> SmtpConfig:
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError:
            raise ConfigError("SMTP_URL is not a valid URL") from None
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise ConfigError("SMTP_URL must start with smtp://, smtp+starttls:// or smtps://")
        if not parts.hostname:
            raise ConfigError("SMTP_URL has no host")
        security = {"smtp": "plain", "smtp+starttls": "starttls", "smtps": "tls"}[scheme]
        return cls(
            host=parts.hostname,
            port=port or _DEFAULT_PORTS[scheme],
            security=security,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
        )


class SmtpMailer:
    """`MailChannel` over SMTP: one connection per message (the outbox worker sends few)."""

    def __init__(
        self,
        config: SmtpConfig,
        *,
        timeout: float = 10.0,
        tls_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        self.config = config
        self.timeout = timeout
        self._tls = tls_context or ssl.create_default_context()
        self._local_hostname = local_hostname

    @classmethod
    def from_url(cls, url: str, **kwargs: object) -> SmtpMailer:
        return cls(SmtpConfig.from_url(url), **kwargs)  # type: ignore[arg-type]

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        if c.security == "tls":
            return smtplib.SMTP_SSL(
                c.host,
                c.port,
                timeout=self.timeout,
                context=self._tls,
                local_hostname=self._local_hostname,
            )
        return smtplib.SMTP(
            c.host, c.port, timeout=self.timeout, local_hostname=self._local_hostname
        )

    def send(self, email: Email) -> None:
        message = to_mime(email)
        client: smtplib.SMTP | None = None
        stage = Stage.CONNECT  # the step a generic reply error answered
        try:
            client = self._connect()
            if self.config.security == "starttls":
                stage = Stage.STARTTLS
                client.starttls(context=self._tls)
            if self.config.username is not None:
                stage = Stage.AUTH
                client.login(self.config.username, self.config.password or "")
            stage = Stage.MAIL
            client.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            # one recipient per message: its reply (the worst, were there several)
            replies = [smtp_reply(code, text, Stage.RCPT) for code, text in exc.recipients.values()]
            reply = max(replies, key=lambda r: r.code, default=Reply(0, None, Stage.RCPT))
            raise _refused("SMTP server refused the recipient", reply) from exc
        except smtplib.SMTPResponseException as exc:
            reply = smtp_reply(exc.smtp_code, exc.smtp_error, _stage_of(exc, stage))
            raise _refused(f"SMTP server answered {exc.smtp_code}", reply) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(
                "SMTP server lacks a required extension",
                failure=FailureClass.ACCOUNT,
                code="SMTPNotSupported",
            ) from exc
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            # connection refused/reset/timed out, TLS handshake failures, server disconnects
            raise DeliveryError(
                f"SMTP connection failed ({type(exc).__name__})",
                failure=FailureClass.TRANSIENT,
                code=type(exc).__name__,
            ) from exc
        finally:
            if client is not None:
                _close(client)


def _stage_of(exc: smtplib.SMTPResponseException, stage: Stage) -> Stage:
    """The step `exc` answered: smtplib says it by the exception's type for the steps of a
    message; otherwise the step this mailer was taking."""
    if isinstance(exc, smtplib.SMTPConnectError):
        return Stage.CONNECT
    if isinstance(exc, smtplib.SMTPHeloError):
        return Stage.HELO
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return Stage.AUTH
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return Stage.MAIL
    if isinstance(exc, smtplib.SMTPDataError):
        return Stage.DATA
    return stage


def _refused(text: str, reply: Reply) -> DeliveryError:
    return DeliveryError(text, failure=classify_reply(reply), code=reply.error_code)


def _close(client: smtplib.SMTP) -> None:
    """QUIT, after the message was accepted or refused: its answer changes nothing (a failed
    QUIT must not make an accepted message look failed, and be sent again)."""
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()
