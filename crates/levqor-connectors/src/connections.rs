//! Stored connections: a user's named credentials for one connector, sealed with
//! the [`Vault`] before they reach the [`ConnectionRepo`] port (the store
//! implements it; nothing here knows SQL). Values are never returned: callers
//! see the connection's name and which credential fields it holds.

use std::collections::BTreeSet;
use std::sync::Arc;

use levqor_core::{AuditContext, Clock, ConnectionId, FieldProblem, StorageError, Timestamp, UserId};
use serde_json::Value;

use crate::connector::Credentials;
use crate::error::ConnectorError;
use crate::registry::ConnectorRegistry;
use crate::vault::{Vault, VaultError};

/// Longest connection name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// A stored connection as shown to its owner (no credential values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub id: ConnectionId,
    pub owner: UserId,
    pub connector: String,
    /// Unique per owner and connector.
    pub name: String,
    /// The names of the stored credential fields, sorted.
    pub credential_fields: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

/// A connection with its sealed credentials, as the repository keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredConnection {
    pub connection: Connection,
    /// [`Vault::seal`] output; opaque to the store.
    pub sealed: String,
}

/// Where connections live. Every read and write is scoped to an owner. A write
/// given an [`AuditContext`] appends its audit entry (`connection.create`,
/// `connection.delete`) in its own transaction.
pub trait ConnectionRepo: Send + Sync {
    /// A second connection with the same owner, connector and name is a
    /// [`StorageError::Conflict`].
    fn insert_connection(&self, record: &StoredConnection, audit: Option<&AuditContext>) -> Result<(), StorageError>;
    /// The owner's connections (of one connector, if given), oldest first.
    fn list_connections(&self, owner: &UserId, connector: Option<&str>) -> Result<Vec<StoredConnection>, StorageError>;
    fn get_connection(&self, owner: &UserId, id: &ConnectionId) -> Result<Option<StoredConnection>, StorageError>;
    fn find_connection_by_name(
        &self,
        owner: &UserId,
        connector: &str,
        name: &str,
    ) -> Result<Option<StoredConnection>, StorageError>;
    /// Whether a connection was deleted.
    fn delete_connection(
        &self,
        owner: &UserId,
        id: &ConnectionId,
        now: Timestamp,
        audit: Option<&AuditContext>,
    ) -> Result<bool, StorageError>;
    /// Replace the sealed credentials (e.g. a refreshed OAuth token); whether the
    /// connection still exists.
    fn update_connection_secret(
        &self,
        owner: &UserId,
        id: &ConnectionId,
        sealed: &str,
        now: Timestamp,
    ) -> Result<bool, StorageError>;
    fn touch_connection(&self, owner: &UserId, id: &ConnectionId, now: Timestamp) -> Result<(), StorageError>;
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// Bad name or credential fields, with the field paths.
    #[error("invalid connection: {}", .0.iter().map(|p| format!("`{}` {}", p.field, p.problem)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldProblem>),
    /// Unknown connector, or a required credential missing.
    #[error(transparent)]
    Connector(#[from] ConnectorError),
    #[error("no such connection")]
    NotFound,
    #[error("a `{connector}` connection named `{name}` already exists")]
    Duplicate { connector: String, name: String },
    #[error(
        "no credentials were given and there is no stored `{connector}` connection; pass `credentials`, or store one with POST /api/v1/connections"
    )]
    NoneStored { connector: String },
    #[error("there are {count} stored `{connector}` connections; say which one with `connection` (its id or name)")]
    Ambiguous { connector: String, count: usize },
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Create, list, resolve and delete stored connections. Blocking: async callers
/// run it on a blocking pool.
#[derive(Clone)]
pub struct ConnectionService {
    repo: Arc<dyn ConnectionRepo>,
    vault: Vault,
    registry: Arc<ConnectorRegistry>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for ConnectionService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionService").field("registry", &self.registry).finish_non_exhaustive()
    }
}

/// The associated data binding a sealed value to its record.
fn context(id: &ConnectionId, owner: &UserId) -> Vec<u8> {
    format!("levqor.connection|{id}|{owner}").into_bytes()
}

impl ConnectionService {
    pub fn new(
        repo: Arc<dyn ConnectionRepo>,
        vault: Vault,
        registry: Arc<ConnectorRegistry>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { repo, vault, registry, clock }
    }

    /// The credential fields `connector` takes: (required by some action, all accepted).
    fn credential_fields(
        &self,
        connector: &str,
    ) -> Result<(BTreeSet<&'static str>, BTreeSet<&'static str>), ConnectorError> {
        let Some(c) = self.registry.get(connector) else {
            return Err(ConnectorError::UnknownConnector {
                name: connector.chars().take(64).collect(),
                valid: self.registry.names(),
            });
        };
        let mut required = BTreeSet::new();
        let mut accepted = BTreeSet::new();
        for action in c.actions() {
            required.extend(action.credentials.iter().copied());
            accepted.extend(action.credentials.iter().copied());
            accepted.extend(action.optional_credentials.iter().copied());
        }
        Ok((required, accepted))
    }

