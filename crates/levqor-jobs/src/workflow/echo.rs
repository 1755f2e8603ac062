use futures_util::FutureExt;

use super::{JobContext, Workflow, WorkflowFuture};

/// Succeeds with its payload: the smallest possible job (benchmarks, health probes).
#[derive(Debug, Clone, Copy, Default)]
pub struct Echo;

impl Workflow for Echo {
    fn name(&self) -> &str {
        "echo"
    }

    fn run(&self, ctx: JobContext) -> WorkflowFuture {
        futures_util::future::ready(Ok(ctx.payload)).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::JobId;
    use levqor_core::UserId;
    use serde_json::json;

    #[tokio::test]
    async fn echo_returns_its_payload() {
        let ctx = JobContext {
            job_id: JobId::new(),
            owner: UserId::new(),
            workflow: "echo".into(),
            payload: json!({"hello": ["world"]}),
            attempt: 1,
        };
        assert_eq!(Echo.run(ctx).await, Ok(json!({"hello": ["world"]})));
    }
}
