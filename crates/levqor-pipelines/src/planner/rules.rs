//! The rule-based planner: no model, no network. It reads a description as
//! phrase families rather than sentences:
//!
//! 1. JSON bodies, URLs and quoted texts are set aside as tokens, so their
//!    words cannot be mistaken for instructions.
//! 2. The trigger: an event cue ([`super::trigger`]: "when an email lands",
//!    "this hook", "each time a submission comes in") led by a when-word
//!    ("when", "whenever", "each time", "if", "on", "for each") takes its
//!    whole clause, and the conditions in it ("from ada@x.io", "with 'invoice'
//!    in the subject", "over 500 dollars") become filters; otherwise a time
//!    expression ([`super::schedule`]) makes a `schedule`; otherwise an event
//!    cue inside an action ("every webhook I get") still makes the trigger.
//! 3. The rest is split into clauses ("and", "then", commas), each read as
//!    sources (an HTTP GET, Gmail/Notion/Telegram/Slack reads), an AI step
//!    (summarize, classify), a condition ("if it is above 1000", "only
//!    urgent ones", "to those from Germany") as a `builtin.filter`, and sinks
//!    (Slack, Telegram, Notion, email, an HTTP POST, a log line) in the order
//!    written. Each step's text defaults to the previous step's output.
//!
//! Recipients (`#channel`, chat ids, addresses, database ids) come from the
//! text; a value it cannot find is read from the run input, with a warning.
//! Nothing is added that the description does not name.

use std::ops::Range;
use std::sync::LazyLock;

use futures_util::future::{BoxFuture, FutureExt};
use regex::Regex;
use serde_json::{Map, Value, json};

use super::{Plan, PlanError, Planner, PlannerKind, check_description, http, re, schedule, trigger};
use crate::catalogue::Catalogue;
use crate::document::{Trigger, step_id};
use crate::validate::{Limits, validate_document};

macro_rules! regex {
    ($name:ident, $pattern:expr) => {
        static $name: LazyLock<Regex> = LazyLock::new(|| re($pattern));
    };
}

