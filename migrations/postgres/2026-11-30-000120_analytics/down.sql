DROP TABLE task_claims;
DROP TABLE activity_log;
DROP INDEX referral_visits_email_hash;
ALTER TABLE referral_visits RENAME COLUMN email_hash TO email;
CREATE INDEX referral_visits_email ON referral_visits (email, created_at);
DROP TABLE analytics_events;
