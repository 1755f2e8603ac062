//! The rule-based planner: no model, no network. It reads the trigger
//! ("when someone fills out the contact form", "every Friday at 5pm", "when I
//! receive an email", "webhook"), splits the rest into clauses, and turns each
//! clause into steps in the order written: a condition ("only if the amount is
//! over 100") becomes a `builtin.filter` before the clause's action, a
//! summary an `ai.summarize`, then the service the clause names (Slack, Notion,
//! Gmail, Telegram, a log line). Channels (`#general`), email addresses,
//! Telegram chat ids and Notion database ids are taken from the text; a value
//! it cannot find is read from the run input or given a default, with a warning.

use std::sync::LazyLock;

use futures_util::future::{BoxFuture, FutureExt};
use regex::Regex;
use serde_json::{Map, Value, json};

use super::{Plan, PlanError, Planner, PlannerKind, check_description};
use crate::catalogue::Catalogue;
use crate::document::{Trigger, step_id};
use crate::validate::{Limits, validate_document};

#[allow(clippy::expect_used)] // constant patterns, compiled by every test
fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("a valid constant pattern")
}

macro_rules! regex {
    ($name:ident, $pattern:expr) => {
        static $name: LazyLock<Regex> = LazyLock::new(|| re($pattern));
    };
}

const WHEN: &str = r"(?:when(?:ever)?|each time|every time|once|as soon as|after|if)";
const DAYS: [&str; 7] = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"];