    /// Checks and seals `credentials`, then stores a new connection.
    pub fn create(
        &self,
        owner: &UserId,
        connector: &str,
        name: &str,
        credentials: Value,
        audit: &AuditContext,
    ) -> Result<Connection, ConnectionError> {
        let (required, accepted) = self.credential_fields(connector)?;
        let name = check_name(name)?;
        let Value::Object(map) = credentials else {
            return Err(invalid("credentials", "must be a JSON object of credential fields"));
        };
        if accepted.is_empty() {
            return Err(invalid("connector", format!("`{connector}` takes no credentials; nothing to store")));
        }
        let mut problems = Vec::new();
        for (field, value) in &map {
            if !accepted.contains(field.as_str()) {
                let expected = accepted.iter().copied().collect::<Vec<_>>().join(", ");
                problems.push(FieldProblem::new(
                    format!("credentials.{}", field.chars().take(64).collect::<String>()),
                    format!("is not a `{connector}` credential; expected one of: {expected}"),
                ));
                continue;
            }
            let fine = match value {
                Value::String(s) => !s.trim().is_empty() && s.len() <= 8192,
                Value::Number(_) => true,
                _ => false,
            };
            if !fine {
                problems.push(FieldProblem::new(format!("credentials.{field}"), "must be a non-empty string"));
            }
        }
        if !problems.is_empty() {
            return Err(ConnectionError::Invalid(problems));
        }
        if let Some(missing) = required.iter().find(|f| !map.contains_key(**f)) {
            return Err(ConnectorError::missing(*missing).into());
        }
        let now = self.clock.now();
        let connection = Connection {
            id: ConnectionId::new(),
            owner: owner.clone(),
            connector: connector.to_owned(),
            name,
            credential_fields: map.keys().cloned().collect(),
            created_at: now,
            updated_at: now,
            last_used_at: None,
        };
        let credentials = Credentials::from_value(Value::Object(map))?;
        let sealed = self.vault.seal(&credentials, &context(&connection.id, owner))?;
        let record = StoredConnection { connection, sealed };
        match self.repo.insert_connection(&record, Some(audit)) {
            Ok(()) => Ok(record.connection),
            Err(StorageError::Conflict(_)) => {
                Err(ConnectionError::Duplicate { connector: record.connection.connector, name: record.connection.name })
            }
            Err(e) => Err(e.into()),
        }
    }

    pub fn list(&self, owner: &UserId) -> Result<Vec<Connection>, ConnectionError> {
        Ok(self.repo.list_connections(owner, None)?.into_iter().map(|r| r.connection).collect())
    }

    pub fn get(&self, owner: &UserId, id: &ConnectionId) -> Result<Connection, ConnectionError> {
        self.repo.get_connection(owner, id)?.map(|r| r.connection).ok_or(ConnectionError::NotFound)
    }

    pub fn delete(&self, owner: &UserId, id: &ConnectionId, audit: &AuditContext) -> Result<(), ConnectionError> {
        if self.repo.delete_connection(owner, id, self.clock.now(), Some(audit))? {
            Ok(())
        } else {
            Err(ConnectionError::NotFound)
        }
    }

    /// The owner's `connector` connection named by `reference` (its id or name),
    /// or with no reference the only one there is; opened, and marked as used.
    pub fn resolve(
        &self,
        owner: &UserId,
        connector: &str,
        reference: Option<&str>,
    ) -> Result<(Connection, Credentials), ConnectionError> {
        let record = match reference.map(str::trim) {
            Some(r) => {
                let by_id = match r.parse::<ConnectionId>() {
                    Ok(id) => self.repo.get_connection(owner, &id)?.filter(|c| c.connection.connector == connector),
                    Err(_) => None,
                };
                match by_id {
                    Some(found) => found,
                    None => self.repo.find_connection_by_name(owner, connector, r)?.ok_or(ConnectionError::NotFound)?,
                }
            }
            None => {
                let mut all = self.repo.list_connections(owner, Some(connector))?;
                match all.len() {
                    1 => all.remove(0),
                    0 => return Err(ConnectionError::NoneStored { connector: connector.to_owned() }),
                    count => return Err(ConnectionError::Ambiguous { connector: connector.to_owned(), count }),
                }
            }
        };
        let credentials = self.vault.open(&record.sealed, &context(&record.connection.id, owner))?;
        self.repo.touch_connection(owner, &record.connection.id, self.clock.now())?;
        Ok((record.connection, credentials))
    }

    /// Merges a connector's `refreshed_credentials` (e.g. a new Gmail access
    /// token) into the stored ones and seals them again.
    pub fn store_refreshed(
        &self,
        connection: &Connection,
        current: Credentials,
        refreshed: &Value,
    ) -> Result<(), ConnectionError> {
        let Value::Object(fresh) = refreshed else {
            return Ok(());
        };
        let mut map = current.into_inner();
        for (k, v) in fresh {
            if !v.is_null() {
                map.insert(k.clone(), v.clone());
            }
        }
        let merged = Credentials::from_value(Value::Object(map))?;
        let sealed = self.vault.seal(&merged, &context(&connection.id, &connection.owner))?;
        if self.repo.update_connection_secret(&connection.owner, &connection.id, &sealed, self.clock.now())? {
            Ok(())
        } else {
            Err(ConnectionError::NotFound)
        }
    }

    pub fn registry(&self) -> &Arc<ConnectorRegistry> {
        &self.registry
    }
}

fn invalid(field: &str, problem: impl Into<String>) -> ConnectionError {
    ConnectionError::Invalid(vec![FieldProblem::new(field, problem)])
}

fn check_name(raw: &str) -> Result<String, ConnectionError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(invalid("name", format!("must be 1 to {MAX_NAME_CHARS} characters")));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid("name", "must not contain control characters"));
    }
    if name.parse::<ConnectionId>().is_ok() {
        return Err(invalid("name", "must not look like a connection id"));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert_eq!(check_name("  work slack ").unwrap(), "work slack");
        assert!(check_name("").is_err());
        assert!(check_name(&"x".repeat(65)).is_err());
        assert!(check_name("a\nb").is_err());
        assert!(check_name(&ConnectionId::new().to_string()).is_err());
    }
}
