//! Amends an allowed request where the engine would otherwise fill in more than the policy
//! allows. One case today: a container create that leaves `CgroupnsMode` empty gets the engine's
//! default cgroup namespace, which is the host's on cgroup v1 hosts (`daemon/config` default
//! `host` there) and for every create below API 1.41 on them (`postContainersCreate`). Where the
//! policy forbids host namespaces, sockgate sets `private` explicitly instead of refusing every
//! plain `docker run` on such hosts.
//!
//! The body is rewritten from the tree sockgate inspected, which holds no key twice (inspection
//! refused those), so the engine reads exactly what was judged plus the one field. It judges
//! nothing and does no I/O.

use crate::inspect::json::{self, Json};
use crate::inspect::InspectError;

/// The create body with `CgroupnsMode: "private"` set where the engine would pick its default,
/// or `None` when the body already names a mode (or is not an object: the engine refuses it).
pub fn private_cgroupns(body: &[u8]) -> Result<Option<Vec<u8>>, InspectError> {
    let mut tree = json::parse(body)?;
    let Json::Object(top) = &mut tree else { return Ok(None) };
    // dockerd uses the inner `HostConfig` when there is one, else the deprecated top-level fields
    // (`runconfig` `getHostConfig`).
    let host_config = top.iter_mut().find(|(k, v)| json::fold_key(k) == "HOSTCONFIG" && !matches!(v, Json::Null));
    let members = match host_config {
        Some((_, Json::Object(members))) => members,
        Some(_) => return Ok(None),
        None => top,
    };
    let mode = members.iter_mut().find(|(k, _)| json::fold_key(k) == "CGROUPNSMODE");
    match mode {
        Some((_, Json::String(mode))) if !mode.is_empty() => return Ok(None),
        Some((_, value)) => *value = Json::String("private".into()),
        None => members.push(("CgroupnsMode".into(), Json::String("private".into()))),
    }
    Ok(Some(json::to_bytes(&tree)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amended(body: &str) -> Option<String> {
        private_cgroupns(body.as_bytes()).ok().flatten().map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    #[test]
    fn an_unset_mode_becomes_private_where_dockerd_reads_it() {
        assert_eq!(
            amended(r#"{"Image":"a","HostConfig":{"Memory":1}}"#).as_deref(),
            Some(r#"{"Image":"a","HostConfig":{"Memory":1,"CgroupnsMode":"private"}}"#)
        );
        assert_eq!(
            amended(r#"{"Image":"a","hostconfig":{"cgroupnsmode":""}}"#).as_deref(),
            Some(r#"{"Image":"a","hostconfig":{"cgroupnsmode":"private"}}"#)
        );
        // No inner HostConfig: the top-level (deprecated, embedded) one is what dockerd uses.
        assert_eq!(amended(r#"{"Image":"a"}"#).as_deref(), Some(r#"{"Image":"a","CgroupnsMode":"private"}"#));
        assert_eq!(
            amended(r#"{"Image":"a","HostConfig":null}"#).as_deref(),
            Some(r#"{"Image":"a","HostConfig":null,"CgroupnsMode":"private"}"#)
        );
        assert_eq!(amended(r#"{"Image":"a","HostConfig":{"CgroupnsMode":"host"}}"#), None);
        assert_eq!(amended(r#"{"Image":"a","HostConfig":{"CgroupnsMode":"private"}}"#), None);
        assert_eq!(amended("[]"), None);
    }

    #[test]
    fn everything_else_reads_the_same() {
        let body = r#"{"Image":"a\u00e9\"b","Env":["X=1"],"HostConfig":{"Binds":["v:/v"],"Memory":1.5e3,"N":-1,"T":true,"U":null},"Labels":{"a":"b"}}"#;
        let out = amended(body).unwrap_or_default();
        let before: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        let mut after: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        if let Some(hc) = after.get_mut("HostConfig").and_then(|h| h.as_object_mut()) {
            assert_eq!(hc.remove("CgroupnsMode"), Some(serde_json::json!("private")));
        }
        assert_eq!(before, after);
    }
}
