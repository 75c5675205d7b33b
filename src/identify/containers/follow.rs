//! Follows the engine for as long as the directory exists: subscribes to `/events`, lists the
//! running containers, then applies each event as it comes, asking the engine about a changed
//! container in a task of its own. When the engine goes away the map is emptied and the follower
//! reconnects with bounded backoff; it never keeps a map the engine can no longer vouch for.

use std::sync::Weak;
use std::time::Duration;

use http::StatusCode;
use http_body_util::BodyExt;

use super::answers::{inspect, parse_listing};
use super::directory::Directory;
use super::events::{change_for, Change, EVENTS_FILTER};
use super::unknown::MAX_LISTING;
use super::DiscoveryError;
use crate::forward::Upstream;
use crate::lookup::{fetch, percent_encode, send, LookupError, API};

/// The longest line of `/events` read; one event is well under a KB.
pub(super) const MAX_EVENT_LINE: usize = 1 << 20;
const BACKOFF_FIRST: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// Follows the engine for as long as the directory exists.
pub(super) async fn follow(directory: Weak<Directory>, upstream: Upstream) {
    let mut backoff = BACKOFF_FIRST;
    while directory.strong_count() > 0 {
        match follow_once(&directory, &upstream, &mut backoff).await {
            Ok(()) => tracing::debug!("engine closed the event stream; reconnecting"),
            Err(e) => tracing::warn!("{}", lost(&e, backoff)),
        }
        // Once the stream is gone the engine may hand a known address to a new container unseen.
        match directory.upgrade() {
            Some(directory) => directory.replace_all(Vec::new()),
            None => return,
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// The line logged when the engine is lost: the error's own text and the wait in milliseconds,
/// never Rust's debug rendering of either.
fn lost(error: &dyn std::fmt::Display, backoff: Duration) -> String {
    format!("container discovery lost the engine: {error}; retrying in {} ms", backoff.as_millis())
}

/// One connection's worth: subscribe, list, then apply events until the stream ends. Subscribing
/// first means nothing that happens during the listing is missed (dockerd flushes the `/events`
/// headers at once, api/server/router/system/system_routes.go `getEvents`).
async fn follow_once(
    directory: &Weak<Directory>,
    upstream: &Upstream,
    backoff: &mut Duration,
) -> Result<(), DiscoveryError> {
    let path = format!("{API}/events?filters={}", percent_encode(EVENTS_FILTER));
    let events = send(upstream, &path).await?;
    let list = format!("{API}/containers/json");
    let listing = fetch(upstream, &list, MAX_LISTING).await?;
    let listing = listing.ok_or(LookupError::Status { path: list, status: StatusCode::NOT_FOUND })?;
    let listing = parse_listing(&listing)?;
    match directory.upgrade() {
        Some(directory) => {
            directory.replace_all(listing);
            directory.mark_listed();
        }
        None => return Ok(()),
    }
    *backoff = BACKOFF_FIRST;
    let mut body = events.into_body();
    let mut pending: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| LookupError::Body { path: path.clone(), reason: e.to_string() })?;
        let Ok(data) = frame.into_data() else { continue };
        pending.extend_from_slice(&data);
        // dockerd writes each event with a `json.Encoder`, so every object ends with `\n`.
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let Some(change) = change_for(&line)? else { continue };
            let Some(strong) = directory.upgrade() else { return Ok(()) };
            match change {
                Change::Forget(id) => strong.forget(&id),
                Change::Refresh(id) => refresh(&strong, directory, upstream, id),
            }
        }
        if pending.len() > MAX_EVENT_LINE {
            return Err(DiscoveryError::EventTooLong);
        }
    }
    Ok(())
}

/// Takes container `id` out of the map and asks the engine what it is now, in a task of its own
/// so that an answer the engine holds back holds back no other event.
fn refresh(strong: &Directory, directory: &Weak<Directory>, upstream: &Upstream, id: String) {
    let number = strong.begin_refresh(&id);
    let slots = strong.refresh_slots.clone();
    let (directory, upstream) = (directory.clone(), upstream.clone());
    tokio::spawn(async move {
        let Ok(_slot) = slots.acquire_owned().await else { return };
        let found = match inspect(&upstream, &id).await {
            Ok(found) => found,
            Err(e) => {
                // Out of the map until a listing or another event names it.
                tracing::debug!("cannot ask the engine about container `{id}`: {e}");
                None
            }
        };
        if let Some(directory) = directory.upgrade() {
            directory.finish_refresh(&id, number, found);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forward::ForwardError;

    #[test]
    fn the_backoff_line_reads_as_text() {
        let error = DiscoveryError::from(LookupError::from(ForwardError::Unavailable {
            addr: "unix:///var/run/docker.sock".into(),
            reason: "connection refused".into(),
        }));
        assert_eq!(
            lost(&error, BACKOFF_FIRST),
            "container discovery lost the engine: docker engine at `unix:///var/run/docker.sock` is unavailable: \
             connection refused; retrying in 200 ms"
        );
        let timeout = DiscoveryError::from(LookupError::Timeout { path: "/v1.41/events".into() });
        assert_eq!(
            lost(&timeout, BACKOFF_MAX),
            "container discovery lost the engine: engine did not answer `/v1.41/events` within 10 seconds; \
             retrying in 10000 ms"
        );
    }
}