regex!(QUOTED, r#""([^"]+)"|“([^”]+)”|‘([^’]+)’|(?:^|[\s(:])'([^']+?)'(?:[\s.,;:!?)]|$)"#);
regex!(TOKEN, r"(qqq|uuu|jjj)(\d+)(?:qqq|uuu|jjj)");
regex!(QUOTE_TOKEN, r"qqq(\d+)qqq");
regex!(URL_TOKEN, r"uuu(\d+)uuu");
regex!(JSON_TOKEN, r"jjj(\d+)jjj");
regex!(
    WHEN_LEAD,
    r"\b(?:when(?:ever)?|each time|every time|any ?time|if|as soon as|once|after|on|upon|for (?:each|every|any|all))\b"
);
regex!(
    SPLIT,
    r"\s*(?:[,;]|\.(?:\s+|$)|:\s+|\s+and then\s+|\s+then\s+|\s+and\s+|\s+after that\s+|\s+afterwards\s+|\s+also\s+)\s*"
);
regex!(CLAUSE_BREAK, r"[,;]|\.(?:\s|$)");
regex!(
    CONDITION_LEAD,
    r"\b(?:but\s+)?(?:only\s+)?(?:if|when|whenever|unless|in case|provided)\b|\bonly\s+(?:for|those|the ones|ones)\b|\bto\s+(?:those|the ones|ones|only those)\b"
);
regex!(
    COMPARISON,
    r"^(?:(?:the|its|their|it|they|this|that|an?)\s+)?([a-z_][a-z0-9_ ]*?)?\s*\b(is greater than|is more than|is over|is above|is at least|is higher than|exceeds|greater than|more than|over|above|>|is less than|is under|is below|is lower than|less than|under|below|<|contains|includes|mentions|has|is about|are about|about|is related to|is not|isn't|!=|equals|is equal to|==|=|is|are|from|with)\s+(.+?)\s*$"
);
regex!(LEADING_NUMBER, r"^[$€£]?-?\d[\d,]*(?:\.\d+)?");
regex!(NUMERIC_OP, r"greater|more|over|above|least|higher|exceeds|less|under|below|lower|^[<>]$");
regex!(UNIT_AFTER, r"^\s*(?:dollars?|euros?|pounds?|usd|eur|gbp|%|percent|items?|units?)\b");
regex!(CURRENCY, r"[$€£]|\b(?:dollars?|euros?|pounds?|usd|eur|gbp)\b");
regex!(TELEGRAM, r"\btelegram\b");
regex!(NOTION, r"\bnotion\b");
regex!(SLACK, r"\bslack\b");
regex!(GMAIL, r"(?:^|[^#\w])(?:gmail|inbox|mailbox)\b|\bmy\s+(?:e-?mails|mail)\b");
regex!(CHANNEL, r"(?:^|[\s(])#([A-Za-z0-9][A-Za-z0-9_-]{0,79})");
regex!(SLACK_ID, r"\b([CG][A-Z0-9]{8,12})\b");
regex!(
    NAMED_CHANNEL,
    r"\b(?:the\s+)?([a-z0-9][a-z0-9_-]{1,79})\s+channel\b|\bchannel\s+(?:called\s+|named\s+)?([a-z0-9][a-z0-9_-]{1,79})\b"
);
regex!(SUMMARY, r"\b(?:summari[sz]e[sd]?|summary|summaries|tl;?dr|digest|recap|highlights|overview)\b");
regex!(CLASSIFY, r"\b(?:classify|classifies|categori[sz]e|triage|sort (?:them|it|each))\b");
regex!(TRANSLATE, r"\btranslat(?:e|es|ed|ion)\b");
regex!(MAX_WORDS, r"\b(?:in|under|at most|max(?:imum)?)\s+(\d{1,3})\s+words\b");
regex!(
    NOTION_THING,
    r"\b(?:page|pages|task|tasks|to-?dos?|ticket|tickets|database|row|entry|entries|card|cards|record|records)\b"
);
regex!(CREATE_VERB, r"\b(?:create|add|make|save|store|put|insert|track|open|file|keep|write|record|append|log)\b");
regex!(
    READ_VERB,
    r"\b(?:query|queries|look up|lookup|look for|find|fetch|read|list|get|pull|check|collect|scan|count|search|go through|grab|load)\b"
);
regex!(SEARCH_VERB, r"\b(?:search|look up|lookup|look for|find|mentioning)\b");
regex!(
    NOTIFY_VERB,
    r"\b(?:notify|alert|ping|message|post|tell|send|remind|announce|let\s+\w+\s+know|dm|share|page|text)\b"
);
regex!(
    MAIL_VERB,
    r"^(?:e-?mail|mail)\b|\bby e-?mail\b|\b(?:send|forward|reply|write|drop|shoot)\s+(?:\S+\s+){0,3}?(?:an?\s+|the\s+)?e-?mails?\b|\b(?:e-?mail|mail)\s+(?:me|us|him|her|them|it|the\s+\w+|what|all|everyone|a copy|[a-z0-9._%+-]+@)"
);
regex!(LOG, r"\b(?:log|logs|logged|record it|keep a record)\b");
regex!(EMAIL_ADDR, r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}");
regex!(DB_ID, r"\b([0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\b");
regex!(DB_NAMED, r"\b(?:database|db)\s+(?:id\s+)?([A-Za-z0-9_-]{6,100})\b");
regex!(
    DB_NAME,
    r"(?:\bqqq(\d+)qqq\s+(?:notion\s+)?(?:database|db|table)\b|\b(?:database|db|table)\s+(?:called\s+|named\s+)?qqq(\d+)qqq|\b(?:my|the|our)\s+(?:notion\s+)?([a-z][a-z0-9_-]+)\s+(?:database|db)\b)"
);
regex!(
    CHAT_ID,
    r"(?:^|[^A-Za-z0-9._%+-])(-100\d{6,}|(?:chat|group|chat_id|chat id)\s*[:#=]?\s*(-?\d{2,})|@([A-Za-z][A-Za-z0-9_]{4,31}))\b"
);
regex!(
    SAYING,
    r"\b(?:saying|that says|which says|with the (?:text|message)|with (?:a )?message|with text|message:|text:)\s+(.+)$"
);
regex!(TITLED, r"\b(?:called|titled|named|with (?:the )?title)\s+(.+)$");
regex!(SUBJECT, r"\b(?:with (?:the )?subject|subject)\s*:?\s+(.+)$");
regex!(BODY, r"\b(?:(?:and )?(?:with )?the body|body)\s*:?\s+(qqq\d+qqq)");
regex!(ONES, r"\b(?:only\s+)?(?:the\s+)?([a-z]+)\s+ones\b");
regex!(LABELS, r"\b(?:as|into)\s+([a-z0-9-]+(?:\s*,\s*[a-z0-9-]+)*\s*,?\s*(?:or|and)\s+[a-z0-9-]+)");
regex!(FORWARD, r"\b(?:forward|reply|respond)\b");
regex!(CAPITALISED_FROM, r"\bfrom\s+([A-Z][a-zA-Z]+(?:\s+[A-Z][a-zA-Z]+)?)");
regex!(FROM_ADDRESS, r"\bfrom\s+([A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})");
regex!(
    SUBJECT_HAS,
    r"\bwith\s+(qqq\d+qqq|[a-z0-9]+)\s+in\s+(?:the|its)\s+subject\b|\bsubject\s+(?:contains|mentions|has|includes)\s+(qqq\d+qqq|[a-z0-9]+)"
);
regex!(
    ABOUT,
    r"\b(?:about|mentioning|mentions|containing|contains|regarding)\s+(?:an?\s+|the\s+)?(qqq\d+qqq|[a-z0-9-]+)"
);
regex!(
    NUMBER_BOUND,
    r"\b(over|above|more than|greater than|at least|exceeding|under|below|less than)\s+([$€£]?\d[\d,]*(?:\.\d+)?)"
);
regex!(
    FAILURE,
    r"\b(?:stops? (?:answering|responding|working)|goes? down|is down|fails?|failures?|errors?|times? out)\b"
);
regex!(SAME, r"\bthe same\b");
regex!(PAYLOAD, r"\b(?:body|payload|fields|data|it|them|submission|request|event)\b");
regex!(UPLOAD, r"\b(?:upload|as a file|file)\b");
regex!(LABEL_WORDS, r"\blabels\b");
regex!(BOT_UPDATES, r"\b(?:updates|messages|replies)\b");
regex!(CHANNEL_LIST, r"\bchannel list\b|\bchannels\b");

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
        if !draft.steps.iter().any(|s| !(s.connector == "builtin" && s.action == "filter")) {
            let mut understood = format!("understood the trigger `{}`", draft.trigger);
            if let Some(cron) = &draft.cron {
                understood.push_str(&format!(" (cron `{cron}`)"));
            }
            return Err(PlanError::NotUnderstood {
                hint: format!(
                    "{understood} but no action; name a service and what to do, e.g. \"when someone fills out the \
                     contact form, create a task in Notion and notify me on Slack\", or \"every Friday at 5pm post \
                     a reminder to #team on Slack\""
                ),
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

/// What a clause asks for, with the position of its cue (for the order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sink {
    Telegram,
    Slack,
    Notion,
    Gmail,
    Http(usize),
    Log,
}

struct Draft {
    description: String,
    /// The description with JSON bodies, URLs and quoted texts replaced by
    /// `jjjNjjj`, `uuuNuuu`, `qqqNqqq` tokens and the trigger's words blanked;
    /// `lower` is its ASCII-lowercase twin (same offsets).
    text: String,
    lower: String,
    quotes: Vec<String>,
    urls: Vec<String>,
    jsons: Vec<Value>,
    trigger: Trigger,
    cron: Option<String>,
    /// The address of a "from …" email trigger (not a recipient).
    from_address: Option<String>,
    steps: Vec<DraftStep>,
    warnings: Vec<String>,
    /// The text of the last message sent ("… and email them the same").
    last_text: Option<String>,
}

fn cap_str<'t>(caps: &regex::Captures<'t>, i: usize) -> Option<&'t str> {
    caps.get(i).map(|m| m.as_str())
}

impl Draft {
    fn new(description: &str) -> Self {
        let mut jsons = Vec::new();
        let mut text = String::new();
        let mut last = 0;
        for (range, value) in http::json_objects(description) {
            text.push_str(&description[last..range.start]);
            text.push_str(&format!(" jjj{}jjj ", jsons.len()));
            jsons.push(value);
            last = range.end;
        }
        text.push_str(&description[last..]);
        let mut urls = Vec::new();
        let mut with_urls = String::new();
        let mut last = 0;
        for range in http::urls(&text) {
            with_urls.push_str(&text[last..range.start]);
            with_urls.push_str(&format!("uuu{}uuu", urls.len()));
            urls.push(text[range.clone()].to_owned());
            last = range.end;
        }
        with_urls.push_str(&text[last..]);
        let mut quotes = Vec::new();
        let text = QUOTED
            .replace_all(&with_urls, |c: &regex::Captures<'_>| {
                let whole = c.get(0).map_or("", |m| m.as_str());
                let inner = cap_str(c, 1).or_else(|| cap_str(c, 2)).or_else(|| cap_str(c, 3)).or_else(|| cap_str(c, 4));
                let inner = inner.unwrap_or_default();
                quotes.push(inner.to_owned());
                // A single-quoted text keeps the character before and after it.
                let (before, after) = match cap_str(c, 4) {
                    Some(_) => {
                        let lead = whole.find('\'').map_or("", |i| &whole[..i]);
                        let trail = whole.rfind('\'').map_or("", |i| &whole[i + 1..]);
                        (lead.to_owned(), trail.to_owned())
                    }
                    None => (String::new(), String::new()),
                };
                format!("{before}qqq{}qqq{after}", quotes.len() - 1)
            })
            .into_owned();
        let lower = text.to_ascii_lowercase();
        Self {
            description: description.to_owned(),
            text,
            lower,
            quotes,
            urls,
            jsons,
            trigger: Trigger::Manual,
            cron: None,
            from_address: None,
            steps: Vec::new(),
            warnings: Vec::new(),
            last_text: None,
        }
    }

    /// Blanks `range` in both spellings (offsets stay the same).
    fn blank(&mut self, range: Range<usize>) {
        let spaces = " ".repeat(range.len());
        self.text.replace_range(range.clone(), &spaces);
        self.lower.replace_range(range, &spaces);
    }

    /// The text with tokens put back (quotes without their quote marks).
    fn untoken(&self, s: &str) -> String {
        TOKEN
            .replace_all(s, |c: &regex::Captures<'_>| {
                let n = cap_str(c, 2).and_then(|n| n.parse::<usize>().ok()).unwrap_or(usize::MAX);
                match cap_str(c, 1) {
                    Some("qqq") => self.quotes.get(n).cloned().unwrap_or_default(),
                    Some("uuu") => self.urls.get(n).cloned().unwrap_or_default(),
                    _ => self.jsons.get(n).map(Value::to_string).unwrap_or_default(),
                }
            })
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
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
        for (orig, low) in clauses {
            let (orig, low) = (orig.trim(), low.trim());
            if !low.is_empty() {
                self.read_clause(orig, low);
            }
        }
    }

    fn read_trigger(&mut self) {
        let found_schedule = schedule::find(&self.lower);
        let event = trigger::find(&self.lower);
        if let Some((kind, cue)) = event.clone() {
            // The clause around the cue.
            let clause_start = CLAUSE_BREAK.find_iter(&self.lower[..cue.start]).last().map_or(0, |m| m.end());
            let lead = WHEN_LEAD
                .find_iter(&self.lower[clause_start..cue.end])
                .filter(|m| clause_start + m.start() <= cue.start)
                .last()
                .map(|m| clause_start + m.start());
            if let Some(lead) = lead {
                let clause_end =
                    CLAUSE_BREAK.find(&self.lower[cue.end..]).map_or(self.lower.len(), |m| cue.end + m.start());
                self.trigger = kind;
                self.event_conditions(lead..clause_end);
                self.blank(lead..clause_end);
                return;
            }
            if found_schedule.is_none() {
                self.trigger = kind;
                let clause_end =
                    CLAUSE_BREAK.find(&self.lower[cue.end..]).map_or(self.lower.len(), |m| cue.end + m.start());
                if kind == Trigger::EmailReceived {
                    self.event_conditions(cue.start..clause_end);
                }
                self.blank(cue);
                return;
            }
        }
        if let Some(found) = found_schedule {
            self.trigger = Trigger::Schedule;
            self.cron = Some(found.cron);
            for span in found.spans {
                self.blank(span);
            }
        }
    }

    /// Filters from the words of the trigger clause: the sender, the subject,
    /// what the email is about, an amount bound.
    fn event_conditions(&mut self, range: Range<usize>) {
        let orig = self.text[range.clone()].to_owned();
        let low = self.lower[range].to_owned();
        if self.trigger == Trigger::EmailReceived {
            if let Some(from) = FROM_ADDRESS.captures(&orig).and_then(|c| cap_str(&c, 1)) {
                self.from_address = Some(from.to_owned());
                self.filter("{{input}}", "from", "contains", json!(from));
            } else if let Some(from) = low.find(" from ").map(|i| low[i + 6..].trim().to_owned()) {
                let who = from.trim_start_matches("my ").trim_start_matches("the ").trim_start_matches("our ");
                let who = who.split_whitespace().next().unwrap_or_default().to_owned();
                if !who.is_empty() {
                    self.filter("{{input}}", "from", "contains", json!(who));
                    self.warnings.push(format!(
                        "the sender \"{who}\" is matched as text in the From header; put the address there if you know it"
                    ));
                }
            }
            if let Some(c) = SUBJECT_HAS.captures(&low) {
                let word = cap_str(&c, 1).or_else(|| cap_str(&c, 2)).unwrap_or_default();
                let word = self.untoken(word);
                self.filter("{{input}}", "subject", "contains", json!(word));
            } else if let Some(c) = ABOUT.captures(&low) {
                let word = self.untoken(cap_str(&c, 1).unwrap_or_default());
                self.filter("{{input}}", "body", "contains", json!(word));
            }
        }
        if let Some(c) = NUMBER_BOUND.captures(&low)
            && let (Some(op), Some(n)) = (cap_str(&c, 1), cap_str(&c, 2))
            && let Some(value) = number(n)
        {
            let op = if matches!(op, "under" | "below" | "less than") { "lt" } else { "gt" };
            let field = if CURRENCY.is_match(&low) { "amount" } else { "value" };
            self.filter("{{input}}", field, op, value);
            self.warnings
                .push(format!("the condition reads input.{field}; rename it if your payload calls it otherwise"));
        }
        if self.trigger == Trigger::Webhook
            && let Some(c) = CAPITALISED_FROM.captures(&orig)
            && let Some(place) = cap_str(&c, 1)
        {
            self.filter("{{input}}", "country", "eq", json!(place));
        }
    }

    fn filter(&mut self, input: &str, field: &str, op: &str, value: Value) {
        self.push("builtin", "filter", json!({"input": input, "field": field, "op": op, "value": value}));
    }

    fn previous(&self) -> Option<&DraftStep> {
        self.steps.iter().rev().find(|s| !(s.connector == "builtin" && s.action == "filter"))
    }

    /// `{{steps.sN.output…}}` of the last step that produced something worth passing on.
    fn previous_output(&self) -> Option<(String, &'static str)> {
        self.steps.iter().enumerate().rev().find_map(|(index, step)| {
            let (field, kind) = match (step.connector, step.action) {
                ("ai", "summarize") => (".summary", "summary"),
                ("ai", "classify") => (".label", "label"),
                ("notion", "create_page") => (".url", "page"),
                ("notion", "query_database") | ("notion", "search") => (".results", "results"),
                ("gmail", "list_messages") => (".messages", "results"),
                ("gmail", "list_labels") => (".labels", "results"),
                ("telegram", "get_updates") => ("", "results"),
                ("slack", "list_channels") => (".channels", "results"),
                ("http", "request") => (".body", "results"),
                _ => return None,
            };
            Some((format!("{{{{steps.{}.output{field}}}}}", step_id(index)), kind))
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
            let s = self.untoken(&orig[m.range()]);
            if !s.is_empty() {
                return Some(s);
            }
        }
        QUOTE_TOKEN.find(orig).map(|m| self.untoken(m.as_str())).filter(|s| !s.is_empty())
    }

    fn message(&self, orig: &str, low: &str) -> String {
        if SAME.is_match(low)
            && let Some(text) = &self.last_text
        {
            return text.clone();
        }
        self.said(orig, low).unwrap_or_else(|| self.default_message())
    }

    fn read_clause(&mut self, orig: &str, low: &str) {
        // "#triage" or "#digest" names a channel, not a step: hide it from the word cues.
        let low = &CHANNEL
            .replace_all(low, |c: &regex::Captures<'_>| " ".repeat(c.get(0).map_or(0, |m| m.len())))
            .into_owned();
        // A condition guards the clause's sinks: split it off.
        // A number or a quoted text ends the condition; what follows is an action
        // ("only if the rating is less than 3 email support@x.io").
        let (action_orig, action_low, condition) = match CONDITION_LEAD.find(low) {
            Some(m) => {
                let end = m.end() + condition_extent(&low[m.end()..]);
                (
                    format!("{} {}", &orig[..m.start()], &orig[end..]),
                    format!("{} {}", &low[..m.start()], &low[end..]),
                    Some((
                        orig[m.end()..end].trim().to_owned(),
                        low[m.end()..end].trim().to_owned(),
                        m.as_str().to_owned(),
                    )),
                )
            }
            None => (orig.to_owned(), low.to_owned(), None),
        };
        let (orig, low) = (action_orig.as_str(), action_low.as_str());

        // Sources: what the clause reads.
        let condition_low = condition.as_ref().map(|(_, l, _)| l.clone()).unwrap_or_default();
        let condition_orig = condition.as_ref().map(|(o, _, _)| o.clone()).unwrap_or_default();
        let mut http_sinks = Vec::new();
        for (part_orig, part_low) in [(orig, low), (condition_orig.as_str(), condition_low.as_str())] {
            for c in URL_TOKEN.captures_iter(part_orig) {
                let (Some(whole), Some(n)) = (c.get(0), cap_str(&c, 1).and_then(|n| n.parse::<usize>().ok())) else {
                    continue;
                };
                let Some(url) = self.urls.get(n).cloned() else { continue };
                let method = http::method(part_orig, part_low);
                if method == "GET" || method == "HEAD" {
                    self.push("http", "request", json!({"method": method, "url": url}));
                } else {
                    http_sinks.push((whole.start(), method, url));
                }
            }
        }
        let telegram = TELEGRAM.is_match(low) || CHAT_ID.is_match(orig);
        let notion = NOTION.is_match(low);
        let slack_word = SLACK.is_match(low);
        let read = READ_VERB.is_match(low);
        let mail_verb = MAIL_VERB.is_match(low);
        let address = EMAIL_ADDR.find_iter(orig).any(|m| Some(m.as_str()) != self.from_address.as_deref());
        let notify = NOTIFY_VERB.is_match(low);
        if GMAIL.is_match(low) && !address && !mail_verb {
            if LABEL_WORDS.is_match(low) {
                self.push("gmail", "list_labels", json!({}));
            } else {
                let query = QUOTE_TOKEN.find(orig).map(|m| self.untoken(m.as_str())).unwrap_or_default();
                self.push("gmail", "list_messages", json!({"query": query, "max_results": 20}));
            }
        }
        let mut notion_sink = notion;
        if notion && read && !CREATE_VERB.is_match(low) {
            notion_sink = false;
            self.notion_read(orig, low);
        }
        let mut telegram_sink = telegram;
        if TELEGRAM.is_match(low) && read && BOT_UPDATES.is_match(low) && !CHAT_ID.is_match(orig) {
            telegram_sink = false;
            self.push("telegram", "get_updates", json!({}));
        }
        let mut slack_sink = slack_word || CHANNEL.is_match(orig) || SLACK_ID.is_match(orig);
        if slack_word && CHANNEL_LIST.is_match(low) && !CHANNEL.is_match(orig) && !notify {
            slack_sink = false;
            self.push("slack", "list_channels", json!({}));
        }

        // The AI step.
        if SUMMARY.is_match(low)
            && !matches!(self.previous(), Some(s) if s.connector == "ai" && s.action == "summarize")
        {
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
        if CLASSIFY.is_match(low) {
            let text = match self.previous_output() {
                Some((r, _)) => r,
                None => "{{input}}".to_owned(),
            };
            let labels = self.labels(orig, low);
            self.push("ai", "classify", json!({"text": format!("Classify: {text}"), "labels": labels}));
        }
        if TRANSLATE.is_match(low) {
            self.warnings.push("translation is not an available action; the text is passed on as it is".into());
        }

        // The condition, between what was read and what is sent.
        if let Some((c_orig, c_low, lead)) = condition {
            self.condition(&c_orig, &c_low, &lead);
        }
        if let Some(c) = ONES.captures(low)
            && matches!(self.previous(), Some(s) if s.connector == "ai" && s.action == "classify")
            && let Some(label) = cap_str(&c, 1)
        {
            let (output, _) = self.previous_output().unwrap_or_default();
            let input = output.trim_end_matches(".label}}").to_owned() + "}}";
            self.filter(&input, "label", "eq", json!(label));
        }

        // Sinks, in the order written.
        let position = |r: &Regex, s: &str| r.find(s).map(|m| m.start());
        let mut sinks: Vec<(usize, Sink)> = Vec::new();
        if telegram_sink {
            sinks.push((position(&TELEGRAM, low).or_else(|| position(&CHAT_ID, orig)).unwrap_or(0), Sink::Telegram));
        }
        let named_channel = notify && !slack_sink && self.named_channel(low).is_some();
        if slack_sink || named_channel {
            let at = position(&SLACK, low).or_else(|| position(&CHANNEL, orig)).unwrap_or(0);
            sinks.push((at, Sink::Slack));
        }
        if notion_sink {
            sinks.push((position(&NOTION, low).unwrap_or(0), Sink::Notion));
        } else if !notion
            && sinks.is_empty()
            && http_sinks.is_empty()
            && NOTION_THING.is_match(low)
            && CREATE_VERB.is_match(low)
            && !LOG.is_match(low)
            && !mail_verb
            && !address
        {
            sinks.push((position(&NOTION_THING, low).unwrap_or(0), Sink::Notion));
        }
        if (mail_verb && !(GMAIL.is_match(low) && !address && sinks.iter().any(|(_, s)| *s != Sink::Gmail))) || address
        {
            let at = position(&MAIL_VERB, low).or_else(|| position(&EMAIL_ADDR, orig)).unwrap_or(0);
            // "post their email to #x": the word is a noun when another service takes the message.
            if address
                || sinks.is_empty()
                || MAIL_VERB.find(low).is_some_and(|m| m.start() == 0 || m.as_str().starts_with("by"))
            {
                sinks.push((at, Sink::Gmail));
            }
        }
        for (i, (at, _, _)) in http_sinks.iter().enumerate() {
            sinks.push((*at, Sink::Http(i)));
        }
        if sinks.is_empty() && http_sinks.is_empty() && FORWARD.is_match(low) {
            sinks.push((0, Sink::Gmail));
        }
        if sinks.is_empty() && LOG.is_match(low) {
            sinks.push((0, Sink::Log));
        }
        sinks.sort_by_key(|(at, _)| *at);
        for (_, sink) in sinks {
            match sink {
                Sink::Telegram => self.telegram(orig, low),
                Sink::Slack => self.slack(orig, low),
                Sink::Notion => self.notion_create(orig, low),
                Sink::Gmail => self.gmail_send(orig, low),
                Sink::Log => {
                    let message = self.said(orig, low).unwrap_or_else(|| self.default_message());
                    self.push("builtin", "log", json!({"message": message, "level": "info"}));
                }
                Sink::Http(i) => {
                    if let Some((_, method, url)) = http_sinks.get(i).cloned() {
                        self.http_send(orig, low, method, url);
                    }
                }
            }
        }
    }

    /// A condition ("if it is above 1000", "those from Germany", "if the
    /// total is over 100") as a filter on the previous output or the input.
    fn condition(&mut self, orig: &str, low: &str, lead: &str) {
        let input = match self.previous_output() {
            Some((r, "label")) => r.trim_end_matches(".label}}").to_owned() + "}}",
            Some((r, _)) => r,
            None => "{{input}}".to_owned(),
        };
        let negate = lead.contains("unless");
        if FAILURE.is_match(low) {
            self.warnings.push(format!(
                "the condition \"{}\" is not a filter: a failing call fails the run, which is reported",
                self.untoken(orig)
            ));
            return;
        }
        let Some(caps) = COMPARISON.captures(low) else {
            self.warnings
                .push(format!("could not understand the condition \"{}\"; it was left out", self.untoken(orig)));
            return;
        };
        let (Some(op_m), Some(value_m)) = (caps.get(2), caps.get(3)) else { return };
        let field = caps.get(1).map(|m| m.as_str().trim()).unwrap_or_default();
        let field = match field {
            "it" | "this" | "that" | "they" | "them" | "those" | "ones" | "the ones" => "",
            f => f,
        };
        let field = field.replace(' ', "_");
        let op_word = op_m.as_str();
        let numeric = matches!(
            op_word,
            "is greater than"
                | "is more than"
                | "is over"
                | "is above"
                | "is at least"
                | "is higher than"
                | "exceeds"
                | "greater than"
                | "more than"
                | "over"
                | "above"
                | ">"
                | "is less than"
                | "is under"
                | "is below"
                | "is lower than"
                | "less than"
                | "under"
                | "below"
                | "<"
        );
        let rest = &low[value_m.range()];
        let taken = if numeric {
            LEADING_NUMBER.find(rest).map_or(rest.len(), |m| m.end())
        } else {
            QUOTE_TOKEN.find(rest).filter(|m| m.start() == 0).map_or(rest.len(), |m| m.end())
        };
        let raw = self.untoken(&orig[value_m.start()..value_m.start() + taken]);
        let raw = raw.trim_end_matches(['.', '!']).trim();
        let raw = raw
            .strip_prefix("an ")
            .or_else(|| raw.strip_prefix("a "))
            .or_else(|| raw.strip_prefix("the "))
            .unwrap_or(raw);
        let (field, op) = match op_word {
            w if numeric
                && (w.contains("less")
                    || w.contains("under")
                    || w.contains("below")
                    || w.contains("lower")
                    || w == "<") =>
            {
                (field, "lt")
            }
            _ if numeric => (field, "gt"),
            "contains" | "includes" | "mentions" | "has" | "is about" | "are about" | "about" | "is related to"
            | "with" => (field, "contains"),
            "from" => (if field.is_empty() { "country".to_owned() } else { field }, "eq"),
            "is not" | "isn't" | "!=" => (field, "ne"),
            _ => (field, "eq"),
        };
        let op = match (negate, op) {
            (false, op) => op,
            (true, "eq") => "ne",
            (true, "ne") => "eq",
            (true, "gt") => "lt",
            (true, "lt") => "gt",
            (true, _) => {
                self.warnings.push(format!("could not express the condition \"unless {}\"; it was left out", raw));
                return;
            }
        };
        let value = if numeric { number(raw).unwrap_or_else(|| json!(raw)) } else { json!(raw) };
        self.filter(&input, &field, op, value);
    }

    fn labels(&mut self, orig: &str, low: &str) -> Vec<String> {
        // The list may span commas the clauses were split at: read it from the whole text.
        let _ = (orig, low);
        if let Some(m) = LABELS.captures(&self.lower).and_then(|c| c.get(1)) {
            let listed: Vec<String> = self
                .untoken(&self.text[m.range()])
                .split([',', '/'])
                .flat_map(|s| s.split(" or "))
                .flat_map(|s| s.split(" and "))
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty() && s.len() <= 100)
                .collect();
            if listed.len() >= 2 {
                return listed;
            }
        }
        if let Some(label) = ONES.captures(&self.lower).and_then(|c| cap_str(&c, 1).map(str::to_owned)) {
            return vec![label.clone(), format!("not {label}")];
        }
        self.warnings.push("no labels named; urgent / normal were used".into());
        vec!["urgent".into(), "normal".into()]
    }

    /// The first match of `pattern` (group `group`, or the whole match) in the
    /// clause, else in the rest of the description.
    fn find(&self, pattern: &Regex, group: usize, orig: &str) -> Option<String> {
        let grab = |s: &str| {
            pattern.captures(s).and_then(|c| c.get(group).or_else(|| c.get(0))).map(|m| m.as_str().to_owned())
        };
        grab(orig).or_else(|| grab(&self.text))
    }

    fn named_channel(&self, low: &str) -> Option<String> {
        NAMED_CHANNEL.captures(low).and_then(|c| cap_str(&c, 1).or_else(|| cap_str(&c, 2))).and_then(|name| {
            (!matches!(name, "slack" | "a" | "the" | "my" | "our" | "that" | "this" | "same" | "right" | "team"))
                .then(|| format!("#{name}"))
        })
    }

    fn slack(&mut self, orig: &str, low: &str) {
        let channel = CHANNEL
            .captures(orig)
            .and_then(|c| cap_str(&c, 1))
            .map(|c| format!("#{c}"))
            .or_else(|| SLACK_ID.captures(orig).and_then(|c| cap_str(&c, 1)).map(str::to_owned))
            .or_else(|| self.named_channel(low))
            .or_else(|| self.find(&CHANNEL, 1, orig).map(|c| format!("#{c}")))
            .unwrap_or_else(|| {
                self.warnings.push("no Slack channel named; #general was used".into());
                "#general".into()
            });
        let text = self.message(orig, low);
        if UPLOAD.is_match(low) {
            self.warnings.push(format!("Slack uploads need the channel's id; replace {channel} with it"));
            self.push(
                "slack",
                "upload_file",
                json!({"filename": "report.txt", "content": text, "channel_id": channel}),
            );
        } else {
            self.last_text = Some(text.clone());
            self.push("slack", "post_message", json!({"channel": channel, "text": text}));
        }
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
        let text = self.message(orig, low);
        self.last_text = Some(text.clone());
        self.push("telegram", "send_message", json!({"chat_id": chat_id, "text": text}));
    }

    fn database_id(&mut self, orig: &str, low: &str) -> String {
        if let Some(id) = self.find(&DB_ID, 1, orig).or_else(|| {
            DB_NAMED
                .captures(orig)
                .and_then(|c| cap_str(&c, 1))
                .filter(|s| s.chars().any(|c| c.is_ascii_digit()))
                .map(str::to_owned)
        }) {
            return id;
        }
        let name = DB_NAME.captures(low).and_then(|c| {
            cap_str(&c, 1)
                .or_else(|| cap_str(&c, 2))
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| self.quotes.get(n).cloned())
                .or_else(|| cap_str(&c, 3).filter(|n| !matches!(*n, "notion" | "new")).map(|n| self.untoken(n)))
        });
        self.warnings.push(match name {
            Some(name) => format!(
                "the Notion database \"{name}\" is named, not its id; the step reads the id from the run input (input.database_id)"
            ),
            None => "no Notion database id found; the step reads it from the run input (input.database_id)".into(),
        });
        "{{input.database_id}}".into()
    }

    fn notion_read(&mut self, orig: &str, low: &str) {
        if SEARCH_VERB.is_match(low) || !low.contains("database") {
            let query = QUOTE_TOKEN.find(orig).map(|m| self.untoken(m.as_str())).unwrap_or_default();
            self.push("notion", "search", json!({"query": query}));
        } else {
            let database_id = self.database_id(orig, low);
            self.push("notion", "query_database", json!({"database_id": database_id}));
        }
    }

    fn notion_create(&mut self, orig: &str, low: &str) {
        let database_id = self.database_id(orig, low);
        let db_quote =
            DB_NAME.captures(low).and_then(|c| cap_str(&c, 1).or_else(|| cap_str(&c, 2))).map(|n| format!("qqq{n}qqq"));
        let title = TITLED
            .captures(low)
            .and_then(|c| c.get(1))
            .map(|m| self.untoken(&orig[m.range()]))
            .or_else(|| {
                QUOTE_TOKEN
                    .find_iter(orig)
                    .find(|m| Some(m.as_str()) != db_quote.as_deref())
                    .map(|m| self.untoken(m.as_str()))
            })
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
        let from = self.from_address.clone();
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
            .map(|m| {
                let s = &orig[m.range()];
                // "with the subject 'X' and the body 'Y'": the subject is the first quote.
                QUOTE_TOKEN
                    .find(s)
                    .filter(|q| q.start() == 0)
                    .map_or_else(|| self.untoken(s), |q| self.untoken(q.as_str()))
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| self.default_title());
        let body = match (BODY.captures(low).and_then(|c| cap_str(&c, 1)), SUBJECT.is_match(low)) {
            (Some(token), _) => self.untoken(token),
            (None, true) => self.default_message(),
            (None, false) => self.message(orig, low),
        };
        self.last_text = Some(body.clone());
        self.push("gmail", "send_email", json!({"to": to, "subject": subject, "body": body}));
    }

    fn http_send(&mut self, orig: &str, low: &str, method: &'static str, url: String) {
        let body = JSON_TOKEN
            .captures(orig)
            .and_then(|c| cap_str(&c, 1))
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| self.jsons.get(n).cloned())
            .or_else(|| self.said(orig, low).map(Value::String))
            .unwrap_or_else(|| match self.previous_output() {
                Some((r, _)) => Value::String(r),
                None if matches!(self.trigger, Trigger::Webhook | Trigger::EmailReceived) || PAYLOAD.is_match(low) => {
                    Value::String("{{input}}".into())
                }
                None => Value::String(self.description.clone()),
            });
        self.push("http", "request", json!({"method": method, "url": url, "body": body}));
    }
}