regex!(QUOTED, r#""([^"]+)"|“([^”]+)”"#);
regex!(QUOTE_TOKEN, r"qqq(\d+)qqq");
regex!(
    EMAIL_TRIGGER_1,
    &format!(
        r"\b{WHEN}\s+(?:i|we|you)\s+(?:receive|get)\s+(?:an?\s+|new\s+|any\s+)*(?:e-?mails?|gmail messages?|mails?|messages? in gmail)\b(?:\s+from\s+([a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{{2,}}))?"
    )
);
regex!(
    EMAIL_TRIGGER_2,
    &format!(
        r"\b{WHEN}\s+(?:an?\s+|new\s+|any\s+)*e-?mails?\s+(?:arrives|comes in|is received|lands|hits my inbox)\b(?:\s+from\s+([a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{{2,}}))?"
    )
);
regex!(
    EMAIL_TRIGGER_3,
    r"\b(?:(?:for|on)\s+(?:each|every)\s+(?:new\s+|incoming\s+)?e-?mail|(?:for|on)\s+incoming\s+e-?mails?|incoming\s+e-?mails?)\b(?:\s+from\s+([a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}))?"
);
regex!(
    FORM_TRIGGER,
    &format!(
        r"\b{WHEN}\s+[^,;.]*?\b(?:forms?|survey|signs? up|signups?|sign-ups?|submits?|submission|registers)\b(?:\s+(?:on|at|in|from)\s+(?:my|our|the)\s+(?:website|site|web site|page|landing page|app))?"
    )
);
regex!(
    WEBHOOK_TRIGGER,
    &format!(
        r"\b(?:{WHEN}\s+(?:a|the|my)?\s*webhook\s+(?:is\s+)?(?:called|fires|is hit|hits|arrives|is received|comes in|triggers|is triggered)|(?:via|on|from|through)\s+(?:a\s+|every\s+)?webhook(?:\s+(?:call|request)s?)?)\b"
    )
);
regex!(WEBHOOK_WORD, r"\bwebhooks?\b");
regex!(
    NEW_THING_TRIGGER,
    &format!(
        r"\b{WHEN}\s+(?:a|an)\s+new\s+[a-z]+(?:\s+[a-z]+)?\s+(?:arrives|comes in|is created|is added|is placed|is posted|happens|is submitted)\b"
    )
);
regex!(
    SCHEDULE,
    r"\b(?:(?:every|each)\s+(?:(\d{1,2})\s+)?(minutes?|hours?|days?|mornings?|evenings?|nights?|weekdays?|weeks?|months?|sundays?|mondays?|tuesdays?|wednesdays?|thursdays?|fridays?|saturdays?)|(hourly|daily|nightly|weekly|monthly)|on\s+(sundays|mondays|tuesdays|wednesdays|thursdays|fridays|saturdays))\b"
);
regex!(TIME, r"\b(?:at|@)\s*(?:(\d{1,2})(?::(\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)?|(noon|midnight))(?:\s+utc)?\b");
regex!(BARE_TIME, r"\b(\d{1,2})(?::(\d{2}))?\s*(am|pm)\b");
regex!(
    SPLIT,
    r"\s*(?:[,;]|\.(?:\s+|$)|\s+and then\s+|\s+then\s+|\s+and\s+|\s+after that\s+|\s+afterwards\s+|\s+also\s+)\s*"
);
regex!(
    CONDITION,
    r"\b(?:only\s+(?:if|when)|if|unless|but only\s+(?:if|when))\s+(?:the\s+|its\s+|their\s+)?([a-z_][a-z0-9_ ]*?)\s+(is greater than|is more than|is over|is above|is at least|greater than|more than|over|above|>|is less than|is under|is below|less than|under|below|<|contains|includes|mentions|has|is not|isn't|!=|equals|is equal to|==|=|is)\s+(.+?)\s*$"
);
regex!(LEADING_NUMBER, r"^[$€£]?-?\d[\d,]*(?:\.\d+)?");
regex!(FILTER_WORD, r"\b(?:only\s+(?:if|when)|unless)\b");
regex!(TELEGRAM, r"\btelegram\b");
regex!(NOTION, r"\bnotion\b");
regex!(MAIL, r"\b(?:e-?mails?|gmail|mail)\b");
regex!(SLACK, r"\bslack\b");
regex!(CHANNEL, r"(?:^|[\s(])#([A-Za-z0-9][A-Za-z0-9_-]{0,79})");
regex!(SLACK_ID, r"\b([CG][A-Z0-9]{8,12})\b");
regex!(
    NAMED_CHANNEL,
    r"\b(?:the\s+)?([a-z0-9][a-z0-9_-]{1,79})\s+channel\b|\bchannel\s+(?:called\s+|named\s+)?([a-z0-9][a-z0-9_-]{1,79})\b"
);
regex!(SUMMARY, r"\b(?:summari[sz]e[sd]?|summary|summaries|tl;?dr|digest|recap)\b");
regex!(MAX_WORDS, r"\b(?:in|under|at most|max(?:imum)?)\s+(\d{1,3})\s+words\b");
regex!(
    NOTION_THING,
    r"\b(?:page|pages|task|tasks|to-?dos?|ticket|tickets|database|row|entry|entries|card|cards|record|records|item|items|note|notes|lead|leads)\b"
);
regex!(CREATE_VERB, r"\b(?:create|add|make|save|store|log|record|put|insert|track|open|file)\b");
regex!(QUERY_VERB, r"\b(?:query|find|look up|lookup|fetch|read|list|get|pull)\b");
regex!(SEARCH_VERB, r"\bsearch\b");
regex!(
    NOTIFY_VERB,
    r"\b(?:notify|notification|alert|ping|message|post|tell|send|remind|announce|let\s+\w+\s+know|dm|share)\b"
);
regex!(
    SEND_MAIL,
    r"\b(?:send|forward|reply|notify|e-?mail\s+(?:me|us|him|her|them|the|a|an|to|it)|mail\s+(?:me|it|to)|alert|tell|let)\b"
);
regex!(LIST_MAIL, r"\b(?:list|check|fetch|read|search|find)\b");
regex!(LOG, r"\b(?:log|logs|logged|record it|keep a record)\b");
regex!(EMAIL_ADDR, r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}");
regex!(DB_ID, r"\b([0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\b");
regex!(DB_NAMED, r"\b(?:database|db)\s+(?:id\s+)?([A-Za-z0-9_-]{6,100})\b");
regex!(
    CHAT_ID,
    r"(?:^|[^A-Za-z0-9._%+-])(-100\d{6,}|(?:chat|group|chat_id|chat id)\s*[:#=]?\s*(-?\d{4,})|@([A-Za-z][A-Za-z0-9_]{4,31}))\b"
);
regex!(
    SAYING,
    r"\b(?:saying|that says|which says|with the (?:text|message)|with (?:a )?message|with text|message:|text:)\s+(.+)$"
);
regex!(TITLED, r"\b(?:called|titled|named|with (?:the )?title)\s+(.+)$");
regex!(SUBJECT, r"\b(?:with (?:the )?subject|subject)\s*:?\s+(.+)$");

/// Plans from words alone.
#[derive(Debug, Clone)]
pub struct RulePlanner {
    catalogue: Catalogue,
    limits: Limits,
}

impl RulePlanner {
    pub fn new(catalogue: Catalogue, limits: Limits) -> Self {
        Self { catalogue, limits }
    }

    /// [`Planner::plan`] without the future.
    pub fn plan_text(&self, description: &str) -> Result<Plan, PlanError> {
        let description = check_description(description)?;
        let mut draft = Draft::new(description);
        draft.read();
        if draft.steps.is_empty() {
            return Err(PlanError::NotUnderstood {
                hint:
                    "name a service and what to do, e.g. \"when someone fills out the contact form, create a task in \
                       Notion and notify me on Slack\", or \"every Friday at 5pm post a reminder to #team on Slack\""
                        .into(),
            });
        }
        if draft.steps.len() > self.limits.max_steps {
            draft.warnings.push(format!(
                "the description asks for {} steps; only the first {} are kept",
                draft.steps.len(),
                self.limits.max_steps
            ));
            draft.steps.truncate(self.limits.max_steps);
        }
        let mut doc = json!({
            "description": description,
            "trigger": draft.trigger.as_str(),
            "steps": draft.steps.iter().map(|s| json!({"connector": s.connector, "action": s.action, "params": s.params})).collect::<Vec<_>>(),
        });
        if let (Some(cron), Some(obj)) = (&draft.cron, doc.as_object_mut()) {
            obj.insert("schedule".into(), Value::String(cron.clone()));
        }
        let pipeline = validate_document(&doc, &self.catalogue, &self.limits).map_err(PlanError::Invalid)?;
        Ok(Plan { pipeline, planner: PlannerKind::Rules, warnings: draft.warnings })
    }
}

impl Planner for RulePlanner {
    fn plan<'a>(&'a self, description: &'a str) -> BoxFuture<'a, Result<Plan, PlanError>> {
        futures_util::future::ready(self.plan_text(description)).boxed()
    }
}

struct DraftStep {
    connector: &'static str,
    action: &'static str,
    params: Map<String, Value>,
}

struct Draft {
    description: String,
    /// The description with quoted text replaced by `qqqNqqq` tokens and the
    /// trigger phrase cut out; `lower` is its ASCII-lowercase twin (same offsets).
    text: String,
    lower: String,
    quotes: Vec<String>,
    trigger: Trigger,
    cron: Option<String>,
    /// `from` address of an email trigger.
    from_filter: Option<String>,
    steps: Vec<DraftStep>,
    warnings: Vec<String>,
}

fn cap_str<'t>(caps: &regex::Captures<'t>, i: usize) -> Option<&'t str> {
    caps.get(i).map(|m| m.as_str())
}

