//! What one line of the engine's `/events` stream means for the directory: forget a container,
//! or ask the engine about it again. It trusts no attribute of an event beyond the container's id
//! and applies nothing itself.

use crate::engine::container::is_id;
use crate::engine::event::Event;

use super::DiscoveryError;

/// The event actions that can change a container's name, labels, addresses or liveness. dockerd
/// matches `event` filters exactly, and different keys must all match (daemon/events/filter.go).
pub(super) const EVENTS_FILTER: &str = r#"{"type":["container","network"],"event":["start","restart","die","destroy","rename","update","connect","disconnect"]}"#;

/// What one event means for the map.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Change {
    Forget(String),
    /// Ask the engine again rather than trust the event's attributes.
    Refresh(String),
}

/// The change one line of `/events` asks for, if it touches a container.
pub(super) fn change_for(line: &[u8]) -> Result<Option<Change>, DiscoveryError> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let event: Event = serde_json::from_slice(line)?;
    let id = match event.kind.as_str() {
        "container" => event.actor.id,
        // Network events name the container in an attribute (daemon/events.go
        // `LogNetworkEventWithAttributes`); a network's own create or destroy names none.
        "network" => match event.actor.attributes.and_then(|mut a| a.remove("container")) {
            Some(id) => id,
            None => return Ok(None),
        },
        _ => return Ok(None),
    };
    if !is_id(&id) {
        return Ok(None);
    }
    Ok(Some(match (event.kind.as_str(), event.action.as_str()) {
        ("container", "die" | "destroy") => Change::Forget(id),
        _ => Change::Refresh(id),
    }))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{ID, OTHER};
    use super::*;

    #[test]
    fn turns_events_into_changes() {
        // Lines as dockerd 20.10 writes them (old `status`/`id` fields beside `Type`/`Action`/`Actor`).
        let container = |action: &str| {
            format!(
                r#"{{"status":"{action}","id":"{ID}","Type":"container","Action":"{action}","Actor":{{"ID":"{ID}","Attributes":{{"name":"c","team":"blue"}}}},"scope":"local","time":1}}"#
            )
        };
        let change = |line: &str| change_for(line.as_bytes()).ok().flatten();
        assert_eq!(change(&container("start")), Some(Change::Refresh(ID.into())));
        assert_eq!(change(&container("rename")), Some(Change::Refresh(ID.into())));
        assert_eq!(change(&container("die")), Some(Change::Forget(ID.into())));
        assert_eq!(change(&container("destroy")), Some(Change::Forget(ID.into())));
        let connect = format!(
            r#"{{"Type":"network","Action":"connect","Actor":{{"ID":"{OTHER}","Attributes":{{"container":"{ID}","name":"n","type":"bridge"}}}}}}"#
        );
        assert_eq!(change(&connect), Some(Change::Refresh(ID.into())));
        let destroyed = format!(
            r#"{{"Type":"network","Action":"destroy","Actor":{{"ID":"{OTHER}","Attributes":{{"name":"n"}}}}}}"#
        );
        assert_eq!(change(&destroyed), None);
        let image = format!(r#"{{"Type":"image","Action":"pull","Actor":{{"ID":"{ID}"}}}}"#);
        assert_eq!(change(&image), None);
        let odd_id = r#"{"Type":"container","Action":"start","Actor":{"ID":"../../etc"}}"#;
        assert_eq!(change(odd_id), None);
        assert_eq!(change(" \r\n"), None);
        assert!(change_for(b"{\"Type\":").is_err());
    }
}
