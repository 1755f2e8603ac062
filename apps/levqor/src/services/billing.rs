//! Credits and billing use cases over the accounts and billing domains: the free
//! grant at sign-up, referral attribution and rewards, balances, Stripe Checkout,
//! the Stripe webhook and admin corrections. Handlers call these and only map
//! HTTP in and out.
//!
//! The blocking methods touch the database and run on a blocking pool; the two
//! checkout methods are async because they call Stripe.

use std::sync::Arc;

use levqor_accounts::{AccountService, AccountsError, Principal, ProfileChanges, User, UserRepo};
use levqor_billing::{
    BillingError, CheckoutRequest, CheckoutSession, CreditPack, CreditRules, EntryKind, Grant, GrantOutcome, Ledger,
    LedgerEntry, NotRewarded, Packs, ReferralCode, ReferralRepo, Reward, SignUp, StripeCheckout, StripeConfig,
    TrackedVisit, WebhookAction, WebhookSecret, free_grant_key, reward_referral, verify_and_decide,
};
use levqor_core::{AuditContext, Clock, Credits, Cursor, Email, Page, Timestamp, UserId};

use levqor_notifications::templates::{PaymentFailed, PurchaseReceipt, Welcome};
use levqor_notifications::{Enqueued, Notifier, NotifyError};

use super::ServiceError;
use crate::config::ServeSettings;

/// What a verified webhook delivery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// The pack's credits were added.
    Granted { user: UserId, credits: Credits, balance: Credits },
    /// This event, or another event for the same session, granted them before.
    AlreadyGranted,
    /// The buyer was told by email that the payment failed.
    Notified,
    /// The notice for this event was written before.
    AlreadyNotified,
    /// Acknowledged and nothing done, with why.
    Ignored(String),
    /// Paid, but not the pack's amount or currency: nothing granted, logged as an
    /// error for an operator.
    Mismatch(String),
}

/// What `GET /billing/health` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentsHealth {
    pub checkout: bool,
    pub webhook: bool,
    pub packs: usize,
}

impl PaymentsHealth {
    pub fn configured(&self) -> bool {
        self.checkout && self.webhook
    }

    /// The settings that are missing, by name.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if !self.checkout {
            missing.push("STRIPE_SECRET_KEY");
        }
        if !self.webhook {
            missing.push("STRIPE_WEBHOOK_SECRET");
        }
        missing
    }
}

/// The original's checkout form, as the use case sees it.
#[derive(Debug, Clone, Default)]
pub struct CheckoutForm {
    /// A pack id or a pack's Stripe price id; none: the first pack.
    pub price_id: Option<String>,
    pub email: Option<String>,
    /// Must be the caller's own id when given.
    pub user_id: Option<String>,
}

pub struct BillingService {
    ledger: Arc<dyn Ledger>,
    referrals: Arc<dyn ReferralRepo>,
    users: Arc<dyn UserRepo>,
    accounts: AccountService,
    clock: Arc<dyn Clock>,
    rules: CreditRules,
    packs: Packs,
    checkout: Option<StripeCheckout>,
    webhook_secret: Option<WebhookSecret>,
    mail: Notifier,
}

/// The ports the service needs; the store implements the first three, and mail
/// is queued as jobs.
pub struct Ports {
    pub ledger: Arc<dyn Ledger>,
    pub referrals: Arc<dyn ReferralRepo>,
    pub users: Arc<dyn UserRepo>,
    pub mail: Notifier,
}

