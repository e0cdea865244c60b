-- Issue 12 (events, erasure, owner digest): the outbox names an event message's target (a
-- webhook, EventBridge; '' for mail) and keeps the snapshot (JSON) of an erased registration
-- its erasure messages are sent from; `digests` remembers the days whose owner digest was owed.
-- rolling: no (older replicas' workers would claim event messages as mail: stop them all
-- first)
ALTER TABLE outbox ADD COLUMN target text NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN snapshot text;
CREATE TABLE digests (
    day text PRIMARY KEY                     -- 'digest-YYYY-MM-DD'
);
