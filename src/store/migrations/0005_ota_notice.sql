-- Notices of software deployment: one per action each time it is offered (at deploy
-- time, when its rollout group opens, again when its paused deployment resumes). A
-- deployment counts its resumes so that a resume is a new offer.
ALTER TABLE ota_deployment ADD COLUMN resumes INTEGER NOT NULL DEFAULT 0;

-- `seq` numbers a device's notices (the IP push channel's `after` cursor); `channel`
-- is `ip`, `sms` or `wap`; `sent_at` is when the gateway took it or the device got it.
CREATE TABLE ota_notice (
    device TEXT NOT NULL,
    seq BIGINT NOT NULL,
    action BIGINT NOT NULL,
    offer INTEGER NOT NULL,
    channel TEXT NOT NULL,
    phone TEXT,
    release_name TEXT NOT NULL,
    release_version TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    sent_at BIGINT,
    attempts INTEGER NOT NULL,
    next_try BIGINT NOT NULL,
    last_error TEXT,
    PRIMARY KEY (device, seq),
    UNIQUE (action, offer)
);

CREATE INDEX ota_notice_unsent ON ota_notice (channel, sent_at, next_try);
