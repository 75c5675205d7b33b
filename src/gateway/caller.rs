//! Who is asking on one connection, as the gateway names them in messages and logs. It
//! identifies nobody itself; it asks the containers directory again when the engine's containers
//! change.

use std::sync::Arc;

use crate::identify::containers::Directory;
use crate::identify::Identity;
use crate::policy::Policy;
use crate::record::Recorder;

/// Who is asking on one connection. A caller that is a container is identified again whenever
/// the engine's containers change, so its requests are judged as what it is now, never on a stale
/// answer kept for the connection's lifetime.
pub struct Caller {
    identity: parking_lot::Mutex<Arc<Identity>>,
    /// The directory's generation the identity was resolved under.
    resolved_at: std::sync::atomic::AtomicU64,
    /// Where this connection's requests are recorded: a handle of its own on the gateway's
    /// recorder, which each request's record holds until its answer is done.
    recorder: Arc<Recorder>,
}

impl Caller {
    /// A caller whose identity was resolved when the directory was at `generation`, whose
    /// requests are recorded by `recorder`.
    pub fn new(identity: Arc<Identity>, generation: u64, recorder: &Recorder) -> Caller {
        Caller {
            identity: parking_lot::Mutex::new(identity),
            resolved_at: std::sync::atomic::AtomicU64::new(generation),
            recorder: Arc::new(recorder.clone()),
        }
    }

    pub(super) fn recorder(&self) -> &Arc<Recorder> {
        &self.recorder
    }

    /// Who the caller is, as last resolved.
    pub fn identity(&self) -> Arc<Identity> {
        self.identity.lock().clone()
    }

    /// Identifies the caller again if the engine's containers changed since it last was.
    pub async fn refresh(&self, directory: &Directory) {
        use std::sync::atomic::Ordering;
        let now = directory.generation();
        if self.resolved_at.load(Ordering::Acquire) == now {
            return;
        }
        // Boxed: looking the caller up again is rare, and its state would otherwise make every
        // request's future as large as itself.
        Box::pin(self.identify_again(directory, now)).await;
    }

    async fn identify_again(&self, directory: &Directory, now: u64) {
        use std::sync::atomic::Ordering;
        let current = self.identity();
        let fresh = current.rediscover(directory).await;
        self.resolved_at.store(now, Ordering::Release);
        if fresh.container != current.container {
            tracing::info!(was = %current, now = %fresh, "the caller's container changed; its next requests are judged as it is now");
            *self.identity.lock() = Arc::new(fresh);
        }
    }
}

/// Who a connection's requests are judged as, and by what: made once per identity and profile,
/// not per request.
pub struct Judging {
    pub identity: Arc<Identity>,
    /// How messages and logs name the caller: its identity, with the profile that chose its policy.
    pub name: Arc<str>,
    /// The profile that chose the policy, if one matched.
    pub profile: Option<Arc<str>>,
    pub policy: Arc<Policy>,
}

impl Judging {
    pub fn new(identity: Arc<Identity>, profile: Option<Arc<str>>, policy: Arc<Policy>) -> Judging {
        let name = match &profile {
            Some(profile) => format!("{identity}, profile `{profile}`"),
            None => identity.to_string(),
        };
        Judging { identity, name: Arc::from(name), profile, policy }
    }
}
