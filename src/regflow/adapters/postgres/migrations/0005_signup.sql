-- signup (CONFIRM_CODE): registrations count the wrong confirmation codes entered for them;
-- at `Rules.code_max_tries` the code is dead (the link still works).
-- rolling: yes (new nullable or defaulted columns and a new table: older replicas keep
-- working, without the new sign-up options, until they are replaced)
ALTER TABLE registrations ADD COLUMN code_tries integer NOT NULL DEFAULT 0;
-- proof of consent of the sign-up and of the confirmation: JSON text (`domain.Consent`:
-- ip, user_agent, text_version), NULL for registrations before it; erased with the row
ALTER TABLE registrations ADD COLUMN signup_consent text;
ALTER TABLE registrations ADD COLUMN confirm_consent text;
-- used proof-of-work solutions (CHALLENGE=pow): one registration per solution
CREATE TABLE spent_challenges (
    id      text PRIMARY KEY,               -- the challenge (hex SHA-256)
    expires bigint NOT NULL                 -- epoch seconds after which it is refused anyway
);