impl Draft {
    fn new(description: &str) -> Self {
        let mut quotes = Vec::new();
        let text = QUOTED
            .replace_all(description, |c: &regex::Captures<'_>| {
                quotes.push(cap_str(c, 1).or_else(|| cap_str(c, 2)).unwrap_or_default().to_owned());
                format!("qqq{}qqq", quotes.len() - 1)
            })
            .into_owned();
        let lower = text.to_ascii_lowercase();
        Self {
            description: description.to_owned(),
            text,
            lower,
            quotes,
            trigger: Trigger::Manual,
            cron: None,
            from_filter: None,
            steps: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Cuts `range` out of the text (both spellings), leaving a clause break.
    fn cut(&mut self, range: std::ops::Range<usize>) {
        self.text.replace_range(range.clone(), ",");
        self.lower.replace_range(range, ",");
    }

    fn unquote(&self, s: &str) -> String {
        QUOTE_TOKEN
            .replace_all(s, |c: &regex::Captures<'_>| {
                cap_str(c, 1)
                    .and_then(|n| n.parse::<usize>().ok())
                    .and_then(|n| self.quotes.get(n))
                    .cloned()
                    .unwrap_or_default()
            })
            .trim()
            .to_owned()
    }

    fn read(&mut self) {
        self.read_trigger();
        let text = self.text.clone();
        let lower = self.lower.clone();
        let mut start = 0;
        let mut clauses = Vec::new();
        for m in SPLIT.find_iter(&lower) {
            clauses.push((text[start..m.start()].to_owned(), lower[start..m.start()].to_owned()));
            start = m.end();
        }
        clauses.push((text[start..].to_owned(), lower[start..].to_owned()));
        if let Some(from) = self.from_filter.clone() {
            self.push(
                "builtin",
                "filter",
                json!({"input": "{{input}}", "field": "from", "op": "contains", "value": from}),
            );
        }
        for (orig, low) in clauses {
            if !low.trim().is_empty() {
                self.read_clause(orig.trim(), low.trim());
            }
        }
    }

