//! The one mapping from every error to the JSON error of API.md:
//! `{"error", "message", "details"?, "request_id"}`. Internal causes go to the log,
//! never into a response body.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use levqor_accounts::{AccountsError, AuthError};
use levqor_core::{FieldProblem, StorageError};
use serde::Serialize;
use utoipa::ToSchema;

use super::request_id;

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable snake_case code, e.g. `invalid_request`.
    #[schema(example = "invalid_request")]
    pub error: &'static str,
    /// One human sentence.
    pub message: String,
    /// For validation errors: which fields, and what is wrong with each.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Vec<FieldProblemDto>>,
    /// The `X-Request-Id` of the request, to quote in support requests.
    pub request_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FieldProblemDto {
    #[schema(example = "payload.email")]
    pub field: String,
    pub problem: String,
}

/// An error answer. Boxed inside, so `Result<T, ApiError>` stays small.
#[derive(Debug)]
pub struct ApiError(Box<Inner>);

#[derive(Debug)]
struct Inner {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Option<Vec<FieldProblem>>,
    /// For the log only.
    cause: Option<String>,
    headers: Vec<(header::HeaderName, HeaderValue)>,
    /// Captured when the error is made, inside the request: the error may be turned
    /// into a response outside it.
    request_id: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self(Box::new(Inner {
            status,
            code,
            message: message.into(),
            details: None,
            cause: None,
            headers: Vec::new(),
            request_id: request_id::current(),
        }))
    }

    pub fn invalid(details: Vec<FieldProblem>) -> Self {
        let message = match details.as_slice() {
            [one] => format!("`{}` {}", one.field, one.problem),
            _ => "the request has invalid fields; see details".to_owned(),
        };
        let mut error = Self::new(StatusCode::BAD_REQUEST, "invalid_request", message);
        error.0.details = Some(details);
        error
    }

    pub fn invalid_field(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::invalid(vec![FieldProblem::new(field, problem)])
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message).with_header(header::WWW_AUTHENTICATE, "Bearer")
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn method_not_allowed(allow: &str) -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", format!("this path accepts only {allow}"))
            .with_header(header::ALLOW, allow)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    pub fn idempotency_mismatch() -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_mismatch",
            "this Idempotency-Key was used with a different request; use a new key",
        )
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than {limit} bytes"),
        )
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with `Content-Type: application/json`",
        )
    }

    pub fn rate_limited(retry_after_s: u64) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many requests; retry in {retry_after_s} s"),
        )
    }

    pub fn internal(cause: impl fmt::Display) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "something went wrong on our side; it has been logged",
        )
        .with_cause(cause)
    }

    pub fn unavailable(cause: impl fmt::Display) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the service is temporarily unavailable; try again shortly",
        )
        .with_cause(cause)
        .with_header(header::RETRY_AFTER, "5")
    }

    /// A JSON error for a status that some layer produced without a body of ours.
    pub fn from_status(status: StatusCode) -> Self {
        match status.as_u16() {
            400 => Self::bad_request("the request could not be understood"),
            401 => Self::unauthorized("authentication is required"),
            403 => Self::forbidden("not allowed"),
            404 => Self::not_found("no such resource"),
            405 => Self::method_not_allowed("GET, HEAD"),
            413 => Self::payload_too_large(0),
            415 => Self::unsupported_media_type(),
            429 => Self::rate_limited(1),
            503 => Self::unavailable("upstream layer answered 503"),
            s if s >= 500 => Self::internal(format!("a layer answered {status} without a body")),
            _ => Self::new(status, "invalid_request", status.canonical_reason().unwrap_or("request failed")),
        }
    }

    pub(crate) fn with_cause(mut self, cause: impl fmt::Display) -> Self {
        self.0.cause = Some(cause.to_string());
        self
    }

    pub fn with_header(mut self, name: header::HeaderName, value: impl AsRef<str>) -> Self {
        if let Ok(v) = HeaderValue::from_str(value.as_ref()) {
            self.0.headers.push((name, v));
        }
        self
    }

    pub fn code(&self) -> &'static str {
        self.0.code
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.0.code, self.0.status.as_u16(), self.0.message)?;
        if let Some(cause) = &self.0.cause {
            write!(f, "; cause: {cause}")?;
        }
        Ok(())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.0.status
    }

    fn error_response(&self) -> HttpResponse {
        let body = ErrorBody {
            error: self.0.code,
            message: self.0.message.clone(),
            details: self.0.details.as_ref().map(|d| {
                d.iter().map(|p| FieldProblemDto { field: p.field.clone(), problem: p.problem.clone() }).collect()
            }),
            request_id: self.0.request_id.clone(),
        };
        let mut response = HttpResponse::build(self.0.status).json(body);
        let headers = response.headers_mut();
        for (name, value) in &self.0.headers {
            headers.insert(name.clone(), value.clone());
        }
        super::middleware::set_security_headers(headers, false, &self.0.request_id);
        response
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Unavailable(_) => ApiError::unavailable(e),
            StorageError::Conflict(_) => ApiError::conflict("a concurrent change got there first; retry the request"),
            StorageError::Failure(_) => ApiError::internal(e),
        }
    }
}

