//! Event triggers: the ways people say "when an email arrives"
//! (`email.received`) and "when something is sent to us" (`webhook`). Each
//! family is a pattern over lower-case text with quotes and URLs already
//! replaced by tokens; [`find`] returns the first cue and where it is.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

use super::re;
use crate::document::Trigger;

const MAIL: &str = r"(?:e-?mails?|mails?|gmail messages?)";

static EMAIL_FAMILIES: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    vec![
        // "incoming email", "new mail", "unread emails"
        re(&format!(r"\b(?:incoming|inbound|new|unread|arriving|received)\s+{MAIL}\b")),
        // "an email … lands / arrives / comes in"
        re(&format!(
            r"\b{MAIL}\b(?:[^,;.]|\.\S){{0,60}}?\b(?:arrives?|lands?|comes? in|hits? (?:my|our|the) inbox|is received|gets? received|shows? up|reaches (?:me|us|my|our))\b"
        )),
        // "a message arrives in my Gmail / inbox"
        re(
            r"\bmessages?\b(?:[^,;.]|\.\S){0,40}?\b(?:arrives?|lands?|comes? in|shows? up|is received)\s+(?:in|into|at)\s+(?:my|our|the)\s+(?:gmail|inbox|mailbox)\b",
        ),
        // "emails I receive", "I get an email"
        re(&format!(r"\b{MAIL}\s+(?:that\s+)?(?:i|we)\s+(?:receive|get)\b")),
        re(&format!(r"\b(?:i|we)\s+(?:receive|get)\s+(?:an?\s+|new\s+|any\s+)*{MAIL}\b")),
        // "someone emails support@", "a customer sends us an email"
        re(
            r"\b(?:someone|somebody|anyone|a customer|customers|a client|clients|people|a user|users)\s+(?:e-?mails|sends?\s+(?:me|us)\s+an?\s+e-?mail|writes to)\b",
        ),
        // "each email", "every incoming email"
        re(r"\b(?:each|every|any)\s+(?:new\s+|incoming\s+)?e-?mails?\b(?:\s+(?:in|to)\s+(?:my|our|the)\s+inbox)?"),
        // "in my inbox" next to a new-thing word
        re(r"\b(?:new|incoming)\b(?:[^,;.]|\.\S){0,30}?\b(?:in|to|into)\s+(?:my|our|the)\s+(?:inbox|mailbox)\b"),
    ]
});

static WEBHOOK_FAMILIES: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    vec![
        re(r"\bweb-?hooks?\b"),
        // "this hook", "this endpoint", "this URL"
        re(r"\b(?:this|that|my|our)\s+(?:[a-z]+\s+)?(?:hook|endpoint|url|address|api)\b"),
        // forms
        re(r"\b(?:fills?|filled|filling)\s+(?:out|in)\s+(?:[a-z-]+\s+){0,4}?(?:forms?|surveys?|questionnaires?)\b"),
        re(r"\b(?:submits?|completes?)\s+(?:[a-z-]+\s+){0,4}?(?:forms?|surveys?|questionnaires?)\b"),
        re(
            r"\b(?:[a-z]+-)?(?:forms?|surveys?|questionnaires?)\s+(?:is\s+)?(?:posts?|submitted|filled|comes? in|arrives?|messages?|submissions?|entr(?:y|ies)|responses?|data)\b",
        ),
        re(r"\b(?:submissions?|sign-?ups?|signs? up|registers|registrations?)\b"),
        // "a new order comes in", "a booking is created"
        re(
            r"\b(?:an?|each|every|any)\s+(?:new\s+)?(?:[a-z0-9$€£.,-]+\s+){0,4}?(?:comes? in|arrives?|is created|is placed|is submitted|is added|gets? (?:created|added|placed)|is booked|happens|fires|is triggered)\b",
        ),
        // "incoming support ticket", "incoming leads"
        re(r"\bincoming\s+[a-z]+"),
        // "someone buys", "a user upgrades"
        re(
            r"\b(?:someone|somebody|anyone|a user|a customer|a visitor|a member|a new [a-z]+|users|customers)\s+(?:who\s+)?(?:signs? up|registers|joins|subscribes|upgrades|buys|purchases|orders|books|pays|fills (?:out|in)|submits|cancels|unsubscribes)\b",
        ),
        // "my app calls", "our billing system posts"
        re(
            r"\b(?:my|our|the)\s+(?:[a-z]+\s+)?(?:app|application|system|service|server|backend|site|website|store|shop|crm)\s+(?:calls|sends|posts|pings|hits|notifies)\b",
        ),
    ]
});

/// The first event cue in `lower`: email families first (they are the more
/// specific), then webhook families.
pub fn find(lower: &str) -> Option<(Trigger, Range<usize>)> {
    let first =
        |families: &[Regex]| families.iter().filter_map(|r| r.find(lower)).map(|m| m.range()).min_by_key(|r| r.start);
    if let Some(range) = first(&EMAIL_FAMILIES) {
        return Some((Trigger::EmailReceived, range));
    }
    first(&WEBHOOK_FAMILIES).map(|range| (Trigger::Webhook, range))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn trigger(text: &str) -> Option<Trigger> {
        find(&text.to_ascii_lowercase()).map(|(t, _)| t)
    }

    #[test]
    fn email_families() {
        for text in [
            "when a new email comes in, save it",
            "every time mail arrives from the landlord",
            "whenever an email about refunds lands in the shared inbox",
            "when a message shows up in my inbox",
            "for every email we get from partners",
            "if I receive an email from my accountant",
            "when a customer sends us an email",
            "summarize each email and post it",
            "on unread mail, ping me",
        ] {
            assert_eq!(trigger(text), Some(Trigger::EmailReceived), "{text}");
        }
    }

    #[test]
    fn webhook_families() {
        for text in [
            "when our shop calls this endpoint",
            "whenever someone completes the onboarding form",
            "each time a sign-up happens",
            "when a new invoice is created",
            "route incoming requests to the team",
            "whenever the backend pings this url",
            "when a visitor subscribes",
            "on every github webhook",
            "copy each survey response",
        ] {
            assert_eq!(trigger(text), Some(Trigger::Webhook), "{text}");
        }
    }

    #[test]
    fn plain_actions_are_not_events() {
        for text in [
            "send an email to ada@example.com",
            "post the report to slack",
            "list my gmail messages",
            "check for new telegram messages",
        ] {
            assert_eq!(trigger(text), None, "{text}");
        }
    }
}