impl BillingService {
    /// Builds the service from configuration; a bad Stripe setting is an error that
    /// names it.
    pub fn new(
        ports: Ports,
        accounts: AccountService,
        clock: Arc<dyn Clock>,
        settings: &ServeSettings,
    ) -> Result<Self, String> {
        let billing = &settings.billing;
        let checkout = match &billing.stripe_secret_key {
            None => None,
            Some(key) => {
                let (success, cancel) = billing.checkout_urls(settings.addr);
                let config = StripeConfig::new(key.clone(), success, cancel)
                    .with_api_base(Some(billing.stripe_api_base.clone()));
                Some(StripeCheckout::new(config).map_err(|e| {
                    match e {
                        BillingError::Invalid(problems) => problems
                            .iter()
                            .map(|p| format!("{}: {}", setting_name(&p.field), p.problem))
                            .collect::<Vec<_>>()
                            .join("; "),
                        other => other.to_string(),
                    }
                })?)
            }
        };
        Ok(Self {
            ledger: ports.ledger,
            referrals: ports.referrals,
            users: ports.users,
            accounts,
            clock,
            rules: billing.rules(),
            packs: billing.packs.clone().unwrap_or_default(),
            checkout,
            webhook_secret: billing.stripe_webhook_secret.as_deref().map(WebhookSecret::new),
            mail: ports.mail,
        })
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub fn rules(&self) -> CreditRules {
        self.rules
    }

    pub fn packs(&self) -> &Packs {
        &self.packs
    }

    pub fn health(&self) -> PaymentsHealth {
        PaymentsHealth {
            checkout: self.checkout.is_some(),
            webhook: self.webhook_secret.is_some(),
            packs: self.packs.all().len(),
        }
    }

    // ----------------------------------------------------------------- sign-up

    /// Creates or updates the user with `email`, grants the free credits exactly
    /// once, and attributes the sign-up to the owner of `referral_code`.
    ///
    /// The free grant is asked for on every upsert: its once-key makes all but the
    /// first a no-op, and a crash between creating the user and granting is healed
    /// by the next upsert. An unknown referral code refuses the whole request
    /// before anything is written.
    pub fn sign_up(
        &self,
        email: &Email,
        changes: &ProfileChanges,
        referral_code: Option<&str>,
        audit: &AuditContext,
    ) -> Result<(User, bool), ServiceError> {
        let referrer = match referral_code.map(str::trim).filter(|c| !c.is_empty()) {
            None => None,
            Some(raw) => {
                let code = ReferralCode::parse(raw)
                    .map_err(|_| BillingError::invalid("referral_code", "is not a referral code"))?;
                let owner = self
                    .referrals
                    .find_code(&code)?
                    .ok_or_else(|| BillingError::invalid("referral_code", "no user has this referral code"))?;
                if self.users.find_user_by_email(email)?.is_some_and(|u| u.id == owner) {
                    return Err(BillingError::invalid("referral_code", "is this user's own code").into());
                }
                Some(owner)
            }
        };
        let (user, created) = self.accounts.upsert(email, changes, audit)?;
        self.grant_free(&user.id)?;
        if created {
            let welcome = Welcome { email: user.email.to_string(), free_credits: self.rules.free_credits.get() };
            unless_unmailable(self.mail.send(
                user.email.as_str(),
                &welcome,
                None,
                Some(&format!("welcome:{}", user.id)),
            ))?;
        }
        if let (Some(referrer), Some(code)) = (referrer, referral_code) {
            // The first attribution wins; a later code changes nothing. The sign-up
            // itself is the referred person's word, so a new user's referrer is
            // rewarded at once (the ledger's once-key keeps it to one reward).
            self.referrals.attribute(&user.id, &referrer, self.now())?;
            if created {
                // The code was checked above, so a refusal here can only be
                // `already_rewarded` (a retried upsert): nothing to report.
                let sign_up = SignUp { id: user.id.clone(), created_at: user.created_at };
                let _ = self.reward_sign_up(code.trim(), Some(&sign_up))?;
            }
        }
        Ok((user, created))
    }

    /// The free-tier grant, exactly once per user.
    pub fn grant_free(&self, user: &UserId) -> Result<GrantOutcome, BillingError> {
        if self.rules.free_credits.get() <= 0 {
            return Ok(GrantOutcome::AlreadyGranted);
        }
        let grant = Grant {
            user: user.clone(),
            kind: EntryKind::FreeGrant,
            amount: self.rules.free_credits,
            reason: "free tier".into(),
            reference: None,
            now: self.now(),
        };
        self.ledger.grant(&grant, Some(&free_grant_key(user)))
    }

    // ----------------------------------------------------------------- balances

    pub fn balance(&self, user: &UserId) -> Result<Credits, BillingError> {
        self.ledger.balance(user)
    }

    /// The balance and a page of entries, newest first.
    pub fn statement(
        &self,
        user: &UserId,
        cursor: Option<&Cursor>,
        limit: u32,
    ) -> Result<(Credits, Page<LedgerEntry>), BillingError> {
        let page = self.ledger.entries(user, cursor, limit)?;
        Ok((self.ledger.balance(user)?, page))
    }

    /// An operator's correction of either sign; the entry carries the new balance.
    pub fn admin_add(
        &self,
        user_id: &str,
        credits: i64,
        reason: &str,
        audit: &AuditContext,
    ) -> Result<LedgerEntry, ServiceError> {
        let user: UserId = user_id.parse().map_err(|_| BillingError::NotFound)?;
        self.users.get_user(&user)?.ok_or(BillingError::NotFound)?;
        if credits == 0 {
            return Err(BillingError::invalid("credits", "must not be zero").into());
        }
        Ok(self.ledger.adjust(&user, Credits::new(credits), reason, self.now(), Some(audit))?)
    }

    /// Releases every expired reservation; how many.
    pub fn sweep_reservations(&self) -> Result<u64, BillingError> {
        self.ledger.expire_reservations(self.now())
    }

    // ----------------------------------------------------------------- checkout

    fn stripe(&self) -> Result<&StripeCheckout, BillingError> {
        self.checkout.as_ref().ok_or(BillingError::Unconfigured("STRIPE_SECRET_KEY"))
    }

    fn pack(&self, field: &str, id: &str) -> Result<CreditPack, BillingError> {
        self.packs
            .get(id)
            .or_else(|| self.packs.by_price_id(id))
            .cloned()
            .ok_or_else(|| BillingError::invalid(field, format!("no pack `{id}`; see GET /api/v1/credits/packs")))
    }

    fn first_pack(&self) -> Result<CreditPack, BillingError> {
        self.packs.all().first().cloned().ok_or(BillingError::Unconfigured("PACKS"))
    }

    /// A Checkout session for `pack_id`, paid by `user`. The Idempotency-Key is
    /// passed on to Stripe, scoped to the user.
    pub async fn purchase(
        self: Arc<Self>,
        user: UserId,
        pack_id: String,
        idempotency_key: Option<String>,
    ) -> Result<CheckoutSession, ServiceError> {
        self.stripe()?;
        let pack = self.pack("pack_id", &pack_id)?;
        let buyer = self.clone().user(user).await?;
        self.create_session(buyer, pack, None, idempotency_key).await
    }

    /// The original's `POST /billing/create-checkout-session`.
    pub async fn checkout_form(
        self: Arc<Self>,
        caller: UserId,
        form: CheckoutForm,
        idempotency_key: Option<String>,
    ) -> Result<CheckoutSession, ServiceError> {
        if let Some(id) = form.user_id.as_deref().map(str::trim)
            && id != caller.to_string()
        {
            return Err(AccountsError::Forbidden("a user may buy credits only for itself").into());
        }
        let email = form
            .email
            .as_deref()
            .map(|e| Email::parse(e).map_err(|err| BillingError::invalid("email", err.to_string())))
            .transpose()?;
        self.stripe()?;
        let pack = match form.price_id.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
            Some(id) => self.pack("price_id", id)?,
            None => self.first_pack()?,
        };
        let buyer = self.clone().user(caller).await?;
        self.create_session(buyer, pack, email, idempotency_key).await
    }

