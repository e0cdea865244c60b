-- Deliverability: registrations may be BOUNCED or COMPLAINED (never confirmable); the
-- suppression list (inboxes that get no mail, keyed by mailbox_key) and the recent soft
-- bounces per inbox.
-- rolling: no (the new code writes BOUNCED and COMPLAINED registrations, which older
-- replicas cannot read: stop them all first)
ALTER TABLE registrations DROP CONSTRAINT registrations_status_check;
ALTER TABLE registrations ADD CONSTRAINT registrations_status_check
    CHECK (status IN ('PENDING', 'CONFIRMED', 'BOUNCED', 'COMPLAINED'));

CREATE TABLE suppressions (
    key          text PRIMARY KEY,           -- mailbox_key
    email        text NOT NULL,              -- the address as reported
    reason       text NOT NULL,
    diagnostic   text NOT NULL,
    since        timestamptz NOT NULL
);
CREATE INDEX suppressions_since ON suppressions (since, key);

CREATE TABLE soft_bounces (
    key          text PRIMARY KEY,           -- mailbox_key
    times        bigint[] NOT NULL,          -- epoch seconds, oldest first
    expires      bigint NOT NULL             -- epoch seconds after which none of them counts
);
CREATE INDEX soft_bounces_expires ON soft_bounces (expires);
-- bounced/complained registrations are purged like the PENDING ones they were
CREATE INDEX registrations_undeliverable ON registrations (ttl)
    WHERE status IN ('BOUNCED', 'COMPLAINED');
