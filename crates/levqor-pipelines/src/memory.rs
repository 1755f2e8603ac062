//! The pipeline ports in memory: for tests, and for running Levqor without a
//! database (everything is lost on restart, so never in production).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};

use levqor_core::{
    AuditAction, AuditContext, AuditEntry, AuditError, AuditFilter, AuditLog, Cursor, MemoryAuditLog, ObjectRef,
    ObjectType, Page, StorageError, Timestamp, UserId,
};
use levqor_jobs::JobId;

use crate::document::Pipeline;
use crate::ports::{
    NewRun, PipelineId, PipelineRepo, PipelinesError, RunRepo, ScheduleClaims, ScheduledPipeline, StoredPipeline,
    StoredRun, check_same_steps, check_state, page_of, parse_pipeline_cursor, parse_run_cursor, pipeline_cursor,
    run_cursor, schedule_of,
};
use crate::run::RunState;

struct Entry {
    owner: UserId,
    /// Version n is at index n - 1, with the time it was stored.
    versions: Vec<(Pipeline, Timestamp)>,
    webhook_token_hash: Option<String>,
    created_at: Timestamp,
    updated_at: Timestamp,
    deleted: bool,
}

impl Entry {
    fn latest(&self) -> u32 {
        u32::try_from(self.versions.len()).unwrap_or(u32::MAX)
    }

    fn stored(&self, id: &PipelineId, version: u32) -> Option<StoredPipeline> {
        let index = usize::try_from(version).ok()?.checked_sub(1)?;
        let (pipeline, at) = self.versions.get(index)?;
        Some(StoredPipeline {
            id: id.clone(),
            owner: self.owner.clone(),
            version,
            latest_version: self.latest(),
            pipeline: pipeline.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            version_created_at: *at,
            deleted: self.deleted,
        })
    }
}

#[derive(Default)]
struct State {
    pipelines: BTreeMap<PipelineId, Entry>,
    runs: BTreeMap<JobId, StoredRun>,
    ticks: BTreeSet<(PipelineId, Timestamp)>,
}

#[derive(Default)]
pub struct MemoryPipelines {
    state: Mutex<State>,
    audit: MemoryAuditLog,
}

impl AuditLog for MemoryPipelines {
    fn audit_entries(
        &self,
        filter: &AuditFilter,
        cursor: Option<&Cursor>,
        limit: u32,
    ) -> Result<Page<AuditEntry>, AuditError> {
        self.audit.audit_entries(filter, cursor, limit)
    }
}

impl MemoryPipelines {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> Result<MutexGuard<'_, State>, StorageError> {
        self.state.lock().map_err(|_| StorageError::Failure("in-memory pipelines poisoned".into()))
    }
}

/// The owner's live pipeline, or `NotFound`.
fn owned<'a>(state: &'a mut State, owner: &UserId, id: &PipelineId) -> Result<&'a mut Entry, PipelinesError> {
    state.pipelines.get_mut(id).filter(|e| &e.owner == owner && !e.deleted).ok_or(PipelinesError::NotFound)
}

fn latest(id: &PipelineId, entry: &Entry) -> Result<StoredPipeline, PipelinesError> {
    entry.stored(id, entry.latest()).ok_or_else(|| StorageError::Failure("a pipeline without versions".into()).into())
}

impl PipelineRepo for MemoryPipelines {
    fn create(
        &self,
        owner: &UserId,
        pipeline: &Pipeline,
        webhook_token_hash: Option<&str>,
        now: Timestamp,
    ) -> Result<StoredPipeline, PipelinesError> {
        let id = PipelineId::new();
        let entry = Entry {
            owner: owner.clone(),
            versions: vec![(pipeline.clone(), now)],
            webhook_token_hash: webhook_token_hash.map(str::to_owned),
            created_at: now,
            updated_at: now,
            deleted: false,
        };
        let stored = latest(&id, &entry)?;
        self.state()?.pipelines.insert(id, entry);
        Ok(stored)
    }

    fn new_version(
        &self,
        owner: &UserId,
        id: &PipelineId,
        pipeline: &Pipeline,
        now: Timestamp,
    ) -> Result<StoredPipeline, PipelinesError> {
        let mut state = self.state()?;
        let entry = owned(&mut state, owner, id)?;
        entry.versions.push((pipeline.clone(), now));
        entry.updated_at = now;
        latest(id, entry)
    }

    fn get(&self, owner: &UserId, id: &PipelineId) -> Result<StoredPipeline, PipelinesError> {
        let mut state = self.state()?;
        latest(id, owned(&mut state, owner, id)?)
    }

    fn get_version(&self, id: &PipelineId, version: u32) -> Result<StoredPipeline, PipelinesError> {
        let state = self.state()?;
        state.pipelines.get(id).and_then(|e| e.stored(id, version)).ok_or(PipelinesError::NotFound)
    }

    fn list(
        &self,
        owner: &UserId,
        cursor: Option<&Cursor>,
        limit: u32,
    ) -> Result<Page<StoredPipeline>, PipelinesError> {
        let after = cursor.map(parse_pipeline_cursor).transpose()?;
        let state = self.state()?;
        let items = state
            .pipelines
            .iter()
            .rev()
            .filter(|(id, e)| &e.owner == owner && !e.deleted && after.as_ref().is_none_or(|a| *id < a))
            .take(limit.max(1) as usize + 1)
            .map(|(id, e)| latest(id, e))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(page_of(items, limit, |p| pipeline_cursor(&p.id)))
    }

