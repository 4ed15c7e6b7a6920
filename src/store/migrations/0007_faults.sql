-- Fault reports (S2): accounts by IMSI/IMEI, the reports filed under them, each fault
-- judged against the knowledge base, and the knowledge base itself.

-- An account is its identities: the first report creates it; an IMSI seen later with a
-- new IMEI (or the reverse) adds an identity rather than a second account.
CREATE TABLE fault_account (
    id BIGINT PRIMARY KEY,
    created_at BIGINT NOT NULL
);

-- `kind`: imsi, imei, device, phone, email or ip. One account per identity.
CREATE TABLE fault_identity (
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    account BIGINT NOT NULL,
    first_seen BIGINT NOT NULL,
    PRIMARY KEY (kind, value)
);
CREATE INDEX fault_identity_account ON fault_identity (account);

-- The terminal chooses `report_id`: the same report sent again is the same row.
-- `channel`: device (authenticated HTTP), http (anonymous) or sms; `reply_to` the
-- SMS sender the fixes go back to.
CREATE TABLE fault_report (
    account BIGINT NOT NULL,
    report_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    identity TEXT NOT NULL,
    reply_to TEXT,
    imsi TEXT,
    imei TEXT,
    model TEXT,
    version TEXT,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (account, report_id)
);

-- One fault of a report. `state`: fixed (with `kb` and the `fix` given, as JSON) or
-- queued (for a person; `evidence` says why when a fix stopped working).
-- `delivered_at`: when the fix reached the terminal; `recurred`: the same fault came
-- back from the account after this fix (counted once against the entry).
CREATE TABLE fault_item (
    account BIGINT NOT NULL,
    report_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    code TEXT NOT NULL,
    item TEXT,
    source TEXT,
    at BIGINT,
    detail TEXT,
    skipped TEXT,
    state TEXT NOT NULL,
    kb BIGINT,
    fix TEXT,
    evidence TEXT,
    fixed_at BIGINT,
    delivered_at BIGINT,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_try BIGINT NOT NULL DEFAULT 0,
    recurred BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (account, report_id, seq)
);
CREATE INDEX fault_item_state ON fault_item (state, code);
CREATE INDEX fault_item_account ON fault_item (account, code);

-- A fault code, optionally narrowed to a hardware model, software version or download
-- node, and its fix (JSON: deploy, config, text or retry). `given` counts the faults
-- it was given to, `failed` those that came back; `state`: active or suspended.
CREATE TABLE fault_kb (
    id BIGINT PRIMARY KEY,
    code TEXT NOT NULL,
    model TEXT,
    version TEXT,
    node TEXT,
    fix TEXT NOT NULL,
    origin TEXT NOT NULL,
    state TEXT NOT NULL,
    given BIGINT NOT NULL DEFAULT 0,
    failed BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE INDEX fault_kb_code ON fault_kb (code, state);

-- The defaults: the TR-069 transfer fault codes and S2's simple ones. A retry without
-- a URL means the same source again.
INSERT INTO fault_kb (id, code, fix, origin, state, created_at) VALUES
    (1, '01', '{"kind":"text","text":"Cannot reach the server: check the data connection and try again."}', 'default', 'active', 0),
    (2, '02', '{"kind":"retry","url":null}', 'default', 'active', 0),
    (3, '03', '{"kind":"retry","url":null}', 'default', 'active', 0),
    (4, '9010', '{"kind":"retry","url":null}', 'default', 'active', 0),
    (5, '9011', '{"kind":"retry","url":null}', 'default', 'active', 0),
    (6, '9012', '{"kind":"text","text":"The file server refused the credentials: re-enrol the terminal."}', 'default', 'active', 0),
    (7, '9013', '{"kind":"text","text":"Unsupported transfer protocol: update the upgrade agent."}', 'default', 'active', 0),
    (8, '9014', '{"kind":"retry","url":null}', 'default', 'active', 0),
    (9, '9015', '{"kind":"retry","url":null}', 'default', 'active', 0),
    (10, '9016', '{"kind":"text","text":"The file cannot be accessed: the operator has been told."}', 'default', 'active', 0),
    (11, '9017', '{"kind":"retry","url":null}', 'default', 'active', 0),
    (12, '9018', '{"kind":"retry","url":null}', 'default', 'active', 0),
    (13, '9019', '{"kind":"text","text":"The file failed authentication: do not install it; check the clock and the pinned key."}', 'default', 'active', 0),
    (14, '9020', '{"kind":"retry","url":null}', 'default', 'active', 0);
