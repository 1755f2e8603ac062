//! The emails Levqor sends, each a branded HTML part and a plain-text part
//! rendered with askama from `templates/email/` at the repository root. Every
//! value is escaped in the HTML part (askama escapes `.html` templates), so a
//! user's text can never add markup or links of its own.

use askama::Template;

/// What every mail shows: the product's name and where the site is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Brand {
    pub product: String,
    /// The site's public base URL, without a trailing slash.
    pub site_url: String,
}

impl Brand {
    pub fn new(site_url: &str) -> Self {
        Self { product: "Levqor".into(), site_url: site_url.trim_end_matches('/').to_owned() }
    }
}

/// One kind of email: its subject and its two rendered parts.
pub trait EmailContent {
    fn subject(&self, brand: &Brand) -> String;
    /// `(text, html)`.
    fn render(&self, brand: &Brand) -> Result<(String, String), askama::Error>;
}

/// Declares the text and HTML templates of `$content` and its [`EmailContent`].
macro_rules! email {
    ($content:ident, $text:ident = $text_path:literal, $html:ident = $html_path:literal, |$m:ident, $b:ident| $subject:expr) => {
        #[derive(Template)]
        #[template(path = $text_path)]
        struct $text<'a> {
            m: &'a $content,
            brand: &'a Brand,
        }

        #[derive(Template)]
        #[template(path = $html_path)]
        struct $html<'a> {
            m: &'a $content,
            brand: &'a Brand,
        }

        impl EmailContent for $content {
            fn subject(&self, $b: &Brand) -> String {
                let $m = self;
                $subject
            }

            fn render(&self, brand: &Brand) -> Result<(String, String), askama::Error> {
                Ok(($text { m: self, brand }.render()?, $html { m: self, brand }.render()?))
            }
        }
    };
}

/// To a new user, once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Welcome {
    pub email: String,
    pub free_credits: i64,
}
email!(Welcome, WelcomeText = "email/welcome.txt", WelcomeHtml = "email/welcome.html", |_m, b| format!(
    "Welcome to {}",
    b.product
));

/// To the buyer, when a purchase's credits were granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurchaseReceipt {
    pub email: String,
    pub pack_id: String,
    pub credits: i64,
    /// Formatted, e.g. `USD 9.00`.
    pub price: String,
    pub balance: i64,
    pub session_id: String,
}
email!(
    PurchaseReceipt,
    ReceiptText = "email/purchase_receipt.txt",
    ReceiptHtml = "email/purchase_receipt.html",
    |m, b| format!("Your {} receipt: {} credits added", b.product, m.credits)
);

/// To a user whose balance fell below their reminder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LowBalance {
    pub balance: i64,
    pub threshold: i64,
}
email!(LowBalance, LowBalanceText = "email/low_balance.txt", LowBalanceHtml = "email/low_balance.html", |_m, b| {
    format!("Your {} credits are running low", b.product)
});

/// To the buyer, when a delayed payment failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentFailed {
    pub session_id: String,
}
email!(
    PaymentFailed,
    PaymentFailedText = "email/payment_failed.txt",
    PaymentFailedHtml = "email/payment_failed.html",
    |_m, b| format!("Your {} credit purchase did not go through", b.product)
);

/// To a job's owner, when it failed for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFailed {
    pub job_id: String,
    pub workflow: String,
    pub error: String,
}
email!(JobFailed, JobFailedText = "email/job_failed.txt", JobFailedHtml = "email/job_failed.html", |m, b| format!(
    "A {} job failed: {}",
    b.product,
    crate::mail::one_line(&m.workflow, 80)
));

/// A support message, forwarded to `RECEIVING_EMAIL` (reply goes to the sender).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportForward {
    pub id: String,
    pub email: String,
    pub subject: Option<String>,
    pub message: String,
    pub url: Option<String>,
    pub received_at: String,
}
email!(
    SupportForward,
    SupportText = "email/support_forward.txt",
    SupportHtml = "email/support_forward.html",
    |m, b| match &m.subject {
        Some(subject) => format!("[{} support] {}", b.product, crate::mail::one_line(subject, 150)),
        None => format!("[{} support] message from {}", b.product, m.email),
    }
);

