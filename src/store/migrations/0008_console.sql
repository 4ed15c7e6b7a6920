-- The operators' console: who may log in (an argon2 PHC string, never the password),
-- their sessions, and the audit trail of what they did.

-- `role`: admin (may act) or read-only (may look).
CREATE TABLE console_operator (
    name TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- A session is kept by the SHA-256 of its cookie, so a copy of the database opens none;
-- `csrf` is the token every form of the session carries.
CREATE TABLE console_session (
    id_sha256 TEXT PRIMARY KEY,
    operator TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX console_session_operator ON console_session (operator);

-- `operator` is a name, not a reference: the trail outlives a removed operator.
CREATE TABLE console_audit (
    id BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    operator TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    outcome TEXT NOT NULL
);
CREATE INDEX console_audit_at ON console_audit (at);