    fn read_trigger(&mut self) {
        for pattern in [&*EMAIL_TRIGGER_1, &*EMAIL_TRIGGER_2, &*EMAIL_TRIGGER_3] {
            if let Some(caps) = pattern.captures(&self.lower)
                && let Some(whole) = caps.get(0)
            {
                self.trigger = Trigger::EmailReceived;
                if let Some(from) = caps.get(1) {
                    // The original spelling of the address.
                    self.from_filter = Some(self.text[from.range()].to_owned());
                }
                self.cut(whole.range());
                return;
            }
        }
        for pattern in [&*FORM_TRIGGER, &*WEBHOOK_TRIGGER, &*NEW_THING_TRIGGER] {
            if let Some(m) = pattern.find(&self.lower) {
                self.trigger = Trigger::Webhook;
                self.cut(m.range());
                return;
            }
        }
        if let Some(m) = WEBHOOK_WORD.find(&self.lower) {
            self.trigger = Trigger::Webhook;
            self.cut(m.range());
            return;
        }
        let Some(caps) = SCHEDULE.captures(&self.lower) else { return };
        let Some(whole) = caps.get(0) else { return };
        let every: Option<u32> = cap_str(&caps, 1).and_then(|n| n.parse().ok()).filter(|n| *n > 0);
        let unit =
            cap_str(&caps, 2).or_else(|| cap_str(&caps, 3)).or_else(|| cap_str(&caps, 4)).unwrap_or("day").to_owned();
        let mut span = whole.range();
        // The time of day: right after the phrase, or anywhere else in the text.
        let after = &self.lower[span.end..];
        let time = match TIME.captures(after) {
            Some(t) if t.get(0).is_some_and(|m| after[..m.start()].trim().is_empty()) => {
                let end = span.end + t.get(0).map_or(0, |m| m.end());
                let parsed = parse_time(&t);
                span.end = end;
                parsed
            }
            _ => None,
        };
        self.cut(span);
        let time = time.or_else(|| {
            let caps = TIME.captures(&self.lower).or_else(|| BARE_TIME.captures(&self.lower))?;
            let range = caps.get(0)?.range();
            let parsed = parse_time(&caps);
            self.cut(range);
            parsed
        });
        let unit = unit.trim_end_matches('s');
        let default_hour = match unit {
            "evening" => 18,
            "night" | "nightly" => 21,
            _ => 9,
        };
        let (h, m) = time.unwrap_or((default_hour, 0));
        let cron = match unit {
            "minute" => every.filter(|n| *n < 60).map_or_else(|| "* * * * *".to_owned(), |n| format!("*/{n} * * * *")),
            "hour" | "hourly" => {
                every.filter(|n| *n < 24).map_or_else(|| "0 * * * *".to_owned(), |n| format!("0 */{n} * * *"))
            }
            "weekday" => format!("{m} {h} * * 1-5"),
            "week" | "weekly" => format!("{m} {h} * * 1"),
            "month" | "monthly" => format!("{m} {h} 1 * *"),
            "day" | "daily" => every
                .filter(|n| *n > 1 && *n < 32)
                .map_or_else(|| format!("{m} {h} * * *"), |n| format!("{m} {h} */{n} * *")),
            day => match DAYS.iter().position(|d| *d == day) {
                Some(dow) => format!("{m} {h} * * {dow}"),
                None => format!("{m} {h} * * *"), // morning, evening, night
            },
        };
        self.trigger = Trigger::Schedule;
        self.cron = Some(cron);
    }

