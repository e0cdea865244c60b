-- signup (CONFIRM_CODE): registrations count the wrong confirmation codes entered for them;
-- at `Rules.code_max_tries` the code is dead (the link still works).
ALTER TABLE registrations ADD COLUMN code_tries integer NOT NULL DEFAULT 0;
