//! Posts one message to Slack with `levqor-connectors` alone.
//!
//! ```sh
//! SLACK_TOKEN=xoxb-… SLACK_CHANNEL='#general' cargo run --example post_to_slack -- "Hello from Levqor"
//! ```
//!
//! `SLACK_API_BASE` points it elsewhere (a proxy, a fake).

use levqor_connectors::{ConnectorConfig, ConnectorRegistry, Credentials, TaskCall};
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let token = std::env::var("SLACK_TOKEN").map_err(|_| "set SLACK_TOKEN to a bot token")?;
    let channel = std::env::var("SLACK_CHANNEL").unwrap_or_else(|_| "#general".to_owned());
    let text = std::env::args().nth(1).unwrap_or_else(|| "Hello from Levqor".to_owned());

    let config = ConnectorConfig::from_lookup(|key| std::env::var(key).ok());
    let registry = ConnectorRegistry::with_defaults(&config)?;
    let call = TaskCall::new(
        "post_message",
        json!({"channel": channel, "text": text}),
        Credentials::new().with("token", token),
    );
    match registry.run("slack", call).await {
        Ok(answer) => {
            println!("posted to {} at {}", answer["channel"], answer["ts"]);
            Ok(())
        }
        Err(err) => {
            let hint = if err.retryable() { "(worth retrying later)" } else { "(fix the request)" };
            Err(format!("{} {hint}", err).into())
        }
    }
}
