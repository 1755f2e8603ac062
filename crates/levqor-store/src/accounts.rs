//! Users and API keys.

use diesel::prelude::*;
use levqor_accounts::ports::{UpdateFn, UpsertFn};
use levqor_accounts::{
    AccountsError, ApiKeyRecord, ApiKeyRepo, Currency, KeyHash, Locale, Meta, Scope, User, UserRepo,
};
use levqor_core::{ApiKeyId, AuditAction, AuditContext, Email, ObjectRef, ObjectType, StorageError, Timestamp, UserId};

use crate::audit::record;
use crate::connection::{DbConnection, Store};
use crate::error::db_error;
use crate::schema::{api_keys, users};
use crate::time::{from_db, to_db};

#[derive(Queryable, Insertable, AsChangeset)]
#[diesel(table_name = users)]
struct UserRow {
    id: String,
    email: String,
    name: Option<String>,
    locale: Option<String>,
    currency: Option<String>,
    meta: String,
    created_at: i64,
    updated_at: i64,
}

fn corrupt(what: &str, value: &str) -> StorageError {
    StorageError::Failure(format!("stored {what} `{value}` is not valid"))
}

impl UserRow {
    fn from_user(u: &User) -> Result<Self, StorageError> {
        Ok(Self {
            id: u.id.to_string(),
            email: u.email.to_string(),
            name: u.name.clone(),
            locale: u.locale.as_ref().map(|l| l.to_string()),
            currency: u.currency.map(|c| c.code().to_owned()),
            meta: serde_json::to_string(&u.meta).map_err(|e| StorageError::Failure(e.to_string()))?,
            created_at: to_db(u.created_at),
            updated_at: to_db(u.updated_at),
        })
    }

    fn into_user(self) -> Result<User, StorageError> {
        Ok(User {
            id: self.id.parse().map_err(|_| corrupt("user id", &self.id))?,
            email: Email::parse(&self.email).map_err(|_| corrupt("email", &self.email))?,
            name: self.name,
            locale: self.locale.map(|l| Locale::parse(&l).map_err(|_| corrupt("locale", &l))).transpose()?,
            currency: self.currency.map(|c| Currency::parse(&c).ok_or_else(|| corrupt("currency", &c))).transpose()?,
            meta: serde_json::from_str::<Meta>(&self.meta).map_err(|_| corrupt("meta", "…"))?,
            created_at: from_db(self.created_at),
            updated_at: from_db(self.updated_at),
        })
    }
}

#[derive(Queryable, Insertable)]
#[diesel(table_name = api_keys)]
struct KeyRow {
    id: String,
    user_id: Option<String>,
    prefix: String,
    key_hash: String,
    scope: String,
    label: Option<String>,
    created_at: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    last_used_at: Option<i64>,
}

impl KeyRow {
    fn from_record(k: &ApiKeyRecord) -> Self {
        Self {
            id: k.id.to_string(),
            user_id: k.user_id.as_ref().map(ToString::to_string),
            prefix: k.prefix.clone(),
            key_hash: k.hash.to_hex(),
            scope: k.scope.as_str().to_owned(),
            label: k.label.clone(),
            created_at: to_db(k.created_at),
            expires_at: k.expires_at.map(to_db),
            revoked_at: k.revoked_at.map(to_db),
            last_used_at: k.last_used_at.map(to_db),
        }
    }

    fn into_record(self) -> Result<ApiKeyRecord, StorageError> {
        Ok(ApiKeyRecord {
            id: self.id.parse().map_err(|_| corrupt("key id", &self.id))?,
            user_id: self.user_id.map(|u| u.parse::<UserId>().map_err(|_| corrupt("user id", &u))).transpose()?,
            prefix: self.prefix,
            hash: KeyHash::from_hex(&self.key_hash).ok_or_else(|| corrupt("key hash", "…"))?,
            scope: Scope::parse(&self.scope).ok_or_else(|| corrupt("scope", &self.scope))?,
            label: self.label,
            created_at: from_db(self.created_at),
            expires_at: self.expires_at.map(from_db),
            revoked_at: self.revoked_at.map(from_db),
            last_used_at: self.last_used_at.map(from_db),
        })
    }
}

/// Read a user for a read-modify-write. On PostgreSQL the row is locked for the rest
/// of the transaction so a concurrent meta merge cannot lose an update; SQLite needs
/// nothing, as `BEGIN IMMEDIATE` already serialises writers.
fn load_user_for_update(conn: &mut DbConnection, by_email: bool, value: &str) -> Result<Option<User>, StorageError> {
    let (email, id) = if by_email { (Some(value), None) } else { (None, Some(value)) };
    let DbConnection::Pg(_) = conn else {
        return load_user(conn, email, id);
    };
    let column = if by_email { "email" } else { "id" };
    let mut locked = 0;
    // Two rounds: a row inserted by a transaction that commits between our lock and
    // our read is visible to the read but was not locked; the second round locks it.
    for _ in 0..2 {
        if let DbConnection::Pg(pg) = conn {
            locked = diesel::sql_query(format!("SELECT 1 FROM users WHERE {column} = $1 FOR UPDATE"))
                .bind::<diesel::sql_types::Text, _>(value)
                .execute(pg)
                .map_err(db_error)?;
        }
        let user = load_user(conn, email, id)?;
        if user.is_none() || locked > 0 {
            return Ok(user);
        }
    }
    Err(StorageError::Conflict("user row changed while it was being locked".into()))
}

