//! Runs the rule planner over a JSONL set of requests (`{text, required,
//! optional?, trigger?}`, as `../shared/planner/dev_set.jsonl`) offline and scores
//! it the way the HTTP evaluation does. Usage: `cargo run --example plan_set -- FILE [-v]`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::BTreeSet;

use levqor_connectors::{ConnectorConfig, ConnectorRegistry};
use levqor_pipelines::{Catalogue, Limits, RulePlanner};
use serde_json::Value;

const INTERNAL: &[&str] = &["ai", "builtin", "log", "filter", "transform", ""];

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("a JSONL file");
    let verbose = args.any(|a| a == "-v");
    let catalogue = Catalogue::from_registry(&ConnectorRegistry::with_defaults(&ConnectorConfig::default()).unwrap());
    let planner = RulePlanner::new(catalogue, Limits::default());
    let (mut passed, mut total) = (0, 0);
    for line in std::fs::read_to_string(path).expect("readable").lines().filter(|l| !l.trim().is_empty()) {
        let case: Value = serde_json::from_str(line).expect("JSON");
        total += 1;
        let text = case["text"].as_str().unwrap_or_default();
        let names = |key: &str| -> BTreeSet<String> {
            case[key].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_owned)).collect()
        };
        let (required, optional) = (names("required"), names("optional"));
        match planner.plan_text(text) {
            Ok(plan) => {
                let p = &plan.pipeline;
                let got: BTreeSet<String> =
                    p.steps.iter().map(|s| s.connector.clone()).filter(|c| !INTERNAL.contains(&c.as_str())).collect();
                let trigger_ok = case.get("trigger").and_then(Value::as_str).is_none_or(|t| t == p.trigger.as_str());
                let ok = required.is_subset(&got)
                    && got.iter().all(|c| required.contains(c) || optional.contains(c))
                    && trigger_ok;
                if ok {
                    passed += 1;
                } else {
                    println!(
                        "miss {text:?}: got {got:?} trigger {}; want {required:?} (+{optional:?}) trigger {}",
                        p.trigger, case["trigger"]
                    );
                }
                if verbose || !ok {
                    println!("     {} {:?} {}", p.trigger, p.schedule, serde_json::to_string(&p.steps).unwrap());
                }
            }
            Err(e) => println!("miss {text:?}: {e}"),
        }
    }
    println!("{passed} passed, {} failed", total - passed);
}
