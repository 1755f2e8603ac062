//! Stored connector connections. Credentials arrive sealed; this module stores
//! the ciphertext and never sees a credential value.

use diesel::prelude::*;
use levqor_connectors::{Connection, ConnectionRepo, StoredConnection};
use levqor_core::{AuditAction, AuditContext, ConnectionId, ObjectRef, ObjectType, StorageError, Timestamp, UserId};

use crate::audit::record as record_audit;
use crate::connection::Store;
use crate::error::db_error;
use crate::schema::connections;
use crate::time::{from_db, to_db};

#[derive(Queryable, Insertable)]
#[diesel(table_name = connections)]
struct ConnectionRow {
    id: String,
    owner: String,
    connector: String,
    name: String,
    credential_fields: String,
    sealed: String,
    created_at: i64,
    updated_at: i64,
    last_used_at: Option<i64>,
}

fn corrupt(what: &str) -> StorageError {
    StorageError::Failure(format!("stored connection {what} is not valid"))
}

impl ConnectionRow {
    fn from_record(r: &StoredConnection) -> Result<Self, StorageError> {
        let c = &r.connection;
        Ok(Self {
            id: c.id.to_string(),
            owner: c.owner.to_string(),
            connector: c.connector.clone(),
            name: c.name.clone(),
            credential_fields: serde_json::to_string(&c.credential_fields)
                .map_err(|e| StorageError::Failure(e.to_string()))?,
            sealed: r.sealed.clone(),
            created_at: to_db(c.created_at),
            updated_at: to_db(c.updated_at),
            last_used_at: c.last_used_at.map(to_db),
        })
    }

    fn into_record(self) -> Result<StoredConnection, StorageError> {
        Ok(StoredConnection {
            connection: Connection {
                id: self.id.parse().map_err(|_| corrupt("id"))?,
                owner: self.owner.parse().map_err(|_| corrupt("owner"))?,
                connector: self.connector,
                name: self.name,
                credential_fields: serde_json::from_str(&self.credential_fields)
                    .map_err(|_| corrupt("credential fields"))?,
                created_at: from_db(self.created_at),
                updated_at: from_db(self.updated_at),
                last_used_at: self.last_used_at.map(from_db),
            },
            sealed: self.sealed,
        })
    }
}

fn rows(rows: Vec<ConnectionRow>) -> Result<Vec<StoredConnection>, StorageError> {
    rows.into_iter().map(ConnectionRow::into_record).collect()
}

impl ConnectionRepo for Store {
    fn insert_connection(&self, record: &StoredConnection, audit: Option<&AuditContext>) -> Result<(), StorageError> {
        let row = ConnectionRow::from_record(record)?;
        let c = &record.connection;
        self.write(|conn| {
            diesel::insert_into(connections::table).values(&row).execute(conn).map_err(db_error)?;
            let object = ObjectRef::new(ObjectType::Connection, &c.id);
            record_audit(conn, audit, AuditAction::ConnectionCreate, object, Some(&c.owner), c.created_at)
        })
    }

    fn list_connections(&self, owner: &UserId, connector: Option<&str>) -> Result<Vec<StoredConnection>, StorageError> {
        let owner = owner.to_string();
        self.read(|conn| {
            let mut query = connections::table
                .filter(connections::owner.eq(owner))
                .order((connections::created_at.asc(), connections::id.asc()))
                .into_boxed();
            if let Some(connector) = connector {
                query = query.filter(connections::connector.eq(connector.to_owned()));
            }
            rows(query.load::<ConnectionRow>(conn).map_err(db_error)?)
        })
    }

    fn get_connection(&self, owner: &UserId, id: &ConnectionId) -> Result<Option<StoredConnection>, StorageError> {
        let (owner, id) = (owner.to_string(), id.to_string());
        self.read(|conn| {
            connections::table
                .filter(connections::id.eq(id))
                .filter(connections::owner.eq(owner))
                .first::<ConnectionRow>(conn)
                .optional()
                .map_err(db_error)?
                .map(ConnectionRow::into_record)
                .transpose()
        })
    }

    fn find_connection_by_name(
        &self,
        owner: &UserId,
        connector: &str,
        name: &str,
    ) -> Result<Option<StoredConnection>, StorageError> {
        let owner = owner.to_string();
        self.read(|conn| {
            connections::table
                .filter(connections::owner.eq(owner))
                .filter(connections::connector.eq(connector))
                .filter(connections::name.eq(name))
                .first::<ConnectionRow>(conn)
                .optional()
                .map_err(db_error)?
                .map(ConnectionRow::into_record)
                .transpose()
        })
    }

    fn delete_connection(
        &self,
        owner: &UserId,
        id: &ConnectionId,
        now: Timestamp,
        audit: Option<&AuditContext>,
    ) -> Result<bool, StorageError> {
        let (owner_text, id_text) = (owner.to_string(), id.to_string());
        self.write(|conn| {
            let deleted = diesel::delete(
                connections::table.filter(connections::id.eq(id_text)).filter(connections::owner.eq(owner_text)),
            )
            .execute(conn)
            .map_err(db_error)?;
            if deleted > 0 {
                let object = ObjectRef::new(ObjectType::Connection, id);
                record_audit(conn, audit, AuditAction::ConnectionDelete, object, Some(owner), now)?;
            }
            Ok(deleted > 0)
        })
    }

    fn update_connection_secret(
        &self,
        owner: &UserId,
        id: &ConnectionId,
        sealed: &str,
        now: Timestamp,
    ) -> Result<bool, StorageError> {
        let (owner, id) = (owner.to_string(), id.to_string());
        self.write(|conn| {
            diesel::update(connections::table.filter(connections::id.eq(id)).filter(connections::owner.eq(owner)))
                .set((connections::sealed.eq(sealed), connections::updated_at.eq(to_db(now))))
                .execute(conn)
                .map(|n| n > 0)
                .map_err(db_error)
        })
    }

    fn touch_connection(&self, owner: &UserId, id: &ConnectionId, now: Timestamp) -> Result<(), StorageError> {
        let (owner, id) = (owner.to_string(), id.to_string());
        self.write(|conn| {
            diesel::update(connections::table.filter(connections::id.eq(id)).filter(connections::owner.eq(owner)))
                .set(connections::last_used_at.eq(Some(to_db(now))))
                .execute(conn)
                .map(|_| ())
                .map_err(db_error)
        })
    }
}
