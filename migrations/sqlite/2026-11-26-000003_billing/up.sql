-- Credits: an append-only ledger, a per-user balance row that is also the lock
-- every ledger write takes, the once-keys that make grants exactly-once, and the
-- credits held for running jobs. Then referrals. Amounts are whole credits;
-- timestamps are microseconds since the Unix epoch (UTC).

-- The current balance, equal to the newest entry's balance_after. PostgreSQL
-- writers lock this row (`SELECT … FOR UPDATE`) before reading it; SQLite writers
-- are already alone under `BEGIN IMMEDIATE`.
CREATE TABLE credit_balances (
    user_id     TEXT PRIMARY KEY NOT NULL REFERENCES users (id),
    balance     BIGINT NOT NULL CHECK (balance >= 0),
    updated_at  BIGINT NOT NULL
);

-- Never updated or deleted.
CREATE TABLE ledger_entries (
    id             TEXT PRIMARY KEY NOT NULL,
    user_id        TEXT NOT NULL REFERENCES users (id),
    kind           TEXT NOT NULL CHECK (kind IN ('free_grant', 'purchase', 'run_reserve', 'run_settle', 'refund',
                                                 'referral_reward', 'admin_adjustment', 'reservation_release')),
    amount         BIGINT NOT NULL,
    balance_after  BIGINT NOT NULL CHECK (balance_after >= 0),
    reason         TEXT NOT NULL,
    reference      TEXT,
    created_at     BIGINT NOT NULL
);
-- A user's entries, newest first.
CREATE INDEX ledger_entries_user ON ledger_entries (user_id, id);

-- One row per claimed once-key (free grant per user, Stripe event, Stripe checkout
-- session, referral per referred user), written in the grant's own transaction.
CREATE TABLE ledger_once_keys (
    key       TEXT PRIMARY KEY NOT NULL,
    entry_id  TEXT NOT NULL REFERENCES ledger_entries (id)
);

CREATE TABLE credit_reservations (
    id          TEXT PRIMARY KEY NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users (id),
    amount      BIGINT NOT NULL CHECK (amount > 0),
    charged     BIGINT CHECK (charged IS NULL OR (charged >= 0 AND charged <= amount)),
    reason      TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('held', 'settled', 'released')),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    closed_at   BIGINT
);
-- The sweeper: held reservations past their expiry.
CREATE INDEX credit_reservations_due ON credit_reservations (state, expires_at);

-- One random code per user.
CREATE TABLE referral_codes (
    user_id     TEXT PRIMARY KEY NOT NULL REFERENCES users (id),
    code        TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

-- Who referred whom; the first attribution wins.
CREATE TABLE referral_attributions (
    referred_user_id  TEXT PRIMARY KEY NOT NULL REFERENCES users (id),
    referrer_user_id  TEXT NOT NULL REFERENCES users (id),
    created_at        BIGINT NOT NULL
);

-- Marketing attribution from `POST /api/v1/referrals/track` (no account needed).
CREATE TABLE referral_visits (
    id          TEXT PRIMARY KEY NOT NULL,
    email       TEXT NOT NULL,
    source      TEXT NOT NULL,
    campaign    TEXT,
    medium      TEXT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX referral_visits_email ON referral_visits (email, created_at);