    async fn user(self: Arc<Self>, id: UserId) -> Result<User, ServiceError> {
        let found = tokio::task::spawn_blocking(move || self.users.get_user(&id))
            .await
            .map_err(|e| levqor_core::StorageError::Unavailable(format!("blocking pool: {e}")))??;
        Ok(found.ok_or(AccountsError::NotFound)?)
    }

    async fn create_session(
        &self,
        buyer: User,
        pack: CreditPack,
        email: Option<Email>,
        idempotency_key: Option<String>,
    ) -> Result<CheckoutSession, ServiceError> {
        let request = CheckoutRequest {
            user: buyer.id,
            pack,
            customer_email: Some(email.unwrap_or(buyer.email)),
            idempotency_key,
        };
        Ok(self.stripe()?.create_session(&request).await?)
    }

    // ----------------------------------------------------------------- webhook

    /// Verifies a Stripe delivery and acts on it. Never calls Stripe.
    ///
    /// A purchase is granted with the event's and the session's once-keys in the
    /// grant's own transaction, so a redelivery and a second event for the same
    /// session both grant nothing.
    pub fn webhook(&self, signature: Option<&str>, payload: &[u8]) -> Result<WebhookOutcome, ServiceError> {
        let now = self.now();
        let (event, action) = verify_and_decide(self.webhook_secret.as_ref(), signature, payload, now, &self.packs)?;
        let keys = action.once_keys();
        match action {
            WebhookAction::Grant { user, credits, pack_id, session_id, .. } => {
                let Some(buyer) = self.users.get_user(&user)? else {
                    return Ok(WebhookOutcome::Ignored(format!("session {session_id} names no Levqor user")));
                };
                let price = self.packs.get(&pack_id).map(|p| price_text(p.price_minor, &p.currency));
                let grant = Grant {
                    user: user.clone(),
                    kind: EntryKind::Purchase,
                    amount: credits,
                    reason: format!("purchase of {pack_id}"),
                    reference: Some(session_id.clone()),
                    now,
                };
                Ok(match self.ledger.grant_once(&grant, &keys)? {
                    GrantOutcome::Granted(entry) => {
                        let receipt = PurchaseReceipt {
                            email: buyer.email.to_string(),
                            pack_id,
                            credits: credits.get(),
                            price: price.unwrap_or_default(),
                            balance: entry.balance_after.get(),
                            session_id: session_id.clone(),
                        };
                        let once = format!("receipt:{session_id}");
                        unless_unmailable(self.mail.send(buyer.email.as_str(), &receipt, None, Some(&once)))?;
                        WebhookOutcome::Granted { user, credits, balance: entry.balance_after }
                    }
                    GrantOutcome::AlreadyGranted => WebhookOutcome::AlreadyGranted,
                })
            }
            WebhookAction::PaymentFailed { user, session_id, email } => {
                let account = self.users.get_user(&user)?;
                let Some(to) = account.map(|u| u.email.to_string()).or(email) else {
                    return Ok(WebhookOutcome::Ignored(format!("session {session_id}: nobody to notify")));
                };
                let notice = PaymentFailed { session_id };
                let once = format!("payment-failed:{}", event.id);
                Ok(match unless_unmailable(self.mail.send(&to, &notice, None, Some(&once)))? {
                    Some(Enqueued::New(_)) => WebhookOutcome::Notified,
                    Some(Enqueued::AlreadyQueued) => WebhookOutcome::AlreadyNotified,
                    None => WebhookOutcome::Ignored(format!("session {}: no address to notify", notice.session_id)),
                })
            }
            WebhookAction::Ignore { reason } => Ok(WebhookOutcome::Ignored(reason)),
            WebhookAction::Mismatch { reason } => Ok(WebhookOutcome::Mismatch(reason)),
        }
    }