impl From<AccountsError> for ApiError {
    fn from(e: AccountsError) -> Self {
        match e {
            AccountsError::Invalid(details) => ApiError::invalid(details),
            AccountsError::NotFound => ApiError::not_found("no such user or key"),
            AccountsError::Forbidden(why) => ApiError::forbidden(why),
            AccountsError::Limit(why) => ApiError::conflict(why),
            AccountsError::Storage(s) => s.into(),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Storage(s) => s.into(),
            other => ApiError::unauthorized(other.to_string()),
        }
    }
}

impl From<levqor_jobs::JobsError> for ApiError {
    fn from(e: levqor_jobs::JobsError) -> Self {
        match e {
            levqor_jobs::JobsError::Invalid(details) => ApiError::invalid(details),
            levqor_jobs::JobsError::NotFound => ApiError::not_found("no such job"),
            levqor_jobs::JobsError::Illegal(why) => ApiError::conflict(why.to_string()),
            levqor_jobs::JobsError::Storage(s) => s.into(),
        }
    }
}

/// A path segment that does not parse (an id of the wrong shape): 404, as for an
/// id that does not exist.
pub fn path_error(e: actix_web::error::PathError) -> ApiError {
    ApiError::not_found("no such resource").with_cause(e)
}

/// A query string that does not fit the route's parameters: 400 naming the
/// parameter, without actix's "Query deserialize error" wording.
pub fn query_error(e: actix_web::error::QueryPayloadError) -> ApiError {
    use actix_web::error::QueryPayloadError as Q;
    let (field, problem) = match &e {
        Q::Deserialize(inner) => {
            let message = inner.to_string();
            let named = message.split('`').nth(1).filter(|_| message.contains(" field `"));
            (named.map_or_else(|| "query".to_owned(), str::to_owned), message)
        }
        _ => ("query".to_owned(), "the query string could not be read".to_owned()),
    };
    ApiError::invalid_field(field, problem).with_cause(e)
}

impl From<crate::services::jobs::IntakeError> for ApiError {
    fn from(e: crate::services::jobs::IntakeError) -> Self {
        use crate::services::jobs::IntakeError as I;
        match e {
            I::TooLarge(limit) => ApiError::payload_too_large(limit),
            I::Invalid(problems) => ApiError::invalid(problems),
            I::CapReached(cap) => ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", cap.to_string())
                .with_header(header::RETRY_AFTER, "60"),
            I::Storage(s) => s.into(),
        }
    }
}

impl From<ApiError> for HttpResponse {
    fn from(e: ApiError) -> Self {
        e.error_response()
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        ApiError::unavailable(e)
    }
}

impl ApiError {
    fn with_details(mut self, details: Vec<FieldProblem>) -> Self {
        self.0.details = Some(details);
        self
    }

    /// 503 naming the missing setting (a name, never a value).
    pub fn unconfigured(setting: &str) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("payments are not configured on this server ({setting} is not set)"),
        )
    }

    /// 402: the balance does not cover what was asked for.
    pub fn insufficient_credits(balance: i64, needed: i64) -> Self {
        Self::new(
            StatusCode::PAYMENT_REQUIRED,
            "insufficient_credits",
            format!("the balance of {balance} credits does not cover the {needed} needed"),
        )
    }

    /// 502: a payment provider failed; what failed is said, Stripe's own text is
    /// only logged.
    pub fn upstream(message: impl Into<String>, cause: impl fmt::Display) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, "upstream_error", message).with_cause(cause)
    }
}

/// Connector failures (API.md § Connectors): the caller's mistakes are 400s with
/// the field; the remote service's failures are 502 (504 for a timeout, 429 with
/// `Retry-After` when the service said when to come back). The message names the
/// failure and quotes the service's own error code, never a credential.
impl From<levqor_connectors::ConnectorError> for ApiError {
    fn from(e: levqor_connectors::ConnectorError) -> Self {
        use levqor_connectors::ConnectorError as C;
        let message = e.to_string();
        let code = e.code();
        match e {
            C::UnknownConnector { name, valid } => Self::new(
                StatusCode::BAD_REQUEST,
                code,
                format!("no connector named `{name}`; valid connectors: {}", valid.join(", ")),
            )
            .with_details(vec![FieldProblem::new("connector", format!("must be one of: {}", valid.join(", ")))]),
            C::UnknownAction { valid, .. } => Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
                .with_details(vec![FieldProblem::new("action", format!("must be one of: {}", valid.join(", ")))]),
            C::InvalidParams { field, problem } => Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
                .with_details(vec![FieldProblem::new(format!("params.{field}"), problem)]),
            C::MissingCredentials { field } => Self::new(StatusCode::BAD_REQUEST, code, message)
                .with_details(vec![FieldProblem::new(format!("credentials.{field}"), "is required")]),
            C::InvalidCredentials { .. } => Self::new(StatusCode::BAD_REQUEST, code, message),
            C::RateLimited { retry_after: Some(s) } => {
                Self::new(StatusCode::TOO_MANY_REQUESTS, code, message).with_header(header::RETRY_AFTER, s.to_string())
            }
            C::Timeout => Self::new(StatusCode::GATEWAY_TIMEOUT, code, message),
            // Transport and parsing detail (reqwest's and serde's words) stays in
            // the log; the answer says what failed in plain words.
            C::Network(detail) => {
                Self::new(StatusCode::BAD_GATEWAY, code, "the service could not be reached").with_cause(detail)
            }
            C::UnexpectedResponse(detail) => {
                Self::new(StatusCode::BAD_GATEWAY, code, "the service answered in a way Levqor could not read")
                    .with_cause(detail)
            }
            C::RateLimited { retry_after: None }
            | C::OutcomeUnknown(_)
            | C::UpstreamRefused { .. }
            | C::ResponseTooLarge { .. } => Self::new(StatusCode::BAD_GATEWAY, code, message),
        }
    }
}

