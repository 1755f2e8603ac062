//! The `levqor` command line.

use clap::{Args, Parser, Subcommand};

use crate::config::{ServeSettings, StoreSettings};

/// Levqor: describe a workflow in plain words, run it durably against real services.
///
/// Every option can also be set through the environment variable shown with it, or
/// in a `.env` file in the working directory.
#[derive(Debug, Parser)]
#[command(name = "levqor", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API (SQLite in ./data unless DATABASE_URL says otherwise).
    Serve(ServeSettings),
    /// Run jobs only (no HTTP): several of these can share one PostgreSQL database.
    Worker(ServeSettings),
    /// Apply pending database migrations and exit.
    Migrate(StoreSettings),
    /// Create, list and revoke API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Plan a pipeline from plain words with the configured planner and print it,
    /// with its warnings and estimated cost (nothing is stored).
    Plan {
        /// What the pipeline should do, e.g. "every Friday at 5pm post a reminder to #team on Slack".
        text: String,
        #[command(flatten)]
        settings: Box<ServeSettings>,
    },
    /// Back up the database now into LEVQOR_DATA_DIR/backups (verified), pruning to BACKUP_KEEP.
    Backup {
        /// Backups to keep (older ones are deleted).
        #[arg(long, env = "BACKUP_KEEP", value_name = "BACKUP_KEEP", default_value_t = 7)]
        keep: u32,
        #[command(flatten)]
        store: StoreSettings,
    },
    /// Replace the SQLite database with a backup: verified first, refused while a
    /// Levqor process has the database open; the old file is kept beside it.
    Restore {
        /// The backup file (e.g. data/backups/levqor-20261130T030000Z.db).
        file: std::path::PathBuf,
        #[command(flatten)]
        store: StoreSettings,
    },
    /// Print the OpenAPI document (JSON), or the API reference in Markdown.
    Openapi {
        /// Markdown (docs/API.md) instead of JSON.
        #[arg(long)]
        markdown: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it once; only its hash is stored.
    Create(CreateKey),
    /// List stored keys (never the secrets).
    List(StoreSettings),
    /// Revoke a key by id; it stops working at once.
    Revoke {
        /// The key's id, as `keys list` shows it.
        key_id: String,
        #[command(flatten)]
        store: StoreSettings,
    },
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("owner").required(true).args(["admin", "user"])))]
pub struct CreateKey {
    /// An admin key, belonging to no user.
    #[arg(long)]
    pub admin: bool,
    /// A key for the user with this email (who must exist).
    #[arg(long, value_name = "EMAIL")]
    pub user: Option<String>,
    /// A note to recognise the key by.
    #[arg(long)]
    pub label: Option<String>,
    /// Make the key expire after this many days.
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub expires_in_days: Option<u32>,
    #[command(flatten)]
    pub store: StoreSettings,
}