    fn previous(&self) -> Option<&DraftStep> {
        self.steps.iter().rev().find(|s| !(s.connector == "builtin" && s.action == "filter"))
    }

    /// `{{steps.sN.output…}}` of the last step that produced something worth passing on.
    fn previous_output(&self) -> Option<(String, &'static str)> {
        self.steps.iter().enumerate().rev().find_map(|(index, step)| {
            let (field, kind) = match (step.connector, step.action) {
                ("ai", "summarize") => ("summary", "summary"),
                ("ai", "classify") => ("label", "label"),
                ("notion", "create_page") => ("url", "page"),
                ("notion", "query_database") | ("notion", "search") => ("results", "results"),
                ("gmail", "list_messages") => ("messages", "results"),
                _ => return None,
            };
            Some((format!("{{{{steps.{}.output.{field}}}}}", step_id(index)), kind))
        })
    }

    /// What a message says when the description does not say it.
    fn default_message(&self) -> String {
        match self.previous_output() {
            Some((r, "summary")) => return r,
            Some((r, "label")) => return format!("Label: {r}"),
            Some((r, "page")) => return format!("New Notion page: {r}"),
            Some((r, _)) => return format!("Results: {r}"),
            None => {}
        }
        match self.trigger {
            Trigger::Webhook if self.description.to_ascii_lowercase().contains("contact") => {
                "New contact form submission: {{input}}".into()
            }
            Trigger::Webhook => "New submission: {{input}}".into(),
            Trigger::EmailReceived => "New email: {{input}}".into(),
            Trigger::Schedule | Trigger::Manual => self.description.clone(),
        }
    }

    fn default_title(&self) -> String {
        let lower = self.description.to_ascii_lowercase();
        match self.trigger {
            Trigger::Webhook if lower.contains("contact") => "New contact form submission".into(),
            Trigger::Webhook if lower.contains("form") => "New form submission".into(),
            Trigger::Webhook => "New submission".into(),
            Trigger::EmailReceived => "New email".into(),
            Trigger::Schedule => "Scheduled entry".into(),
            Trigger::Manual => "New entry".into(),
        }
    }

    fn push(&mut self, connector: &'static str, action: &'static str, params: Value) {
        let params = params.as_object().cloned().unwrap_or_default();
        self.steps.push(DraftStep { connector, action, params });
    }

