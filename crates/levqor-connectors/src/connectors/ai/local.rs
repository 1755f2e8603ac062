//! The `ai` connector's offline engine: an extractive summary (sentences scored
//! by how frequent their words are in the whole text) and a keyword classifier
//! (the label whose words occur most in the text). Crude, deterministic, free.

use std::collections::HashMap;

const STOPWORDS: &[&str] = &[
    "a", "about", "after", "all", "also", "an", "and", "any", "are", "as", "at", "be", "been", "but", "by", "can",
    "could", "did", "do", "does", "for", "from", "had", "has", "have", "he", "her", "his", "how", "i", "if", "in",
    "into", "is", "it", "its", "just", "me", "more", "my", "no", "not", "of", "on", "or", "our", "out", "she", "so",
    "some", "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "to", "up", "us", "was",
    "we", "were", "what", "when", "which", "who", "will", "with", "would", "you", "your",
];

/// Lower-cased words of letters and digits, without stopwords.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .filter(|w| !STOPWORDS.contains(&w.as_str()))
        .collect()
}

/// A light stem so `invoices` meets `invoice` and `billing` meets `bill`.
fn stem(word: &str) -> String {
    for suffix in ["ing", "ed", "s"] {
        if let Some(root) = word.strip_suffix(suffix)
            && root.chars().count() >= 3
        {
            return root.to_owned();
        }
    }
    word.to_owned()
}

/// Sentences: ends at `.`, `!` or `?` followed by whitespace, or at a blank line.
fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        current.push(c);
        let next_is_space = chars.peek().is_none_or(|n| n.is_whitespace());
        let ends = matches!(c, '.' | '!' | '?') && next_is_space || (c == '\n' && chars.peek() == Some(&'\n'));
        if ends {
            let sentence = current.split_whitespace().collect::<Vec<_>>().join(" ");
            if !sentence.is_empty() {
                out.push(sentence);
            }
            current.clear();
        }
    }
    let rest = current.split_whitespace().collect::<Vec<_>>().join(" ");
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

/// The best sentences that fit in `max_words`, in their original order. The
/// single best sentence is cut (with `…`) if even it is too long.
pub fn summarize(text: &str, max_words: usize) -> String {
    let max_words = max_words.max(1);
    let sentences = sentences(text);
    let mut freq: HashMap<String, f64> = HashMap::new();
    for word in words(text) {
        *freq.entry(stem(&word)).or_default() += 1.0;
    }
    let top = freq.values().copied().fold(1.0, f64::max);
    let scores: Vec<f64> = sentences
        .iter()
        .map(|s| {
            let ws = words(s);
            let sum: f64 = ws.iter().map(|w| freq.get(&stem(w)).copied().unwrap_or(0.0) / top).sum();
            // Dividing by √length keeps long sentences from winning by size alone
            // without letting one-word sentences win by brevity.
            sum / (ws.len().max(1) as f64).sqrt()
        })
        .collect();
    // Only sentences at least as central as the average are candidates, so a
    // generous budget is not padded with asides.
    let mean = scores.iter().sum::<f64>() / scores.len().max(1) as f64;
    let mut order: Vec<usize> = (0..sentences.len()).filter(|&i| scores[i] >= mean).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));

    let length = |i: usize| sentences[i].split_whitespace().count();
    let mut chosen = Vec::new();
    let mut used = 0;
    for &i in &order {
        if used + length(i) <= max_words {
            used += length(i);
            chosen.push(i);
        }
    }
    if chosen.is_empty() {
        let Some(&best) = order.first() else {
            return String::new();
        };
        let cut: Vec<&str> = sentences[best].split_whitespace().take(max_words).collect();
        return format!("{}…", cut.join(" "));
    }
    chosen.sort_unstable();
    chosen.iter().map(|&i| sentences[i].as_str()).collect::<Vec<_>>().join(" ")
}

/// The label whose words occur most often in `text` (the first on a tie), or
/// `None` when no label word occurs at all; with every label's score.
pub fn classify(text: &str, labels: &[String]) -> (Option<String>, Vec<(String, usize)>) {
    let text_words: Vec<String> = words(text).iter().map(|w| stem(w)).collect();
    let scores: Vec<(String, usize)> = labels
        .iter()
        .map(|label| {
            let label_words: Vec<String> = words(label).iter().map(|w| stem(w)).collect();
            let hits = text_words.iter().filter(|w| label_words.contains(w)).count();
            (label.clone(), hits)
        })
        .collect();
    let mut best: Option<&(String, usize)> = None;
    for entry in &scores {
        if entry.1 > 0 && best.is_none_or(|b| entry.1 > b.1) {
            best = Some(entry);
        }
    }
    (best.map(|b| b.0.clone()), scores)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "Levqor runs automation jobs for small teams. The weather was nice. \
        Automation jobs retry when a service fails, and automation jobs report their results. \
        Lunch was at noon!";

    #[test]
    fn picks_the_central_sentences_in_order() {
        let summary = summarize(TEXT, 25);
        assert!(summary.starts_with("Levqor runs automation jobs"), "{summary}");
        assert!(summary.contains("retry when a service fails"), "{summary}");
        assert!(!summary.contains("weather"), "{summary}");
        assert!(summary.split_whitespace().count() <= 25);
    }

    #[test]
    fn cuts_a_single_long_sentence() {
        let summary = summarize("one two three four five six seven", 3);
        assert_eq!(summary, "one two three…");
        assert_eq!(summarize("", 10), "");
    }

    #[test]
    fn classifies_by_keyword_overlap() {
        let labels = vec!["billing".to_owned(), "bug report".to_owned(), "sales".to_owned()];
        let (label, scores) = classify("The app crashes: a bug in the export, see report", &labels);
        assert_eq!(label.as_deref(), Some("bug report"));
        assert_eq!(scores[1].1, 2);
        let (label, _) = classify("My invoices were billed twice", &["invoice".into(), "other".into()]);
        assert_eq!(label.as_deref(), Some("invoice"));
        let (label, _) = classify("hello there", &labels);
        assert_eq!(label, None);
    }
}