impl From<levqor_billing::BillingError> for ApiError {
    fn from(e: levqor_billing::BillingError) -> Self {
        use levqor_billing::BillingError as B;
        match e {
            B::InsufficientCredits { balance, needed } => ApiError::insufficient_credits(balance.get(), needed.get()),
            B::NotFound => ApiError::not_found("no such user or entry"),
            e @ B::SpendingCapReached { .. } => {
                ApiError::new(StatusCode::PAYMENT_REQUIRED, "daily_credit_cap", e.to_string())
            }
            B::Invalid(details) => ApiError::invalid(details),
            B::ReservationNotHeld(state) => {
                ApiError::conflict(format!("the reservation is already {}", state.as_str()))
            }
            B::Storage(s) => s.into(),
            B::StripeUnreachable(detail) => {
                ApiError::upstream("Stripe could not be reached to create the checkout session", detail)
            }
            B::StripeUnreadable(detail) => ApiError::upstream("Stripe answered in a way Levqor could not read", detail),
            B::Stripe { status, message } => {
                ApiError::upstream(format!("Stripe refused to create the checkout session (HTTP {status})"), message)
            }
            B::Webhook(levqor_billing::WebhookError::BadPayload(detail)) => {
                ApiError::bad_request("webhook rejected: the body is not a Stripe event Levqor can read")
                    .with_cause(detail)
            }
            B::Webhook(w) => ApiError::bad_request(format!("webhook rejected: {w}")),
            B::Unconfigured(setting) => ApiError::unconfigured(setting),
        }
    }
}

impl From<levqor_connectors::ConnectionError> for ApiError {
    fn from(e: levqor_connectors::ConnectionError) -> Self {
        use levqor_connectors::ConnectionError as E;
        match e {
            E::Invalid(details) => ApiError::invalid(details),
            E::Connector(c) => c.into(),
            E::NotFound => ApiError::not_found("no such connection"),
            E::Duplicate { .. } => ApiError::conflict(e.to_string()),
            E::NoneStored { .. } => Self::new(StatusCode::BAD_REQUEST, "missing_credentials", e.to_string())
                .with_details(vec![FieldProblem::new("credentials", "is required")]),
            E::Ambiguous { .. } => ApiError::invalid_field("connection", e.to_string()),
            E::Vault(v) => ApiError::internal(v),
            E::Storage(s) => s.into(),
        }
    }
}

impl From<crate::services::ServiceError> for ApiError {
    fn from(e: crate::services::ServiceError) -> Self {
        match e {
            crate::services::ServiceError::Accounts(a) => a.into(),
            crate::services::ServiceError::Billing(b) => b.into(),
        }
    }
}

impl From<crate::services::pipelines::PipelineServiceError> for ApiError {
    fn from(e: crate::services::pipelines::PipelineServiceError) -> Self {
        use crate::services::pipelines::PipelineServiceError as P;
        use levqor_pipelines::{PipelinesError, PlanError};
        match e {
            P::Pipelines(PipelinesError::NotFound) => ApiError::not_found("no such pipeline"),
            P::Pipelines(PipelinesError::Invalid(problems)) => ApiError::invalid(problems),
            P::Pipelines(PipelinesError::Storage(e)) | P::Storage(e) => e.into(),
            P::Plan(PlanError::InvalidDescription(problem)) => ApiError::invalid_field("description", problem),
            P::Plan(e @ PlanError::NotUnderstood { .. }) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "not_understood", e.to_string())
            }
            P::Plan(PlanError::Invalid(problems)) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_pipeline", "the planned pipeline is invalid")
                    .with_details(problems)
            }
            P::Billing(e) => e.into(),
            P::RateLimited(after) => ApiError::rate_limited(after).with_header(header::RETRY_AFTER, after.to_string()),
        }
    }
}