    fn delete(
        &self,
        owner: &UserId,
        id: &PipelineId,
        now: Timestamp,
        audit: Option<&AuditContext>,
    ) -> Result<(), PipelinesError> {
        let mut state = self.state()?;
        let entry = owned(&mut state, owner, id)?;
        if let Some(ctx) = audit {
            let object = ObjectRef::new(ObjectType::Pipeline, id);
            self.audit.append(ctx.entry(AuditAction::PipelineDelete, object, Some(owner.clone()), now))?;
        }
        entry.deleted = true;
        entry.updated_at = now;
        Ok(())
    }

    fn set_webhook_token(
        &self,
        owner: &UserId,
        id: &PipelineId,
        webhook_token_hash: Option<&str>,
        now: Timestamp,
    ) -> Result<(), PipelinesError> {
        let mut state = self.state()?;
        let entry = owned(&mut state, owner, id)?;
        entry.webhook_token_hash = webhook_token_hash.map(str::to_owned);
        entry.updated_at = now;
        Ok(())
    }

    fn find_by_webhook(&self, id: &PipelineId) -> Result<(StoredPipeline, String), PipelinesError> {
        let state = self.state()?;
        let entry = state.pipelines.get(id).filter(|e| !e.deleted).ok_or(PipelinesError::NotFound)?;
        let hash = entry.webhook_token_hash.clone().ok_or(PipelinesError::NotFound)?;
        Ok((latest(id, entry)?, hash))
    }

    fn scheduled(&self) -> Result<Vec<ScheduledPipeline>, PipelinesError> {
        let state = self.state()?;
        let mut out = Vec::new();
        for (id, entry) in state.pipelines.iter().filter(|(_, e)| !e.deleted) {
            let Some((pipeline, _)) = entry.versions.last() else { continue };
            if let Some(cron) = schedule_of(pipeline) {
                out.push(ScheduledPipeline {
                    id: id.clone(),
                    owner: entry.owner.clone(),
                    version: entry.latest(),
                    cron: cron.to_owned(),
                });
            }
        }
        Ok(out)
    }
}

impl RunRepo for MemoryPipelines {
    fn create_run(&self, run: &NewRun) -> Result<StoredRun, PipelinesError> {
        let mut state = self.state()?;
        let version = state
            .pipelines
            .get(&run.pipeline_id)
            .filter(|e| e.owner == run.owner)
            .and_then(|e| e.stored(&run.pipeline_id, run.version))
            .ok_or(PipelinesError::NotFound)?;
        check_state(&run.state, &version.pipeline)?;
        if state.runs.contains_key(&run.job_id) {
            return Err(StorageError::Conflict("this job already has a run".into()).into());
        }
        let stored = run.to_run();
        state.runs.insert(run.job_id.clone(), stored.clone());
        Ok(stored)
    }

    fn get_run(&self, job_id: &JobId) -> Result<Option<StoredRun>, PipelinesError> {
        Ok(self.state()?.runs.get(job_id).cloned())
    }

    fn save_state(&self, job_id: &JobId, new: &RunState, now: Timestamp) -> Result<(), PipelinesError> {
        let mut state = self.state()?;
        let run = state.runs.get_mut(job_id).ok_or(PipelinesError::NotFound)?;
        check_same_steps(&run.state, new)?;
        run.state = new.clone();
        run.updated_at = now;
        Ok(())
    }

    fn list_runs(
        &self,
        owner: &UserId,
        pipeline_id: Option<&PipelineId>,
        cursor: Option<&Cursor>,
        limit: u32,
    ) -> Result<Page<StoredRun>, PipelinesError> {
        let after = cursor.map(parse_run_cursor).transpose()?;
        let state = self.state()?;
        let items: Vec<StoredRun> = state
            .runs
            .iter()
            .rev()
            .filter(|(id, r)| {
                &r.owner == owner
                    && pipeline_id.is_none_or(|p| &r.pipeline_id == p)
                    && after.as_ref().is_none_or(|a| *id < a)
            })
            .take(limit.max(1) as usize + 1)
            .map(|(_, r)| r.clone())
            .collect();
        Ok(page_of(items, limit, |r| run_cursor(&r.job_id)))
    }
}

impl ScheduleClaims for MemoryPipelines {
    fn claim_tick(&self, pipeline_id: &PipelineId, tick: Timestamp, _now: Timestamp) -> Result<bool, PipelinesError> {
        Ok(self.state()?.ticks.insert((pipeline_id.clone(), tick)))
    }

    fn purge_ticks(&self, before: Timestamp) -> Result<u64, PipelinesError> {
        let mut state = self.state()?;
        let n = state.ticks.len();
        state.ticks.retain(|(_, tick)| *tick >= before);
        Ok(u64::try_from(n - state.ticks.len()).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    crate::pipeline_store_contract_tests!(crate::memory::MemoryPipelines::new());
}