    // ----------------------------------------------------------------- referrals

    pub fn referral_code(&self, user: &UserId) -> Result<ReferralCode, BillingError> {
        self.referrals.code_for(user, self.now())
    }

    /// Rewards the owner of `code` for a sign-up, at most once per referred user;
    /// `Err` says why not. A user's key claims only for that user's own account
    /// (`email`, when given, must be theirs; any other address gets the same
    /// `not_your_account`, registered or not). An admin names the sign-up by email.
    pub fn reward(
        &self,
        caller: &Principal,
        code: &str,
        email: Option<&Email>,
    ) -> Result<Result<Reward, NotRewarded>, ServiceError> {
        let sign_up = match caller {
            Principal::User { user_id, .. } => {
                let me = self.users.get_user(user_id)?.ok_or(AccountsError::NotFound)?;
                if email.is_some_and(|e| *e != me.email) {
                    return Ok(Err(NotRewarded::NotYourAccount));
                }
                Some(SignUp { id: me.id, created_at: me.created_at })
            }
            Principal::Admin { .. } => {
                let email = email.ok_or_else(|| BillingError::invalid("email", "is required with an admin key"))?;
                self.users.find_user_by_email(email)?.map(|u| SignUp { id: u.id, created_at: u.created_at })
            }
        };
        self.reward_sign_up(code, sign_up.as_ref())
    }

