//! A minimal fake OpenAI on 127.0.0.1 (a [`levqor_testkit::FakeServer`]):
//! scripted answers in order, every request recorded.

use levqor_testkit::FakeServer;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub enum Reply {
    /// A chat completion whose message content is this text.
    Content(String),
    /// A refusal.
    Refusal(String),
    /// Any status and JSON body.
    Status(u16, Value),
    /// Never answers.
    Hang,
}

#[derive(Debug, Clone)]
pub struct OpenAiRequest {
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
}

pub struct FakeOpenAi {
    pub base_url: String,
    server: FakeServer,
}

impl FakeOpenAi {
    /// Answers with `replies` in order, then 500 once the script has run out.
    pub async fn start(replies: Vec<Reply>) -> Self {
        let server = FakeServer::start(move |_, index| {
            let reply = replies.get(index).cloned().unwrap_or(Reply::Status(500, json!({"error": "script ran out"})));
            match reply {
                Reply::Hang => levqor_testkit::Reply::Hang,
                Reply::Status(status, body) => levqor_testkit::Reply::json(status, body),
                Reply::Content(c) => levqor_testkit::Reply::json(200, completion(json!(c), Value::Null)),
                Reply::Refusal(r) => levqor_testkit::Reply::json(200, completion(Value::Null, json!(r))),
            }
        })
        .await;
        Self { base_url: format!("{}/v1", server.base()), server }
    }

    pub fn requests(&self) -> Vec<OpenAiRequest> {
        self.server
            .requests()
            .into_iter()
            .map(|r| OpenAiRequest {
                authorization: r.header("authorization").map(str::to_owned),
                body: r.json(),
                path: r.path,
            })
            .collect()
    }
}

fn completion(content: Value, refusal: Value) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o-mini",
           "choices": [{"index": 0, "finish_reason": "stop", "logprobs": null,
                        "message": {"role": "assistant", "content": content, "refusal": refusal}}],
           "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}})
}