    /// The message a clause spells out ("saying …", a quoted text), if any.
    fn said(&self, orig: &str, low: &str) -> Option<String> {
        if let Some(caps) = SAYING.captures(low)
            && let Some(m) = caps.get(1)
        {
            let s = self.unquote(&orig[m.range()]);
            if !s.is_empty() {
                return Some(s);
            }
        }
        QUOTE_TOKEN.find(orig).map(|m| self.unquote(m.as_str())).filter(|s| !s.is_empty())
    }

    fn read_clause(&mut self, orig: &str, low: &str) {
        let mut orig = orig.to_owned();
        let mut low = low.to_owned();
        // A condition guards the rest of the clause: a filter step first.
        if let Some(caps) = CONDITION.captures(&low)
            && let (Some(whole), Some(field), Some(op), Some(value)) =
                (caps.get(0), caps.get(1), caps.get(2), caps.get(3))
        {
            let negate = whole.as_str().trim_start().starts_with("unless");
            let field_name = field.as_str().trim().replace(' ', "_");
            let field_name =
                if matches!(field_name.as_str(), "it" | "this" | "that") { String::new() } else { field_name };
            let numeric = matches!(
                op.as_str(),
                "is greater than"
                    | "is more than"
                    | "is over"
                    | "is above"
                    | "is at least"
                    | "greater than"
                    | "more than"
                    | "over"
                    | "above"
                    | ">"
                    | "is less than"
                    | "is under"
                    | "is below"
                    | "less than"
                    | "under"
                    | "below"
                    | "<"
            );
            // A number or a quoted text ends the condition; what follows is the clause's action.
            let rest = &low[value.range()];
            let taken = if numeric {
                LEADING_NUMBER.find(rest).map_or(rest.len(), |m| m.end())
            } else {
                QUOTE_TOKEN.find(rest).filter(|m| m.start() == 0).map_or(rest.len(), |m| m.end())
            };
            let value_range = value.start()..value.start() + taken;
            let raw = self.unquote(&orig[value_range.clone()]);
            let raw = raw.trim_end_matches(['.', '!']).trim();
            let op = match op.as_str() {
                "is greater than" | "is more than" | "is over" | "is above" | "greater than" | "more than" | "over"
                | "above" | ">" | "is at least" => "gt",
                "is less than" | "is under" | "is below" | "less than" | "under" | "below" | "<" => "lt",
                "contains" | "includes" | "mentions" | "has" => "contains",
                "is not" | "isn't" | "!=" => "ne",
                _ => "eq",
            };
            let op = match (negate, op) {
                (false, op) => Some(op),
                (true, "eq") => Some("ne"),
                (true, "ne") => Some("eq"),
                (true, "gt") => Some("lt"),
                (true, "lt") => Some("gt"),
                _ => None,
            };
            match op {
                Some(op) => {
                    let value = number(raw).unwrap_or_else(|| Value::String(raw.to_owned()));
                    self.push(
                        "builtin",
                        "filter",
                        json!({"input": "{{input}}", "field": field_name, "op": op, "value": value}),
                    );
                }
                None => self
                    .warnings
                    .push(format!("could not express the condition \"{}\"; it was left out", whole.as_str().trim())),
            }
            orig.replace_range(whole.start()..value_range.end, "");
            low.replace_range(whole.start()..value_range.end, "");
        } else if FILTER_WORD.is_match(&low) {
            self.warnings
                .push(format!("could not understand the condition in \"{}\"; it was left out", self.unquote(&orig)));
        }
        let (orig, low) = (orig.as_str(), low.as_str());

        let telegram = TELEGRAM.is_match(low);
        let notion = NOTION.is_match(low);
        let mail = (MAIL.is_match(low) && !low.contains("mailchimp")) || EMAIL_ADDR.is_match(orig);
        let slack = SLACK.is_match(low) || CHANNEL.is_match(orig);
        let explicit = telegram || notion || mail || slack;
        let summary = SUMMARY.is_match(low);
        let notify = NOTIFY_VERB.is_match(low);

        if summary && !matches!(self.previous(), Some(s) if s.connector == "ai" && s.action == "summarize") {
            let source = match self.previous_output() {
                Some((r, _)) => format!("Summarize: {r}"),
                None => "Content: {{input}}".to_owned(),
            };
            let mut params = json!({"text": source});
            if let Some(n) = MAX_WORDS.captures(low).and_then(|c| cap_str(&c, 1)).and_then(|n| n.parse::<u64>().ok()) {
                params["max_words"] = json!(n.clamp(5, 500));
            }
            self.push("ai", "summarize", params);
        }

        if telegram {
            self.telegram(orig, low);
        } else if notion {
            self.notion(orig, low);
        } else if mail {
            if SEND_MAIL.is_match(low) || EMAIL_ADDR.is_match(orig) {
                self.gmail_send(orig, low);
            } else if LIST_MAIL.is_match(low) {
                let query = self.said(orig, low).unwrap_or_default();
                self.push("gmail", "list_messages", json!({"query": query, "max_results": 20}));
            } else {
                self.gmail_send(orig, low);
            }
        } else if slack {
            self.slack(orig, low);
        } else if NOTION_THING.is_match(low) && CREATE_VERB.is_match(low) && !LOG.is_match(low) {
            self.notion(orig, low);
        } else if LOG.is_match(low) && !explicit {
            let message = self.said(orig, low).unwrap_or_else(|| self.default_message());
            self.push("builtin", "log", json!({"message": message, "level": "info"}));
        } else if notify {
            self.warnings.push(format!("\"{}\" names no service; Slack was assumed", self.unquote(orig)));
            self.slack(orig, low);
        }
    }

