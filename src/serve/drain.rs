//! Stopping: no new connections, the listeners' socket files removed, then in-flight requests
//! and tunnels given the grace period to finish. It cuts nothing before the grace period is over,
//! and after it leaves what is still open to be closed with the process.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::ListenerState;

/// Stops the accept loops, removes the listeners' socket files, and waits for `connections` and
/// `tunnels` to finish, at most `grace_period`.
pub(super) async fn drain(
    stop: &CancellationToken,
    accept_loops: &TaskTracker,
    states: &[Arc<ListenerState>],
    connections: &TaskTracker,
    tunnels: &TaskTracker,
    grace_period: Duration,
) {
    stop.cancel();
    accept_loops.wait().await;
    for state in states {
        state.listener.cleanup();
    }
    connections.close();
    tunnels.close();
    let drained = tokio::time::timeout(grace_period, async {
        connections.wait().await;
        tunnels.wait().await;
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            tunnels = tunnels.len(),
            "grace period over, closing what is still open"
        );
    }
}