/// How much of `low` (the words after "if") the condition takes.
fn condition_extent(low: &str) -> usize {
    let lead = low.len() - low.trim_start().len();
    lead + condition_length(low.trim_start())
}

fn condition_length(low: &str) -> usize {
    let Some(caps) = COMPARISON.captures(low) else { return low.len() };
    let (Some(op), Some(value)) = (caps.get(2), caps.get(3)) else { return low.len() };
    let rest = &low[value.range()];
    let numeric = NUMERIC_OP.is_match(op.as_str());
    let taken = if numeric {
        match LEADING_NUMBER.find(rest) {
            Some(m) => {
                let unit = UNIT_AFTER.find(&rest[m.end()..]).map_or(0, |u| u.end());
                m.end() + unit
            }
            None => return low.len(),
        }
    } else {
        match QUOTE_TOKEN.find(rest).filter(|m| m.start() == 0) {
            Some(m) => m.end(),
            None => return low.len(),
        }
    };
    value.start() + taken
}

fn number(s: &str) -> Option<Value> {
    let cleaned = s.trim().trim_start_matches(['$', '€', '£']).replace(',', "");
    if let Ok(i) = cleaned.parse::<i64>() {
        return Some(Value::from(i));
    }
    cleaned.parse::<f64>().ok().filter(|f| f.is_finite()).map(Value::from)
}
