//! Referral codes, who referred whom, and tracked visits.

use diesel::prelude::*;
use levqor_billing::{BillingError, ReferralCode, ReferralRepo, TrackedVisit};
use levqor_core::{StorageError, Timestamp, UserId};

use crate::connection::{DbConnection, Store};
use crate::error::db_error;
use crate::schema::{referral_attributions as ra, referral_codes as rc, referral_visits as rv};
use crate::time::to_db;

fn corrupt(what: &str, value: &str) -> StorageError {
    StorageError::Failure(format!("stored {what} `{value}` is not valid"))
}

fn parse_user(id: String) -> Result<UserId, StorageError> {
    id.parse().map_err(|_| corrupt("user id", &id))
}

fn code_of(conn: &mut DbConnection, user: &str) -> Result<Option<ReferralCode>, StorageError> {
    let code: Option<String> = rc::table.find(user).select(rc::code).first(conn).optional().map_err(db_error)?;
    code.map(|c| ReferralCode::parse(&c).map_err(|_| corrupt("referral code", &c))).transpose()
}

impl ReferralRepo for Store {
    fn code_for(&self, user: &UserId, now: Timestamp) -> Result<ReferralCode, BillingError> {
        let user = user.to_string();
        // Both "a concurrent first call created this user's code" and "the random
        // code is taken" are unique violations (conflicts): the retry reads the
        // user's code in the first case and draws a new code in the second.
        Ok(self.write_retrying(|conn| {
            if let Some(code) = code_of(conn, &user)? {
                return Ok(code);
            }
            let code = ReferralCode::generate();
            diesel::insert_into(rc::table)
                .values((rc::user_id.eq(&user), rc::code.eq(code.as_str()), rc::created_at.eq(to_db(now))))
                .execute(conn)
                .map_err(db_error)?;
            Ok::<_, StorageError>(code)
        })?)
    }

    fn find_code(&self, code: &ReferralCode) -> Result<Option<UserId>, BillingError> {
        let owner: Option<String> = self.read(|conn| {
            rc::table.filter(rc::code.eq(code.as_str())).select(rc::user_id).first(conn).optional().map_err(db_error)
        })?;
        Ok(owner.map(parse_user).transpose()?)
    }

    fn attribute(&self, referred: &UserId, referrer: &UserId, now: Timestamp) -> Result<bool, BillingError> {
        let (referred, referrer) = (referred.to_string(), referrer.to_string());
        // A concurrent first attribution makes our insert a conflict; the retry
        // then finds it and answers `false`.
        Ok(self.write_retrying(|conn| {
            let existing: i64 =
                ra::table.filter(ra::referred_user_id.eq(&referred)).count().get_result(conn).map_err(db_error)?;
            if existing > 0 {
                return Ok(false);
            }
            diesel::insert_into(ra::table)
                .values((
                    ra::referred_user_id.eq(&referred),
                    ra::referrer_user_id.eq(&referrer),
                    ra::created_at.eq(to_db(now)),
                ))
                .execute(conn)
                .map_err(db_error)?;
            Ok::<_, StorageError>(true)
        })?)
    }

    fn referrer_of(&self, referred: &UserId) -> Result<Option<UserId>, BillingError> {
        let referred = referred.to_string();
        let referrer: Option<String> = self.read(|conn| {
            ra::table.find(&referred).select(ra::referrer_user_id).first(conn).optional().map_err(db_error)
        })?;
        Ok(referrer.map(parse_user).transpose()?)
    }

    fn track(&self, visit: &TrackedVisit) -> Result<(), BillingError> {
        let id = uuid::Uuid::now_v7().to_string();
        Ok(self.write(|conn| {
            diesel::insert_into(rv::table)
                .values((
                    rv::id.eq(&id),
                    rv::email_hash.eq(visit.email_hash.as_str()),
                    rv::source.eq(&visit.source),
                    rv::campaign.eq(visit.campaign.as_deref()),
                    rv::medium.eq(visit.medium.as_deref()),
                    rv::created_at.eq(to_db(visit.at)),
                ))
                .execute(conn)
                .map(|_| ())
                .map_err(db_error)
        })?)
    }
}
