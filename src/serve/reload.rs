//! Reloads while serving: policies (and the configuration file's profiles) when a file changes
//! or on `SIGHUP`, certificates and the audit log file on `SIGHUP`, and the learned policy written
//! on `SIGUSR1`. A reload applies all at once or not at all: an error anywhere keeps every old
//! policy. It does not add or remove listeners; a restart does that.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;

use super::ListenerState;
use crate::config::{ListenerConfig, PolicySource};
use crate::diagnostics::Problems;
use crate::profile::Profiles;
use crate::record::learn::LearnError;
use crate::record::Recorder;

/// How often policy and configuration files are checked for changes.
const FILE_POLL: Duration = Duration::from_secs(2);

/// Reloads policies (and the configuration file's profiles) all at once, or not at all.
pub(super) struct Reloader {
    pub(super) config_file: Option<PathBuf>,
    pub(super) listeners: Mutex<Vec<ListenerConfig>>,
    pub(super) states: Vec<Arc<ListenerState>>,
    pub(super) recorder: Arc<Recorder>,
}

impl Reloader {
    fn current(&self) -> Vec<ListenerConfig> {
        self.listeners.lock().clone()
    }

    /// Loads every listener's policies again; an error anywhere keeps every old policy.
    fn reload(&self) {
        let mut configs = self.current();
        if let Some(file) = &self.config_file {
            match crate::config::file::load(file) {
                Ok(fresh) => {
                    for config in &mut configs {
                        match fresh.listeners.iter().find(|f| f.addr == config.addr) {
                            Some(f) => *config = f.clone(),
                            None => {
                                tracing::warn!(listener = %config.addr, "listener removed from the configuration: a restart applies that")
                            }
                        }
                    }
                }
                Err(errors) => return self.failed(&errors),
            }
        }
        let loaded = match Profiles::load_all(&configs) {
            Ok(loaded) => loaded,
            Err(errors) => return self.failed(&errors),
        };
        for (state, profiles) in self.states.iter().zip(loaded) {
            state.profiles.store(Arc::new(profiles));
        }
        *self.listeners.lock() = configs;
        self.recorder.metrics.reloads.with_label_values(&["ok"]).inc();
        tracing::info!("policies reloaded");
    }

    fn failed(&self, errors: &Problems) {
        self.recorder.metrics.reloads.with_label_values(&["failed"]).inc();
        for error in &errors.0 {
            tracing::error!("reload refused, the old policies stay: {error}");
        }
    }

    /// The files whose change triggers a reload, with what they looked like.
    fn snapshot(&self) -> Vec<(PathBuf, Option<(SystemTime, u64)>)> {
        let mut files: Vec<PathBuf> = self.config_file.iter().cloned().collect();
        for config in self.current() {
            for source in std::iter::once(&config.policy).chain(config.profiles.iter().map(|p| &p.policy)) {
                if let PolicySource::Files(paths) = source {
                    files.extend(paths.iter().cloned());
                }
            }
        }
        files.sort();
        files.dedup();
        files
            .into_iter()
            .map(|path| {
                let stamp = std::fs::metadata(&path).ok().and_then(|m| Some((m.modified().ok()?, m.len())));
                (path, stamp)
            })
            .collect()
    }
}

/// `SIGHUP` reloads certificates, policies and the audit log file; `SIGUSR1` writes what learn mode learnt.
pub(super) async fn handle_signals(reloader: Arc<Reloader>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut hangups), Ok(mut user1)) = (signal(SignalKind::hangup()), signal(SignalKind::user_defined1())) else {
        return;
    };
    loop {
        tokio::select! {
            Some(()) = hangups.recv() => {
                for state in &reloader.states {
                    if let Some(tls) = &state.tls {
                        match tls.reload() {
                            Ok(()) => tracing::info!(listener = %state.listener.name(), "TLS certificates reloaded"),
                            Err(e) => tracing::error!(listener = %state.listener.name(), "TLS reload failed, keeping the old certificates: {e}"),
                        }
                    }
                }
                if let Some(audit) = &reloader.recorder.audit {
                    if let Err(e) = audit.reopen() {
                        tracing::error!("cannot reopen the audit log: {e}");
                    }
                }
                reloader.reload();
            }
            Some(()) = user1.recv() => {
                if let Err(e) = write_learned(&reloader.recorder) {
                    tracing::error!("{e}");
                }
            }
            else => return,
        }
    }
}

/// Reloads when a policy or configuration file changes (checked every two seconds).
pub(super) async fn watch_files(reloader: Arc<Reloader>) {
    let mut last = reloader.snapshot();
    loop {
        tokio::time::sleep(FILE_POLL).await;
        let now = reloader.snapshot();
        if now != last {
            tracing::info!("a policy or configuration file changed");
            reloader.reload();
            last = reloader.snapshot();
        }
    }
}

/// Writes what learn mode learnt, when it is on.
pub(super) fn write_learned(recorder: &Recorder) -> Result<(), LearnError> {
    if let Some(learner) = &recorder.learner {
        learner.write()?;
        tracing::info!(file = %learner.output().display(), "learned policy written");
    }
    Ok(())
}
