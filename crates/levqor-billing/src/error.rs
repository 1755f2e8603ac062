use levqor_core::{Credits, FieldProblem, StorageError};

use crate::ledger::ReservationState;
use crate::stripe_webhook::WebhookError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BillingError {
    /// A 402: the balance does not cover what was asked for. Nothing was written.
    #[error("insufficient credits: balance {balance}, needed {needed}")]
    InsufficientCredits { balance: Credits, needed: Credits },
    #[error("not found")]
    NotFound,
    /// A 402: the run would take the user's spending past a [`crate::SpendingCap`].
    /// Nothing was written.
    #[error("daily credit cap reached: {spent} of {cap} credits spent on runs today, this run needs {needed}")]
    SpendingCapReached { spent: Credits, needed: Credits, cap: Credits },
    #[error("the request is invalid")]
    Invalid(Vec<FieldProblem>),
    /// A 409: the reservation was already settled or released (for instance by the
    /// sweeper after it expired), so it can no longer change the balance.
    #[error("the reservation is already {}", .0.as_str())]
    ReservationNotHeld(ReservationState),
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Stripe answered with an error; `message` is Stripe's own (safe to log, not
    /// necessarily to show).
    #[error("stripe error ({status}): {message}")]
    Stripe { status: u16, message: String },
    /// Stripe could not be reached, or did not answer in time.
    #[error("Stripe could not be reached: {0}")]
    StripeUnreachable(String),
    /// Stripe (or something in its place) answered with neither a Stripe object
    /// nor a Stripe error.
    #[error("unexpected answer from Stripe: {0}")]
    StripeUnreadable(String),
    #[error(transparent)]
    Webhook(#[from] WebhookError),
    /// A 503: the named setting (e.g. `STRIPE_SECRET_KEY`) is not configured.
    #[error("{0} is not configured")]
    Unconfigured(&'static str),
}

impl BillingError {
    pub fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldProblem::new(field, problem)])
    }
}
