//! Levqor accounts: users, API keys and who may do what.
//!
//! Pure domain code. Storage is reached through the [`UserRepo`] and [`ApiKeyRepo`]
//! ports, which `levqor-store` implements with Diesel and [`memory::MemoryAccounts`]
//! implements in memory for tests and embedding.

pub mod api_key;
pub mod error;
pub mod memory;
pub mod ports;
pub mod principal;
pub mod service;
pub mod user;

pub use api_key::{ApiKeyRecord, GeneratedKey, KeyHash, NewKeyRequest, Scope};
pub use error::{AccountsError, AuthError};
pub use ports::{ApiKeyRepo, UserRepo};
pub use principal::{AdminKeys, Principal};
pub use service::{AccountService, DEFAULT_MAX_ACTIVE_KEYS};
pub use user::{Currency, Locale, Meta, ProfileChanges, User};
