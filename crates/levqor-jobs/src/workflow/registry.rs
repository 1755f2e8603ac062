use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::Workflow;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkflowRegistryError {
    #[error("a workflow named `{0}` is already registered")]
    Duplicate(String),
}

/// The workflows this process can run, by name. Built once at start-up, then shared.
#[derive(Default, Clone)]
pub struct WorkflowRegistry {
    exact: BTreeMap<String, Arc<dyn Workflow>>,
    /// Families such as `pipeline:<id>`, served by one workflow.
    prefixes: BTreeMap<String, Arc<dyn Workflow>>,
    /// Exact names only Levqor itself enqueues (`email.send`): workers run them,
    /// but callers cannot submit them.
    internal: BTreeSet<String>,
}

impl WorkflowRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn register(&mut self, workflow: Arc<dyn Workflow>) -> Result<(), WorkflowRegistryError> {
        let name = workflow.name().to_owned();
        if self.exact.contains_key(&name) {
            return Err(WorkflowRegistryError::Duplicate(name));
        }
        self.exact.insert(name, workflow);
        Ok(())
    }

    /// Registers a workflow that only Levqor itself enqueues: [`Self::get`] finds
    /// it (workers run it), [`Self::contains`] and [`Self::names`] do not, so an
    /// intake or a pipeline naming it is refused as an unknown workflow.
    pub fn register_internal(&mut self, workflow: Arc<dyn Workflow>) -> Result<(), WorkflowRegistryError> {
        let name = workflow.name().to_owned();
        self.register(workflow)?;
        self.internal.insert(name);
        Ok(())
    }

    /// Serves every name starting with `prefix` (e.g. `pipeline:`) with `workflow`;
    /// the workflow sees the full name in [`super::JobContext::workflow`].
    pub fn register_prefix(&mut self, prefix: &str, workflow: Arc<dyn Workflow>) -> Result<(), WorkflowRegistryError> {
        if self.prefixes.contains_key(prefix) {
            return Err(WorkflowRegistryError::Duplicate(prefix.to_owned()));
        }
        self.prefixes.insert(prefix.to_owned(), workflow);
        Ok(())
    }

    /// An exact name wins over a prefix; the longest prefix wins among prefixes.
    pub fn get(&self, name: &str) -> Option<Arc<dyn Workflow>> {
        if let Some(workflow) = self.exact.get(name) {
            return Some(workflow.clone());
        }
        self.prefixes
            .iter()
            .filter(|(prefix, _)| name.len() > prefix.len() && name.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, workflow)| workflow.clone())
    }

    /// Whether callers may submit jobs by this name (internal workflows excluded).
    pub fn contains(&self, name: &str) -> bool {
        !self.internal.contains(name) && self.get(name).is_some()
    }

    /// Exact names a caller may submit, sorted, then prefixes as `prefix*`.
    pub fn names(&self) -> Vec<String> {
        self.exact
            .keys()
            .filter(|name| !self.internal.contains(*name))
            .cloned()
            .chain(self.prefixes.keys().map(|p| format!("{p}*")))
            .collect()
    }
}

impl std::fmt::Debug for WorkflowRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::{Echo, JobContext, WorkflowFuture};
    use futures_util::FutureExt;
    use serde_json::json;

    struct Named(&'static str);

    impl Workflow for Named {
        fn name(&self) -> &str {
            self.0
        }
        fn run(&self, _: JobContext) -> WorkflowFuture {
            let name = self.0;
            async move { Ok(json!(name)) }.boxed()
        }
    }

    #[test]
    fn register_get_and_list() {
        let mut registry = WorkflowRegistry::new();
        registry.register(Arc::new(Echo)).unwrap();
        assert_eq!(registry.register(Arc::new(Echo)), Err(WorkflowRegistryError::Duplicate("echo".into())));
        registry.register_prefix("pipeline:", Arc::new(Named("pipeline:"))).unwrap();
        registry.register_prefix("pipeline:v2:", Arc::new(Named("pipeline:v2:"))).unwrap();

        assert!(registry.contains("echo"));
        assert!(!registry.contains("ech"));
        assert!(!registry.contains("pipeline:"), "a bare prefix names nothing");
        assert_eq!(registry.get("pipeline:abc").unwrap().name(), "pipeline:");
        assert_eq!(registry.get("pipeline:v2:abc").unwrap().name(), "pipeline:v2:");
        assert_eq!(registry.names(), ["echo", "pipeline:*", "pipeline:v2:*"]);
    }

    #[test]
    fn internal_workflows_run_but_cannot_be_submitted() {
        let mut registry = WorkflowRegistry::new();
        registry.register_internal(Arc::new(Named("email.send"))).unwrap();
        assert!(registry.get("email.send").is_some(), "workers find it");
        assert!(!registry.contains("email.send"), "callers cannot name it");
        assert!(registry.names().is_empty());
        assert_eq!(
            registry.register(Arc::new(Named("email.send"))),
            Err(WorkflowRegistryError::Duplicate("email.send".into()))
        );
    }
}
