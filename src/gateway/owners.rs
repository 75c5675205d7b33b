//! Ownership wiring on the request path: which references the engine must be asked about, where a
//! request is sent once the engine named its objects, and the narrowed `system df` answer. The
//! ownership checks themselves live in [`crate::tenancy`].

use bytes::Bytes;
use http::{header, HeaderValue, Response};
use http_body_util::{BodyExt, Limited};

use crate::body::{self, Body};
use crate::classify::{Classified, ObjectKind, Operation};
use crate::error::GatewayError;
use crate::inspect::{self, Resolved};
use crate::normalize::Target;
use crate::tenancy::{self, Tenant};

/// Sends the request to the objects the engine named when it was asked: an exec to its
/// container's full id (one the engine does not know is answered 404 here, so no container that
/// takes the name later gets an exec judged for another), a connect to its network's full id.
pub(super) fn pin_resolved(
    target: &mut Target,
    classified: &Classified,
    resolved: &Resolved,
    owned: bool,
) -> Result<(), GatewayError> {
    let name = classified.resource.as_deref().unwrap_or_default();
    let not_found = || GatewayError::NotFound(tenancy::NotFound::Container(name.to_owned()));
    match (classified.operation, classified.operation.object()) {
        (Operation::EXEC_CREATE, _) => {
            let container = resolved.container(name).ok_or_else(not_found)?;
            target.path = classified.path_naming(&target.path, &container.id);
        }
        // Under ownership every container and network a path names was checked by its id, and
        // the request goes to that id.
        (_, Some(ObjectKind::Container)) if owned => {
            if let Some(container) = resolved.container(name) {
                target.path = classified.path_naming(&target.path, &container.id);
            }
        }
        (_, Some(ObjectKind::Network)) => {
            if let Some(network) = resolved.network(name) {
                target.path = classified.path_naming(&target.path, &network.id);
            }
        }
        _ => {}
    }
    Ok(())
}

/// A `GET /system/df` answer narrowed to the tenant's objects.
pub(super) async fn scoped_df(response: Response<Body>, tenant: &Tenant) -> Result<Response<Body>, GatewayError> {
    const MAX_DF: usize = 64 << 20;
    let (mut parts, mut body) = response.into_parts();
    let fields = body.take_fields();
    let bytes = Limited::new(body, MAX_DF)
        .collect()
        .await
        .map_err(|e| {
            GatewayError::Lookup(crate::lookup::LookupError::Body { path: "/system/df".into(), reason: e.to_string() })
        })?
        .to_bytes();
    let scoped = if parts.status.is_success() { tenant.scope_df(&bytes).map(Bytes::from) } else { None };
    let bytes = scoped.unwrap_or(bytes);
    parts.headers.remove(header::TRANSFER_ENCODING);
    parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    let body = body::full(bytes);
    Ok(Response::from_parts(
        parts,
        match fields {
            Some(fields) => body.with_fields(fields),
            None => body,
        },
    ))
}

/// Containers' owners by full id: labels never change after create, so a request that names a
/// container by its full id is checked without asking the engine again. Bounded; ids are never
/// reused, so a removed container's entry is only dead weight until the map is cleared.
#[derive(Default)]
pub(super) struct Owners {
    by_id: parking_lot::Mutex<std::collections::HashMap<String, Option<String>>>,
    label: parking_lot::Mutex<Option<String>>,
}

const OWNERS_KEPT: usize = 65_536;

impl Owners {
    /// Splits `references` into those the engine must be asked about and those already known to
    /// be `tenant`'s; a reference known to be another's is answered as missing at once.
    pub(super) fn known(
        &self,
        tenant: &Tenant,
        classified: &Classified,
        references: &[inspect::Reference],
    ) -> Result<(Vec<inspect::Reference>, Vec<inspect::Reference>), GatewayError> {
        // An exec is judged by its container's user and privileges: always asked.
        if classified.operation == Operation::EXEC_CREATE {
            return Ok((references.to_vec(), Vec::new()));
        }
        *self.label.lock() = Some(tenant.label.clone());
        let by_id = self.by_id.lock();
        let mut asked = Vec::new();
        let mut owned = Vec::new();
        for reference in references {
            match reference {
                inspect::Reference::Container(id) if is_full_id(id) => match by_id.get(id) {
                    Some(Some(owner)) if *owner == tenant.owner => owned.push(reference.clone()),
                    Some(_) => return Err(GatewayError::NotFound(tenancy::NotFound::Container(id.clone()))),
                    None => asked.push(reference.clone()),
                },
                _ => asked.push(reference.clone()),
            }
        }
        Ok((asked, owned))
    }

    /// Keeps the owners of the containers the engine described.
    pub(super) fn remember(&self, resolved: &Resolved) {
        let Some(label) = self.label.lock().clone() else {
            return;
        };
        let mut by_id = self.by_id.lock();
        for (_, container) in &resolved.containers {
            if let Some(container) = container {
                if by_id.len() >= OWNERS_KEPT {
                    by_id.clear();
                }
                by_id.insert(container.id.clone(), container.labels.get(&label).cloned());
            }
        }
    }
}

fn is_full_id(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