    /// The first match of `pattern` (group `group`, or the whole match) in the
    /// clause, else in the rest of the description.
    fn find(&self, pattern: &Regex, group: usize, orig: &str) -> Option<String> {
        let grab = |s: &str| {
            pattern.captures(s).and_then(|c| c.get(group).or_else(|| c.get(0))).map(|m| m.as_str().to_owned())
        };
        grab(orig).or_else(|| grab(&self.text))
    }

    fn slack(&mut self, orig: &str, low: &str) {
        let channel = self
            .find(&CHANNEL, 1, orig)
            .map(|c| format!("#{c}"))
            .or_else(|| SLACK_ID.captures(orig).and_then(|c| cap_str(&c, 1)).map(str::to_owned))
            .or_else(|| {
                NAMED_CHANNEL.captures(low).and_then(|c| cap_str(&c, 1).or_else(|| cap_str(&c, 2))).and_then(|name| {
                    (!matches!(
                        name,
                        "slack" | "a" | "the" | "my" | "our" | "that" | "this" | "same" | "right" | "team"
                    ))
                    .then(|| format!("#{name}"))
                })
            })
            .unwrap_or_else(|| {
                self.warnings.push("no Slack channel named; #general was used".into());
                "#general".into()
            });
        let text = self.said(orig, low).unwrap_or_else(|| self.default_message());
        self.push("slack", "post_message", json!({"channel": channel, "text": text}));
    }

    fn telegram(&mut self, orig: &str, low: &str) {
        let chat = CHAT_ID.captures(orig).or_else(|| CHAT_ID.captures(&self.text)).and_then(|c| {
            cap_str(&c, 2)
                .map(|id| id.to_owned())
                .or_else(|| cap_str(&c, 3).map(|name| format!("@{name}")))
                .or_else(|| cap_str(&c, 1).map(str::to_owned))
        });
        let chat_id = match chat {
            Some(id) => id.parse::<i64>().map(Value::from).unwrap_or(Value::String(id)),
            None => {
                self.warnings
                    .push("no Telegram chat id found; the step reads it from the run input (input.chat_id)".into());
                Value::String("{{input.chat_id}}".into())
            }
        };
        let text = self.said(orig, low).unwrap_or_else(|| self.default_message());
        self.push("telegram", "send_message", json!({"chat_id": chat_id, "text": text}));
    }