fn load_user(
    conn: &mut DbConnection,
    filter_email: Option<&str>,
    filter_id: Option<&str>,
) -> Result<Option<User>, StorageError> {
    let mut query = users::table.into_boxed();
    if let Some(email) = filter_email {
        query = query.filter(users::email.eq(email.to_owned()));
    }
    if let Some(id) = filter_id {
        query = query.filter(users::id.eq(id.to_owned()));
    }
    query.first::<UserRow>(conn).optional().map_err(db_error)?.map(UserRow::into_user).transpose()
}

impl UserRepo for Store {
    fn upsert_by_email(
        &self,
        email: &Email,
        apply: UpsertFn<'_>,
        audit: Option<&AuditContext>,
    ) -> Result<(User, bool), AccountsError> {
        // A concurrent first upsert of the same email makes our insert hit the unique
        // index; the retry then finds the row and updates it.
        self.write_retrying(|conn| {
            let existing = load_user_for_update(conn, true, email.as_str())?;
            let created = existing.is_none();
            let user = apply(existing)?;
            let row = UserRow::from_user(&user)?;
            if created {
                diesel::insert_into(users::table).values(&row).execute(conn).map_err(db_error)?;
            } else {
                diesel::update(users::table.find(&row.id)).set(&row).execute(conn).map_err(db_error)?;
            }
            let action = if created { AuditAction::UserCreate } else { AuditAction::UserUpdate };
            record(conn, audit, action, ObjectRef::new(ObjectType::User, &user.id), Some(&user.id), user.updated_at)?;
            Ok((user, created))
        })
    }

    fn update_user(
        &self,
        id: &UserId,
        apply: UpdateFn<'_>,
        audit: Option<&AuditContext>,
    ) -> Result<User, AccountsError> {
        let id = id.to_string();
        self.write(|conn| {
            let current = load_user_for_update(conn, false, &id)?.ok_or(AccountsError::NotFound)?;
            let user = apply(current)?;
            let row = UserRow::from_user(&user)?;
            diesel::update(users::table.find(&id)).set(&row).execute(conn).map_err(db_error)?;
            let object = ObjectRef::new(ObjectType::User, &user.id);
            record(conn, audit, AuditAction::UserUpdate, object, Some(&user.id), user.updated_at)?;
            Ok(user)
        })
    }

    fn get_user(&self, id: &UserId) -> Result<Option<User>, StorageError> {
        self.read(|conn| load_user(conn, None, Some(&id.to_string())))
    }

    fn find_user_by_email(&self, email: &Email) -> Result<Option<User>, StorageError> {
        self.read(|conn| load_user(conn, Some(email.as_str()), None))
    }
}

impl ApiKeyRepo for Store {
    fn insert_key(&self, key: &ApiKeyRecord, audit: Option<&AuditContext>) -> Result<(), StorageError> {
        let row = KeyRow::from_record(key);
        self.write(|conn| {
            diesel::insert_into(api_keys::table).values(&row).execute(conn).map_err(db_error)?;
            let object = ObjectRef::new(ObjectType::ApiKey, &key.id);
            record(conn, audit, AuditAction::KeyCreate, object, key.user_id.as_ref(), key.created_at)
        })
    }

    fn find_key_by_hash(&self, hash: &KeyHash) -> Result<Option<ApiKeyRecord>, StorageError> {
        self.read(|conn| {
            api_keys::table
                .filter(api_keys::key_hash.eq(hash.to_hex()))
                .first::<KeyRow>(conn)
                .optional()
                .map_err(db_error)?
                .map(KeyRow::into_record)
                .transpose()
        })
    }

    fn list_keys(&self, user: Option<&UserId>) -> Result<Vec<ApiKeyRecord>, StorageError> {
        self.read(|conn| {
            let mut query = api_keys::table.order((api_keys::created_at.desc(), api_keys::id.desc())).into_boxed();
            if let Some(user) = user {
                query = query.filter(api_keys::user_id.eq(user.to_string()));
            }
            query.load::<KeyRow>(conn).map_err(db_error)?.into_iter().map(KeyRow::into_record).collect()
        })
    }

    fn revoke_key(
        &self,
        key_id: &ApiKeyId,
        user: Option<&UserId>,
        now: Timestamp,
        audit: Option<&AuditContext>,
    ) -> Result<bool, StorageError> {
        let id = key_id.to_string();
        let user = user.map(ToString::to_string);
        self.write(|conn| {
            let mut exists = api_keys::table.filter(api_keys::id.eq(&id)).into_boxed();
            if let Some(user) = &user {
                exists = exists.filter(api_keys::user_id.eq(user.clone()));
            }
            let Some(owner) =
                exists.select(api_keys::user_id).first::<Option<String>>(conn).optional().map_err(db_error)?
            else {
                return Ok(false);
            };
            // Revoking twice keeps the first revocation time, and records nothing.
            let changed =
                diesel::update(api_keys::table.filter(api_keys::id.eq(&id)).filter(api_keys::revoked_at.is_null()))
                    .set(api_keys::revoked_at.eq(Some(to_db(now))))
                    .execute(conn)
                    .map_err(db_error)?;
            if changed > 0 {
                let owner = owner.map(|u| u.parse::<UserId>().map_err(|_| corrupt("user id", &u))).transpose()?;
                let object = ObjectRef::new(ObjectType::ApiKey, key_id);
                record(conn, audit, AuditAction::KeyRevoke, object, owner.as_ref(), now)?;
            }
            Ok(true)
        })
    }

    fn touch_key(&self, id: &ApiKeyId, now: Timestamp) -> Result<(), StorageError> {
        let id = id.to_string();
        self.write(|conn| {
            diesel::update(api_keys::table.find(&id))
                .set(api_keys::last_used_at.eq(Some(to_db(now))))
                .execute(conn)
                .map(|_| ())
                .map_err(db_error)
        })
    }
}
