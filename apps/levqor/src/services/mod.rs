//! Use cases that span more than one domain crate (accounts and billing), so that
//! HTTP handlers stay thin and business rules stay out of them.

pub mod billing;
pub mod blocking;
pub mod jobs;
pub mod pipelines;

use levqor_accounts::AccountsError;
use levqor_billing::BillingError;
use levqor_core::StorageError;

/// An error of a cross-domain use case: whichever domain refused.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Accounts(#[from] AccountsError),
    #[error(transparent)]
    Billing(#[from] BillingError),
}

impl From<StorageError> for ServiceError {
    fn from(e: StorageError) -> Self {
        ServiceError::Billing(BillingError::Storage(e))
    }
}
