DROP TABLE referral_visits;
DROP TABLE referral_attributions;
DROP TABLE referral_codes;
DROP TABLE credit_reservations;
DROP TABLE ledger_once_keys;
DROP TABLE ledger_entries;
DROP TABLE credit_balances;
