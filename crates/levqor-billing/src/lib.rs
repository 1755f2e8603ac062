//! Levqor credits and billing: the append-only ledger and its rules, the [`Ledger`]
//! port with an in-memory implementation and the contract every implementation
//! must pass, credit packs, Stripe Checkout sessions, Stripe webhook verification
//! and decisions, and referral codes and rewards.
//!
//! Pure domain code plus Stripe through async-stripe (Checkout Session creation,
//! webhook verification and event types): no HTTP serving, no SQL.
//! `levqor-store` implements [`Ledger`] and [`ReferralRepo`] on SQLite and
//! PostgreSQL and runs [`contract`] (feature `contract-tests`) against both.
//!
//! ```
//! use chrono::{TimeDelta, Utc};
//! use levqor_billing::{EntryKind, Grant, GrantOutcome, Ledger, MemoryLedger, free_grant_key};
//! use levqor_core::{Credits, UserId};
//!
//! let ledger = MemoryLedger::new();
//! let user = UserId::new();
//! let now = Utc::now();
//! let free = Grant {
//!     user: user.clone(),
//!     kind: EntryKind::FreeGrant,
//!     amount: Credits::new(50),
//!     reason: "free tier".into(),
//!     reference: None,
//!     now,
//! };
//! let key = free_grant_key(&user);
//! assert!(matches!(ledger.grant(&free, Some(&key)).unwrap(), GrantOutcome::Granted(_)));
//! assert_eq!(ledger.grant(&free, Some(&key)).unwrap(), GrantOutcome::AlreadyGranted);
//!
//! // A run: reserve at start, settle with what it really cost.
//! let held = ledger.reserve(&user, Credits::new(5), "run", TimeDelta::minutes(15), now).unwrap();
//! assert_eq!(ledger.balance(&user).unwrap(), Credits::new(45));
//! ledger.settle(&held.id, Credits::new(1), now).unwrap();
//! assert_eq!(ledger.balance(&user).unwrap(), Credits::new(49));
//! ```

pub mod checkout;
pub mod error;
pub mod ids;
pub mod ledger;
pub mod memory;
pub mod packs;
pub mod ports;
pub mod referral_code;
pub mod referral_repo;
pub mod referral_service;
pub mod referrals;
pub mod rules;
pub mod stripe_webhook;

#[cfg(any(test, feature = "contract-tests"))]
pub mod contract;

pub use checkout::{
    CheckoutRequest, CheckoutSession, DEFAULT_API_BASE, StripeCheckout, StripeConfig, stripe_idempotency_key,
};
pub use error::BillingError;
pub use ids::{EntryId, ReservationId};
pub use ledger::{
    ClosePlan, EntryKind, LedgerEntry, Posting, Reservation, ReservationState, ReservePlan, SpendingCap, plan_adjust,
    plan_grant, plan_release, plan_reserve, plan_settle,
};
pub use memory::MemoryLedger;
pub use packs::{CreditPack, PackError, Packs};
pub use ports::{Grant, GrantOutcome, Ledger, free_grant_key, referral_key, stripe_event_key, stripe_session_key};
pub use referral_code::ReferralCode;
pub use referral_repo::{MemoryReferrals, ReferralRepo, TrackedVisit};
pub use referral_service::{SignUp, reward_referral};
pub use referrals::{NotRewarded, REFERRAL_WINDOW, ReferredUser, Reward, decide_referral};
pub use rules::CreditRules;
pub use stripe_webhook::{
    STRIPE_SIGNATURE_HEADER, WebhookAction, WebhookError, WebhookEvent, WebhookSecret, decide, signature_header,
    verify_and_decide,
};
