//! URLs, HTTP verbs and JSON bodies in a description: what becomes an `http`
//! step. A method written in capitals (`GET https://…`, `POST … to …`) is
//! taken as written; otherwise the verb decides: sending words ("post",
//! "send", "push", "submit", "forward", "notify") are a POST, "put"/"update"
//! a PUT, "delete"/"remove" a DELETE, and reading or checking words ("ping",
//! "hit", "call", "fetch", "grab", "download", "check", none at all) a GET.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use super::re;

static URL: LazyLock<Regex> = LazyLock::new(|| re(r#"\bhttps?://[^\s'"<>()\[\]{}]+"#));
static CAPS_METHOD: LazyLock<Regex> = LazyLock::new(|| re(r"\b(GET|POST|PUT|PATCH|DELETE|HEAD)\b"));
static SEND_VERB: LazyLock<Regex> = LazyLock::new(|| {
    re(r"\b(?:post|posts|send|sends|push|pushes|submit|forward|upload|deliver|notify|report|write|relay)\b")
});
static PUT_VERB: LazyLock<Regex> = LazyLock::new(|| re(r"\b(?:put|update|replace)\b"));
static DELETE_VERB: LazyLock<Regex> = LazyLock::new(|| re(r"\b(?:delete|remove|purge)\b"));

/// The URLs in `text`, without trailing punctuation.
pub fn urls(text: &str) -> Vec<Range<usize>> {
    URL.find_iter(text)
        .map(|m| {
            let trimmed = m.as_str().trim_end_matches(['.', ',', ';', ':', '!', '?']);
            m.start()..m.start() + trimmed.len()
        })
        .collect()
}

/// The method a clause asks for. `original` keeps the capitals of the text;
/// `lower` is its lower-case twin.
pub fn method(original: &str, lower: &str) -> &'static str {
    if let Some(m) = CAPS_METHOD.find(original) {
        return match m.as_str() {
            "POST" => "POST",
            "PUT" => "PUT",
            "PATCH" => "PATCH",
            "DELETE" => "DELETE",
            "HEAD" => "HEAD",
            _ => "GET",
        };
    }
    if DELETE_VERB.is_match(lower) {
        "DELETE"
    } else if SEND_VERB.is_match(lower) {
        "POST"
    } else if PUT_VERB.is_match(lower) {
        "PUT"
    } else {
        "GET"
    }
}

/// The byte ranges of JSON objects written in `text` (`{"event": "beat"}`),
/// with their values; braces that do not hold JSON are left alone.
pub fn json_objects(text: &str) -> Vec<(Range<usize>, Value)> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'{' && bytes.get(i + 1) != Some(&b'{') {
            let mut depth = 0usize;
            let mut in_string = false;
            let mut escaped = false;
            let mut end = None;
            for (j, &b) in bytes.iter().enumerate().skip(i) {
                if in_string {
                    match (escaped, b) {
                        (true, _) => escaped = false,
                        (false, b'\\') => escaped = true,
                        (false, b'"') => in_string = false,
                        _ => {}
                    }
                    continue;
                }
                match b {
                    b'"' => in_string = true,
                    b'{' => depth += 1,
                    b'}' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            end = Some(j + 1);
                            break;
                        }
                    }
                    _ => {}
                }
            }
            if let Some(end) = end
                && let Ok(value @ Value::Object(_)) = serde_json::from_str::<Value>(&text[i..end])
            {
                out.push((i..end, value));
                i = end;
                continue;
            }
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_urls_without_trailing_punctuation() {
        let text = "Poll https://a.example.com/x?y=1. Then tell https://b.example.org/hook, ok";
        let found: Vec<&str> = urls(text).into_iter().map(|r| &text[r]).collect();
        assert_eq!(found, ["https://a.example.com/x?y=1", "https://b.example.org/hook"]);
    }

    #[test]
    fn reads_the_method_from_the_verb() {
        for (text, want) in [
            ("PUT the config to https://x.io", "PUT"),
            ("DELETE https://x.io/cache", "DELETE"),
            ("ping https://x.io", "GET"),
            ("hit https://x.io/cron", "GET"),
            ("call the https://x.io endpoint", "GET"),
            ("grab https://x.io/data.json", "GET"),
            ("post the order to https://x.io", "POST"),
            ("send its fields to https://x.io", "POST"),
            ("push the count to https://x.io", "POST"),
            ("purge https://x.io/cache", "DELETE"),
            ("https://x.io", "GET"),
        ] {
            assert_eq!(method(text, &text.to_ascii_lowercase()), want, "{text}");
        }
    }

    #[test]
    fn finds_json_bodies() {
        let text = r#"Post JSON {"event": "heartbeat", "n": {"a": 1}} to https://x.io and {not json}"#;
        let found = json_objects(text);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].1, json!({"event": "heartbeat", "n": {"a": 1}}));
        assert!(json_objects("use {{input.x}} here").is_empty());
    }
}
