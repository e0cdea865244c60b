-- regflow on PostgreSQL, operator export (issue 12): `regflow export --since` reads the
-- confirmed registrations by confirmation time through this partial index (the pending ones
-- are served by registrations_time).
-- rolling: yes (an index only)
CREATE INDEX registrations_confirmed ON registrations (confirmed_at, id)
    WHERE status = 'CONFIRMED';
