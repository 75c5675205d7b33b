//! Amends an allowed create before it is sent, in these ways:
//!
//! - a create that leaves `CgroupnsMode` empty gets the engine's default cgroup namespace, which
//!   is the host's on cgroup v1 hosts (`daemon/config` default `host` there) and for every create
//!   below API 1.41 on them (`postContainersCreate`). Where the policy forbids host namespaces,
//!   sockgate sets `private` explicitly instead of refusing every plain `docker run` there;
//! - every container gets the label [`CREATED_BY`] naming the profile that created it, so a
//!   profile that matches callers by container name or label never takes a container another
//!   profile made for itself (profile matching reads this label);
//! - under ownership, what a caller creates carries its owner name ([`owner`]).
//!
//! The body is rewritten from the tree sockgate inspected, which holds no key twice (inspection
//! refused those), so the engine reads exactly what was judged plus the one field. It judges
//! nothing and does no I/O.

pub mod owner;

use crate::inspect::json::{self, Json};
use crate::inspect::InspectError;
use crate::references::CREATED_BY;
use crate::tenancy::Tenant;

pub use owner::{owned, owned_build_query};

/// What to change in a create body.
#[derive(Debug, Clone, Copy)]
pub struct Create<'a> {
    /// Set `CgroupnsMode: "private"` where the body leaves it to the engine.
    pub private_cgroupns: bool,
    /// The profile the caller was served by (empty for a listener's default policy).
    pub created_by: &'a str,
    /// Under ownership: the caller, whose name every container it creates carries.
    pub tenant: Option<&'a Tenant>,
}

/// The create body with the amendments made, or `None` when it is not an object (the engine
/// refuses it as it is).
pub fn create(body: &[u8], amend: Create<'_>) -> Result<Option<Vec<u8>>, InspectError> {
    let mut tree = json::parse(body)?;
    let Json::Object(top) = &mut tree else { return Ok(None) };
    if amend.private_cgroupns {
        set_private_cgroupns(top);
    }
    stamp(top, amend.created_by);
    if let Some(tenant) = amend.tenant {
        owner::own(top, tenant)?;
    }
    Ok(Some(json::to_bytes(&tree)))
}

/// Sets [`CREATED_BY`] in `Labels` (the embedded `container.Config`'s), replacing whatever a
/// client sent there (a sockgate in front of this one stamps it too).
fn stamp(top: &mut Vec<(String, Json)>, created_by: &str) {
    let label = (CREATED_BY.to_owned(), Json::String(created_by.to_owned()));
    match top.iter_mut().find(|(k, _)| json::fold_key(k) == "LABELS") {
        Some((_, Json::Object(labels))) => {
            labels.retain(|(k, _)| k != CREATED_BY);
            labels.push(label);
        }
        Some((_, value)) => *value = Json::Object(vec![label]),
        None => top.push(("Labels".into(), Json::Object(vec![label]))),
    }
}

/// Sets `CgroupnsMode: "private"` where the engine would pick its default.
fn set_private_cgroupns(top: &mut Vec<(String, Json)>) {
    // dockerd uses the inner `HostConfig` when there is one, else the deprecated top-level fields
    // (`runconfig` `getHostConfig`).
    let host_config = top.iter_mut().find(|(k, v)| json::fold_key(k) == "HOSTCONFIG" && !matches!(v, Json::Null));
    let members = match host_config {
        Some((_, Json::Object(members))) => members,
        Some(_) => return,
        None => top,
    };
    let mode = members.iter_mut().find(|(k, _)| json::fold_key(k) == "CGROUPNSMODE");
    match mode {
        Some((_, Json::String(mode))) if !mode.is_empty() => {}
        Some((_, value)) => *value = Json::String("private".into()),
        None => members.push(("CgroupnsMode".into(), Json::String("private".into()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The body with only the cgroup namespace amended (the stamp taken out again).
    fn amended(body: &str) -> Option<String> {
        let amend = Create { private_cgroupns: true, created_by: "ci", tenant: None };
        let out = create(body.as_bytes(), amend).ok().flatten().map(|b| String::from_utf8_lossy(&b).into_owned())?;
        let stamp = format!(r#""{CREATED_BY}":"ci""#);
        let out = out.replace(&format!(r#","Labels":{{{stamp}}}"#), "").replace(&format!(",{stamp}"), "");
        (out != body).then_some(out)
    }

    #[test]
    fn every_create_is_stamped_with_its_profile() {
        let stamp = |body: &str, by: &str| {
            let amend = Create { private_cgroupns: false, created_by: by, tenant: None };
            create(body.as_bytes(), amend).ok().flatten().map(|b| String::from_utf8_lossy(&b).into_owned())
        };
        assert_eq!(
            stamp(r#"{"Image":"a"}"#, "ci").as_deref(),
            Some(r#"{"Image":"a","Labels":{"io.sockgate.created-by":"ci"}}"#)
        );
        assert_eq!(
            stamp(r#"{"Image":"a","labels":{"x":"1"}}"#, "").as_deref(),
            Some(r#"{"Image":"a","labels":{"x":"1","io.sockgate.created-by":""}}"#)
        );
        assert_eq!(
            stamp(r#"{"Image":"a","Labels":null}"#, "ci").as_deref(),
            Some(r#"{"Image":"a","Labels":{"io.sockgate.created-by":"ci"}}"#)
        );
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
    fn a_stamp_a_client_sent_is_replaced() {
        let amend = Create { private_cgroupns: false, created_by: "ci", tenant: None };
        let body = br#"{"Image":"a","Labels":{"io.sockgate.created-by":"admin"}}"#;
        let out = create(body, amend).ok().flatten().unwrap_or_default();
        assert_eq!(String::from_utf8_lossy(&out), r#"{"Image":"a","Labels":{"io.sockgate.created-by":"ci"}}"#);
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