/// An error or fatal report, to `RECEIVING_EMAIL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorAlert {
    pub id: String,
    pub level: String,
    pub message: String,
    pub url: Option<String>,
    pub user_agent: Option<String>,
    pub release: Option<String>,
    /// At most [`ErrorAlert::MAX_STACK_CHARS`]; the record keeps all of it.
    pub stack: Option<String>,
    pub received_at: String,
}

impl ErrorAlert {
    pub const MAX_STACK_CHARS: usize = 8000;
}

email!(ErrorAlert, ErrorAlertText = "email/error_alert.txt", ErrorAlertHtml = "email/error_alert.html", |m, b| {
    format!("[{} {}] {}", b.product, m.level, crate::mail::one_line(&m.message, 120))
});

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn brand() -> Brand {
        Brand::new("https://levqor.example/")
    }

    #[test]
    fn user_text_is_escaped_in_html_and_kept_in_text() {
        let forward = SupportForward {
            id: "sup_1".into(),
            email: "ada@example.com".into(),
            subject: Some("<b>help</b>".into()),
            message: "<script>alert(1)</script>\nline two & more".into(),
            url: Some("https://levqor.example/p?a=1&b=\"2\"".into()),
            received_at: "2030-01-01T00:00:00Z".into(),
        };
        let (text, html) = forward.render(&brand()).unwrap();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"), "{html}");
        assert!(!html.contains("<b>help"), "{html}");
        assert!(html.contains("&#60;b&#62;help&#60;/b&#62;"), "{html}");
        assert!(html.contains("line two &#38; more"), "{html}");
        assert!(html.contains("a=1&#38;b=&#34;2&#34;"), "quotes too: {html}");
        assert!(text.contains("<script>alert(1)</script>\nline two & more"), "{text}");
        assert!(text.contains("Subject:   <b>help</b>"), "{text}");
        assert_eq!(forward.subject(&brand()), "[Levqor support] <b>help</b>");
        assert!(html.contains("href=\"https://levqor.example\""), "the brand links home: {html}");
    }

    #[test]
    fn every_email_renders_both_parts() {
        let b = brand();
        let contents: Vec<Box<dyn EmailContent>> = vec![
            Box::new(Welcome { email: "ada@example.com".into(), free_credits: 50 }),
            Box::new(PurchaseReceipt {
                email: "ada@example.com".into(),
                pack_id: "pack_100".into(),
                credits: 100,
                price: "USD 9.00".into(),
                balance: 150,
                session_id: "cs_1".into(),
            }),
            Box::new(LowBalance { balance: 3, threshold: 10 }),
            Box::new(PaymentFailed { session_id: "cs_2".into() }),
            Box::new(JobFailed { job_id: "j1".into(), workflow: "echo".into(), error: "boom <x>".into() }),
            Box::new(ErrorAlert {
                id: "e1".into(),
                level: "fatal".into(),
                message: "TypeError: x is undefined".into(),
                url: None,
                user_agent: Some("Firefox".into()),
                release: None,
                stack: Some("at f (app.js:1:2)".into()),
                received_at: "2030-01-01T00:00:00Z".into(),
            }),
        ];
        for content in contents {
            let (text, html) = content.render(&b).unwrap();
            let subject = content.subject(&b);
            assert!(subject.contains("Levqor"), "{subject}");
            assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
            assert!(html.contains("https://levqor.example"), "{html}");
            assert!(!text.contains('<') || text.contains("boom <x>"), "text stays plain: {text}");
            assert!(text.trim().len() > 20, "{text}");
        }
        let (text, _) = Welcome { email: "a@example.com".into(), free_credits: 0 }.render(&b).unwrap();
        assert!(!text.contains("free credits"), "{text}");
    }
}