    fn reward_sign_up(
        &self,
        code: &str,
        sign_up: Option<&SignUp>,
    ) -> Result<Result<Reward, NotRewarded>, ServiceError> {
        Ok(reward_referral(
            self.ledger.as_ref(),
            self.referrals.as_ref(),
            code,
            sign_up,
            self.now(),
            self.rules.referral_credits,
        )?)
    }

    pub fn track(
        &self,
        email_hash: levqor_core::EmailDigest,
        source: String,
        campaign: Option<String>,
        medium: Option<String>,
    ) -> Result<(), BillingError> {
        let mut problems = Vec::new();
        for (field, value) in [("source", Some(&source)), ("campaign", campaign.as_ref()), ("medium", medium.as_ref())]
        {
            match value.map(|v| v.trim().chars().count()) {
                Some(0) if field == "source" => {
                    problems.push(levqor_core::FieldProblem::new(field, "must not be empty"))
                }
                Some(n) if n > 200 => {
                    problems.push(levqor_core::FieldProblem::new(field, "must be at most 200 characters"));
                }
                _ => {}
            }
        }
        if !problems.is_empty() {
            return Err(BillingError::Invalid(problems));
        }
        let clean = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        self.referrals.track(&TrackedVisit {
            email_hash,
            source: source.trim().to_owned(),
            campaign: clean(campaign),
            medium: clean(medium),
            at: self.now(),
        })
    }
}

impl From<NotifyError> for ServiceError {
    fn from(e: NotifyError) -> Self {
        let storage = match e {
            NotifyError::Storage(s) | NotifyError::Queue(levqor_jobs::JobsError::Storage(s)) => s,
            other => levqor_core::StorageError::Failure(other.to_string()),
        };
        ServiceError::Billing(BillingError::Storage(storage))
    }
}

/// A mail to an address the mailer cannot use is skipped (`None`): it must not
/// fail the sign-up or purchase it is about. Any other error (the queue) is one.
fn unless_unmailable(queued: Result<Enqueued, NotifyError>) -> Result<Option<Enqueued>, NotifyError> {
    match queued {
        Ok(enqueued) => Ok(Some(enqueued)),
        Err(NotifyError::Address(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `USD 9.00` from minor units; Stripe's zero-decimal currencies have no cents.
fn price_text(minor: i64, currency: &str) -> String {
    const ZERO_DECIMAL: [&str; 16] = [
        "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf",
    ];
    let code = currency.to_ascii_uppercase();
    if ZERO_DECIMAL.contains(&currency.to_ascii_lowercase().as_str()) {
        format!("{code} {minor}")
    } else {
        format!("{code} {}.{:02}", minor / 100, (minor % 100).abs())
    }
}

fn setting_name(field: &str) -> &str {
    match field {
        "success_url" => "CHECKOUT_SUCCESS_URL",
        "cancel_url" => "CHECKOUT_CANCEL_URL",
        other => other,
    }
}
