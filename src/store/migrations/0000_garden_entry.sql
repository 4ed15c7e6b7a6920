-- The walled garden's subscribers. Times are Unix milliseconds; the id is the
-- garden id as 16 hex digits (a u64 does not fit PostgreSQL's signed BIGINT).
CREATE TABLE garden_entry (
    id TEXT PRIMARY KEY,
    user_name TEXT NOT NULL,
    calling_station_id TEXT,
    client TEXT NOT NULL,
    nas_addr TEXT NOT NULL,
    nas_identifier TEXT,
    nas_port_id TEXT,
    cause TEXT NOT NULL,
    reason TEXT NOT NULL,
    method TEXT NOT NULL,
    entered_at BIGINT NOT NULL,
    framed_ip TEXT,
    acct_session_id TEXT,
    acct_status INTEGER,
    updated_at BIGINT NOT NULL
);
