//! Stamps the caller's owner, under ownership, on what it creates: a container's, volume's or
//! network's `Labels` and a build's `labels` query. A client may send its own owner name there and
//! no other; it never removes a label the client set for itself, and it does no I/O.

use crate::inspect::json::{self, Json};
use crate::inspect::InspectError;
use crate::tenancy::Tenant;

/// A volume or network create body with the tenant's owner label added to its `Labels`.
pub fn owned(body: &[u8], tenant: &Tenant) -> Result<Vec<u8>, InspectError> {
    let mut tree = json::parse(body)?;
    if matches!(tree, Json::Null) {
        tree = Json::Object(Vec::new());
    }
    let Json::Object(top) = &mut tree else {
        return Err(InspectError::Invalid("the request body is not an object".into()));
    };
    own(top, tenant)?;
    Ok(json::to_bytes(&tree))
}

/// A build's query with the tenant's owner label merged into its `labels`, which the image it
/// builds carries (`build_routes.go` reads `labels` as a JSON object).
pub fn owned_build_query(raw: Option<&str>, tenant: &Tenant) -> Result<String, InspectError> {
    let query = crate::inspect::query::Query::parse(raw.unwrap_or(""))?;
    let given = query.get("labels")?.unwrap_or("");
    let mut labels = if given.trim().is_empty() { Json::Object(Vec::new()) } else { json::parse(given.as_bytes())? };
    let Json::Object(members) = &mut labels else {
        return Err(InspectError::Invalid("query labels is not a JSON object".into()));
    };
    check_sent(members, tenant)?;
    members.retain(|(k, _)| *k != tenant.label);
    members.push((tenant.label.clone(), Json::String(tenant.owner.clone())));
    Ok(crate::lookup::with_param(raw, "labels", &String::from_utf8_lossy(&json::to_bytes(&labels))))
}

/// Adds the tenant's owner label to `Labels`; a client may send its own name there, no other.
pub(super) fn own(top: &mut Vec<(String, Json)>, tenant: &Tenant) -> Result<(), InspectError> {
    let label = (tenant.label.clone(), Json::String(tenant.owner.clone()));
    match top.iter_mut().find(|(k, _)| json::fold_key(k) == "LABELS") {
        Some((_, Json::Object(labels))) => {
            check_sent(labels, tenant)?;
            labels.retain(|(k, _)| *k != tenant.label);
            labels.push(label);
        }
        Some((_, value)) => *value = Json::Object(vec![label]),
        None => top.push(("Labels".into(), Json::Object(vec![label]))),
    }
    Ok(())
}

fn check_sent(labels: &[(String, Json)], tenant: &Tenant) -> Result<(), InspectError> {
    let sent: Vec<(&str, &str)> =
        labels.iter().map(|(k, v)| (k.as_str(), if let Json::String(s) = v { s.as_str() } else { "" })).collect();
    tenant.check_sent(&sent).map_err(|e| InspectError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::super::{create, Create};
    use super::*;

    #[test]
    fn owners_are_stamped_and_no_other_owner_is_taken() {
        let tenant = Tenant { label: "io.sockgate.owner".into(), owner: "uid:1000".into() };
        let out = owned(br#"{"Name":"v","Labels":{"a":"1"}}"#, &tenant).unwrap_or_default();
        assert_eq!(String::from_utf8_lossy(&out), r#"{"Name":"v","Labels":{"a":"1","io.sockgate.owner":"uid:1000"}}"#);
        assert!(owned(br#"{"Labels":{"io.sockgate.owner":"uid:0"}}"#, &tenant).is_err());
        assert!(owned(br#"{"Labels":{"io.sockgate.owner":"uid:1000"}}"#, &tenant).is_ok());
        let query = owned_build_query(Some("t=app&labels=%7B%22a%22%3A%221%22%7D"), &tenant).unwrap_or_default();
        assert_eq!(query, "t=app&labels=%7B%22a%22%3A%221%22%2C%22io.sockgate.owner%22%3A%22uid%3A1000%22%7D");
        assert!(owned_build_query(Some("labels=%7B%22io.sockgate.owner%22%3A%22x%22%7D"), &tenant).is_err());
        let amend = Create { private_cgroupns: false, created_by: "", tenant: Some(&tenant) };
        let body = create(br#"{"Image":"a"}"#, amend).ok().flatten().unwrap_or_default();
        assert!(String::from_utf8_lossy(&body).contains(r#""io.sockgate.owner":"uid:1000""#));
    }
}