    fn database_id(&mut self, orig: &str) -> String {
        self.find(&DB_ID, 1, orig)
            .or_else(|| {
                DB_NAMED
                    .captures(orig)
                    .and_then(|c| cap_str(&c, 1))
                    .filter(|s| s.chars().any(|c| c.is_ascii_digit()))
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| {
                self.warnings.push(
                    "no Notion database id found; the step reads it from the run input (input.database_id)".into(),
                );
                "{{input.database_id}}".into()
            })
    }

    fn notion(&mut self, orig: &str, low: &str) {
        if SEARCH_VERB.is_match(low) && !low.contains("database") {
            let query = self.said(orig, low).unwrap_or_default();
            self.push("notion", "search", json!({"query": query}));
            return;
        }
        if QUERY_VERB.is_match(low) && !CREATE_VERB.is_match(low) {
            let database_id = self.database_id(orig);
            self.push("notion", "query_database", json!({"database_id": database_id}));
            return;
        }
        let database_id = self.database_id(orig);
        let title = TITLED
            .captures(low)
            .and_then(|c| c.get(1))
            .map(|m| self.unquote(&orig[m.range()]))
            .or_else(|| QUOTE_TOKEN.find(orig).map(|m| self.unquote(m.as_str())))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| self.default_title());
        let content = match self.previous_output() {
            Some((r, _)) => r,
            None if matches!(self.trigger, Trigger::Webhook | Trigger::EmailReceived) => "{{input}}".into(),
            None => self.description.clone(),
        };
        // `{{input}}` alone would be an object; inside text it reads as JSON.
        let content = if content == "{{input}}" { "Details: {{input}}".to_owned() } else { content };
        self.push("notion", "create_page", json!({"database_id": database_id, "title": title, "content": content}));
    }

    fn gmail_send(&mut self, orig: &str, low: &str) {
        let from = self.from_filter.clone();
        let to = EMAIL_ADDR
            .find_iter(orig)
            .map(|m| m.as_str().to_owned())
            .chain(EMAIL_ADDR.find_iter(&self.text).map(|m| m.as_str().to_owned()))
            .find(|a| Some(a) != from.as_ref());
        let to = to.unwrap_or_else(|| {
            self.warnings
                .push("no email address found; the step sends to the run input's address (input.email)".into());
            "{{input.email}}".into()
        });
        let subject = SUBJECT
            .captures(low)
            .and_then(|c| c.get(1))
            .map(|m| self.unquote(&orig[m.range()]))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| self.default_title());
        let body = match SUBJECT.captures(low) {
            Some(_) => self.default_message(),
            None => self.said(orig, low).unwrap_or_else(|| self.default_message()),
        };
        self.push("gmail", "send_email", json!({"to": to, "subject": subject, "body": body}));
    }
}

fn parse_time(caps: &regex::Captures<'_>) -> Option<(u32, u32)> {
    if let Some(word) = cap_str(caps, 4) {
        return Some(if word == "noon" { (12, 0) } else { (0, 0) });
    }
    let mut hour: u32 = cap_str(caps, 1)?.parse().ok()?;
    let minute: u32 = cap_str(caps, 2).map_or(Some(0), |m| m.parse().ok())?;
    match cap_str(caps, 3).map(|s| s.replace('.', "")) {
        Some(ref pm) if pm == "pm" && hour < 12 => hour += 12,
        Some(ref am) if am == "am" && hour == 12 => hour = 0,
        _ => {}
    }
    (hour < 24 && minute < 60).then_some((hour, minute))
}

fn number(s: &str) -> Option<Value> {
    let cleaned = s.trim().trim_start_matches(['$', '€', '£']).replace(',', "");
    if let Ok(i) = cleaned.parse::<i64>() {
        return Some(Value::from(i));
    }
    cleaned.parse::<f64>().ok().filter(|f| f.is_finite()).map(Value::from)
}
