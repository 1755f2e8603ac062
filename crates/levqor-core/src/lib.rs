//! Levqor's shared domain vocabulary.
//!
//! Everything here is pure: no I/O, no HTTP, no SQL. Domain crates build on these
//! types so that an id, an email address or an amount of credits is parsed once at
//! the edge and is valid wherever it travels afterwards.

pub mod audit;
pub mod clock;
pub mod credits;
pub mod email;
pub mod email_digest;
pub mod ids;
pub mod page;
pub mod private_fs;
pub mod problem;
pub mod storage;

pub use audit::{
    Actor, ActorScope, AuditAction, AuditContext, AuditEntry, AuditEntryId, AuditError, AuditFilter, AuditLog,
    MemoryAuditLog, ObjectRef, ObjectType, RequestId,
};
pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use credits::Credits;
pub use email::{Email, EmailError};
pub use email_digest::{EmailDigest, EmailDigestError, EmailHasher};
pub use ids::{ApiKeyId, ConnectionId, IdError, UserId};
pub use page::{Cursor, Page};
pub use problem::FieldProblem;
pub use storage::StorageError;
