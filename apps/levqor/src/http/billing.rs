//! Credits and billing over HTTP: balance and statement, packs, Stripe Checkout
//! (`/api/v1/credits/purchase` and the original's `/billing/create-checkout-session`),
//! the Stripe webhook, admin corrections and payments health. The rules live in
//! [`crate::services::billing`]; these handlers map HTTP in and out.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use levqor_billing::{LedgerEntry, STRIPE_SIGNATURE_HEADER};
use levqor_core::{Cursor, Page};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::idempotency;
use super::json::{Json, JsonBody, RawJson};
use crate::services::billing::{CheckoutForm, WebhookOutcome};
use crate::state::AppState;

/// One ledger entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntryDto {
    pub id: String,
    /// `free_grant`, `purchase`, `run_reserve`, `run_settle`, `refund`,
    /// `referral_reward`, `admin_adjustment` or `reservation_release`.
    #[schema(example = "free_grant")]
    pub kind: String,
    /// Whole credits; negative for what was taken.
    pub amount: i64,
    /// The balance right after this entry.
    pub balance_after: i64,
    pub reason: String,
    /// What the entry is about, e.g. a Checkout session id.
    pub reference: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<LedgerEntry> for EntryDto {
    fn from(e: LedgerEntry) -> Self {
        Self {
            id: e.id.to_string(),
            kind: e.kind.as_str().to_owned(),
            amount: e.amount.get(),
            balance_after: e.balance_after.get(),
            reason: e.reason,
            reference: e.reference,
            created_at: e.created_at,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StatementQuery {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<u32>,
}

/// The caller's balance and ledger entries, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct Statement {
    /// Whole credits available now (reserved credits are not included).
    pub balance: i64,
    pub entries: Vec<EntryDto>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// The caller's balance and recent ledger entries (user).
#[utoipa::path(get, path = "/api/v1/credits", tag = "credits", params(StatementQuery),
    responses((status = 200, body = Statement), (status = 400, description = "a bad cursor", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, description = "an admin key belongs to no user", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn statement(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<StatementQuery>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.0.require_user()?.clone();
    let q = query.into_inner();
    let cursor = q.cursor.map(Cursor);
    let limit = Page::<LedgerEntry>::clamp_limit(q.limit);
    let (balance, page) = web::block(move || state.billing.statement(&user, cursor.as_ref(), limit)).await??;
    Ok(HttpResponse::Ok().json(Statement {
        balance: balance.get(),
        entries: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor.map(|c| c.0),
    }))
}

/// A credit pack for sale.
#[derive(Debug, Serialize, ToSchema)]
pub struct PackDto {
    /// Pass as `pack_id` to buy it.
    #[schema(example = "pack_100")]
    pub id: String,
    #[schema(example = 100)]
    pub credits: i64,
    /// The price in the currency's minor unit (900 = USD 9.00).
    #[schema(example = 900)]
    pub price_minor: i64,
    /// ISO 4217, lowercase.
    #[schema(example = "usd")]
    pub currency: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PackList {
    pub packs: Vec<PackDto>,
}

/// The credit packs on sale (public).
#[utoipa::path(get, path = "/api/v1/credits/packs", tag = "credits", responses((status = 200, body = PackList)))]
pub async fn packs(state: web::Data<AppState>) -> HttpResponse {
    let packs = state
        .billing
        .packs()
        .all()
        .iter()
        .map(|p| PackDto {
            id: p.id.clone(),
            credits: p.credits,
            price_minor: p.price_minor,
            currency: p.currency.clone(),
        })
        .collect();
    HttpResponse::Ok().json(PackList { packs })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PurchaseRequest {
    /// A pack id from `GET /api/v1/credits/packs`.
    #[schema(example = "pack_100")]
    pub pack_id: String,
}

/// A Stripe Checkout session to send the buyer to.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckoutSessionDto {
    /// `cs_…`
    #[serde(rename = "sessionId")]
    #[schema(example = "cs_test_a1b2c3")]
    pub session_id: String,
    /// Stripe's hosted payment page.
    pub url: String,
}

fn session_answer(session: levqor_billing::CheckoutSession) -> (StatusCode, Value) {
    (StatusCode::OK, json!(CheckoutSessionDto { session_id: session.session_id, url: session.url }))
}

/// Start buying a pack: a Stripe Checkout session in payment mode with the caller
/// as `client_reference_id` and the pack in its metadata (user). Credits are added
/// by the webhook once Stripe reports the payment.
#[utoipa::path(post, path = "/api/v1/credits/purchase", tag = "credits", request_body = PurchaseRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for 24 h; also sent to Stripe")),
    responses((status = 200, body = CheckoutSessionDto), (status = 400, description = "unknown pack", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "the same Idempotency-Key is in flight", body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, description = "the Idempotency-Key was used with another body", body = ErrorBody), (status = 429, body = ErrorBody),
        (status = 502, description = "Stripe failed or refused", body = ErrorBody), (status = 503, description = "STRIPE_SECRET_KEY is not set", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn purchase(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    body: JsonBody<PurchaseRequest>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.0.require_user()?.clone();
    let billing = state.billing.clone();
    let pack_id = body.value.pack_id;
    idempotency::keyed(&state, &req, &caller, &body.bytes, |key| async move {
        Ok::<_, ApiError>(session_answer(billing.purchase(user, pack_id, key).await?))
    })
    .await
}

/// The original's checkout form.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutFormBody {
    /// A pack id or a pack's Stripe price id; default: the first pack.
    pub price_id: Option<String>,
    /// The buyer's email for Stripe; default: the caller's.
    pub email: Option<String>,
    /// Must be the caller's own id when given.
    pub user_id: Option<String>,
}

/// The original's `create-checkout-session` (user; for the caller only).
#[utoipa::path(post, path = "/billing/create-checkout-session", tag = "billing", request_body = CheckoutFormBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for 24 h; also sent to Stripe")),
    responses((status = 200, body = CheckoutSessionDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "`user_id` is not the caller", body = ErrorBody),
        (status = 409, description = "the same Idempotency-Key is in flight", body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, description = "the Idempotency-Key was used with another body", body = ErrorBody), (status = 429, body = ErrorBody),
        (status = 502, description = "Stripe failed or refused", body = ErrorBody), (status = 503, description = "STRIPE_SECRET_KEY is not set", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn create_checkout_session(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    body: JsonBody<CheckoutFormBody>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.0.require_user()?.clone();
    let billing = state.billing.clone();
    let form = CheckoutForm { price_id: body.value.price_id, email: body.value.email, user_id: body.value.user_id };
    idempotency::keyed(&state, &req, &caller, &body.bytes, |key| async move {
        Ok::<_, ApiError>(session_answer(billing.checkout_form(user, form, key).await?))
    })
    .await
}

/// What the webhook did with a verified delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAck {
    pub received: bool,
    /// `granted`, `already_granted`, `notified`, `already_notified` or `ignored`.
    #[schema(example = "granted")]
    pub outcome: &'static str,
    /// Credits added (for `granted`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credits: Option<i64>,
    /// Why nothing was done (for `ignored`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Stripe's webhook: the raw body is verified against `Stripe-Signature` (v1,
/// HMAC-SHA256, 300 s tolerance). Paid `checkout.session.completed` and
/// `checkout.session.async_payment_succeeded` add the pack's credits once per event
/// and once per session; `checkout.session.async_payment_failed` emails the buyer;
/// other events are acknowledged and ignored.
#[utoipa::path(post, path = "/billing/webhook", tag = "billing",
    request_body(content = Object, description = "a Stripe event, exactly as Stripe sent it", content_type = "application/json"),
    params(("Stripe-Signature" = String, Header, description = "`t=<unix>,v1=<hex hmac>`")),
    responses((status = 200, body = WebhookAck),
        (status = 400, description = "missing, bad or stale signature, or an unreadable event", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 503, description = "STRIPE_WEBHOOK_SECRET is not set", body = ErrorBody)),
    security(("stripe_signature" = [])))]
pub async fn webhook(state: web::Data<AppState>, req: HttpRequest, body: RawJson) -> Result<HttpResponse, ApiError> {
    let signature = req.headers().get(STRIPE_SIGNATURE_HEADER).map(|v| v.to_str().unwrap_or("").to_owned());
    let st = state.clone();
    let outcome = web::block(move || st.billing.webhook(signature.as_deref(), &body.0)).await??;
    let ack = |outcome, credits, reason| WebhookAck { received: true, outcome, credits, reason };
    let answer = match outcome {
        WebhookOutcome::Granted { user, credits, balance } => {
            slog::info!(state.log, "credits purchased"; "user" => %user, "credits" => credits.get(), "balance" => balance.get());
            ack("granted", Some(credits.get()), None)
        }
        WebhookOutcome::AlreadyGranted => ack("already_granted", None, None),
        WebhookOutcome::Notified => ack("notified", None, None),
        WebhookOutcome::AlreadyNotified => ack("already_notified", None, None),
        WebhookOutcome::Ignored(reason) => {
            slog::info!(state.log, "stripe event ignored"; "reason" => %reason);
            ack("ignored", None, Some(reason))
        }
        WebhookOutcome::Mismatch(reason) => {
            // Acknowledged (Stripe would only resend the same event) but loud.
            slog::error!(state.log, "paid checkout does not match its pack; no credits granted"; "reason" => %reason);
            ack("amount_mismatch", None, Some(reason))
        }
    };
    Ok(HttpResponse::Ok().json(answer))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddCreditsRequest {
    pub user_id: String,
    /// Whole credits, either sign; a negative correction may not take the balance below zero.
    #[schema(example = 25)]
    pub credits: i64,
    /// Why; kept on the ledger entry.
    #[schema(example = "goodwill after an outage")]
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AddCreditsResponse {
    pub credits_added: i64,
    /// The user's balance right after this correction.
    pub new_balance: i64,
    pub entry: EntryDto,
}

/// Add (or, negative, remove) credits for a user (admin).
#[utoipa::path(post, path = "/api/v1/credits/add", tag = "credits", request_body = AddCreditsRequest,
    responses((status = 200, body = AddCreditsResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 402, description = "a negative correction larger than the balance", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, description = "no such user", body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn add_credits(
    state: web::Data<AppState>,
    caller: Caller,
    Json(body): Json<AddCreditsRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.0.require_admin()?;
    let audit = super::audit::context(&caller);
    let entry =
        web::block(move || state.billing.admin_add(&body.user_id, body.credits, &body.reason, &audit)).await??;
    Ok(HttpResponse::Ok().json(AddCreditsResponse {
        credits_added: entry.amount.get(),
        new_balance: entry.balance_after.get(),
        entry: entry.into(),
    }))
}

/// Whether payments are configured.
#[derive(Debug, Serialize, ToSchema)]
pub struct BillingHealth {
    /// Checkout and the webhook are both configured.
    pub configured: bool,
    /// `STRIPE_SECRET_KEY` is set.
    pub checkout: bool,
    /// `STRIPE_WEBHOOK_SECRET` is set.
    pub webhook: bool,
    /// Packs on sale.
    pub packs: usize,
    /// The names of missing settings.
    pub missing: Vec<&'static str>,
}

/// Payments health (public): 200 when Stripe checkout and webhook are configured,
/// 503 (same body) when not. Never shows a secret.
#[utoipa::path(get, path = "/billing/health", tag = "billing",
    responses((status = 200, body = BillingHealth), (status = 503, description = "a Stripe setting is missing", body = BillingHealth)))]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let h = state.billing.health();
    let body = BillingHealth {
        configured: h.configured(),
        checkout: h.checkout,
        webhook: h.webhook,
        packs: h.packs,
        missing: h.missing(),
    };
    if body.configured { HttpResponse::Ok().json(body) } else { HttpResponse::ServiceUnavailable().json(body) }
}
