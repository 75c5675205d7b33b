//! Which operations inspection reads, and the one function that reads each: the table a new
//! route must join if its body or query can reach the host. It reads no bytes itself.

use super::container;
use super::json;
use super::objects;
use super::query::Query;
use super::{Finding, InspectError, Inspection, Kind, Reads, Reference, Request};
use crate::classify::{ObjectKind, Operation};

/// Reads one operation's body and query into an inspection.
type Run = fn(&Request<'_>, &Query, &mut Inspection) -> Result<(), InspectError>;

/// How one operation is inspected: what must be read, and what reads it.
#[derive(Clone, Copy)]
pub struct Inspector {
    pub reads: Reads,
    pub(super) run: Run,
}

/// What must be read of a request for `operation`.
pub fn reads(operation: Operation) -> Reads {
    inspector(operation).map_or(Reads::Nothing, |i| i.reads)
}

/// The inspector of `operation`, or `None` where nothing in its body or query can reach the host.
pub fn inspector(operation: Operation) -> Option<Inspector> {
    let (reads, run): (Reads, Run) = match operation {
        Operation::CONTAINERS_CREATE => (Reads::Body, create),
        Operation::CONTAINERS_UPDATE => (Reads::Body, |r, _, out| container::update(&body(r)?, &mut out.findings)),
        Operation::CONTAINERS_START => {
            (Reads::Body, |_, q, out| objects::checkpoint_query(q, "checkpoint-dir", true, &mut out.findings))
        }
        Operation::EXEC_CREATE => (Reads::Body, exec),
        Operation::SERVICES_CREATE | Operation::SERVICES_UPDATE => {
            (Reads::Body, |r, _, out| objects::service(&body(r)?, &mut out.findings))
        }
        Operation::VOLUMES_CREATE => (Reads::Body, |r, _, out| objects::volume(&body(r)?, &mut out.findings)),
        Operation::NETWORKS_CREATE => (Reads::Body, |r, _, out| objects::network(&body(r)?, &mut out.findings)),
        Operation::NETWORKS_CONNECT => {
            (Reads::Body, |r, _, out| container::connect(&body(r)?, r.resolved, &mut out.findings, &mut out.references))
        }
        Operation::SWARM_INIT | Operation::SWARM_UPDATE => {
            (Reads::Body, |r, _, out| objects::swarm(&body(r)?, &mut out.findings))
        }
        Operation::CONTAINERS_CHECKPOINTS_CREATE => {
            (Reads::Body, |r, _, out| objects::checkpoint_create(&body(r)?, &mut out.findings))
        }
        Operation::PLUGINS_PULL | Operation::PLUGINS_UPGRADE => {
            (Reads::Body, |r, q, out| objects::plugin(q, &body(r)?, &mut out.findings))
        }
        Operation::IMAGES_BUILD => (Reads::Query, |_, q, out| objects::build(q, &mut out.findings)),
        Operation::IMAGES_CREATE => (Reads::Query, |_, q, out| objects::pull(q, &mut out.findings)),
        Operation::CONTAINERS_COMMIT | Operation::IMAGES_TAG => {
            (Reads::Query, |_, q, out| objects::commit(q, &mut out.findings))
        }
        Operation::CONTAINERS_CHECKPOINTS_LIST => {
            (Reads::Query, |_, q, out| objects::checkpoint_query(q, "dir", true, &mut out.findings))
        }
        Operation::CONTAINERS_CHECKPOINTS_DELETE => {
            (Reads::Query, |_, q, out| objects::checkpoint_query(q, "dir", false, &mut out.findings))
        }
        Operation::CONTAINERS_RENAME => (Reads::Query, |_, q, out| objects::name(q, "name", &mut out.findings)),
        // A plugin made from a tarball grants itself what its config asks, and a plugin's settings
        // name host mounts and devices; neither is read, so both count as privileged.
        Operation::PLUGINS_CREATE => (Reads::Nothing, |_, _, out| {
            unread(out, "creates a plugin whose config grants its own privileges");
            Ok(())
        }),
        Operation::PLUGINS_SET => (Reads::Nothing, |_, _, out| {
            unread(out, "changes a plugin's settings, which may name host paths and devices");
            Ok(())
        }),
        _ => return None,
    };
    Some(Inspector { reads, run })
}

fn body(request: &Request<'_>) -> Result<json::Json, InspectError> {
    Ok(json::parse(request.body.unwrap_or_default())?)
}

fn unread(out: &mut Inspection, says: &str) {
    out.findings.push(Finding::new(Kind::Privileged, "the body", "plugin", says));
}

fn create(request: &Request<'_>, query: &Query, out: &mut Inspection) -> Result<(), InspectError> {
    container::create(&body(request)?, request.resolved, &mut out.findings, &mut out.references)?;
    objects::name(query, "name", &mut out.findings)
}

fn exec(request: &Request<'_>, _: &Query, out: &mut Inspection) -> Result<(), InspectError> {
    let container = match (request.resource, request.resolved) {
        (Some(name), Some(resolved)) => resolved.container(name),
        _ => None,
    };
    container::exec(&body(request)?, container, &mut out.findings)
}

/// Under ownership, every object a request names by id or name: its path's object, and the
/// containers a create joins (`container:` modes), takes volumes from or links to, the container
/// a commit snapshots and the one a network connect names.
pub(super) fn owned_references(request: &Request<'_>, references: &mut Vec<Reference>) -> Result<(), InspectError> {
    let mut add = |reference: Reference| {
        if !references.contains(&reference) {
            references.push(reference);
        }
    };
    if let Some(resource) = request.resource {
        match request.operation.object() {
            Some(ObjectKind::Container) => add(Reference::Container(resource.to_owned())),
            Some(ObjectKind::Exec) => add(Reference::Exec(resource.to_owned())),
            Some(ObjectKind::Volume) => add(Reference::Volume(resource.to_owned())),
            Some(ObjectKind::Network) => add(Reference::Network(resource.to_owned())),
            _ => {}
        }
    }
    let query = || Query::parse(request.query.unwrap_or(""));
    match request.operation {
        Operation::CONTAINERS_COMMIT => {
            if let Some(container) = query()?.get("container")?.filter(|c| !c.is_empty()) {
                add(Reference::Container(container.to_owned()));
            }
        }
        Operation::CONTAINERS_CREATE => {
            for container in container::named_containers(&json::parse(request.body.unwrap_or_default())?)? {
                add(Reference::Container(container));
            }
        }
        Operation::NETWORKS_CONNECT | Operation::NETWORKS_DISCONNECT => {
            let body = json::parse(request.body.unwrap_or_default())?;
            let container = json::Struct::new(&body, "")?.string("Container")?.to_owned();
            if !container.is_empty() {
                add(Reference::Container(container));
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Operations whose request carries a body or query (any method but `GET`, `HEAD` and
    /// `OPTIONS`) that inspection leaves unread, each with why nothing in it reaches the host.
    /// A new route that carries a body or query must either get an inspector or be listed here.
    const UNREAD: &[(&str, &str)] = &[
        ("configs.create", "swarm config data, stored by the manager"),
        ("configs.delete", "deletes by id"),
        ("configs.update", "swarm config labels"),
        ("containers.archive.put", "writes into the container's filesystem, not the host's"),
        ("containers.attach", "stream options"),
        ("containers.delete", "removal flags"),
        ("containers.kill", "a signal"),
        ("containers.pause", "no parameters"),
        ("containers.prune", "filters"),
        ("containers.resize", "terminal size"),
        ("containers.restart", "a timeout"),
        ("containers.stop", "a timeout"),
        ("containers.unpause", "no parameters"),
        ("containers.wait", "a condition"),
        ("exec.resize", "terminal size"),
        ("exec.start", "stream options; the exec's settings were judged at exec.create"),
        ("grpc", "buildkit session stream, judged as an operation"),
        ("images.build.cancel", "a build id"),
        ("images.build.prune", "filters"),
        ("images.delete", "removal flags"),
        ("images.load", "an image tarball, stored as an image"),
        ("images.prune", "filters"),
        ("images.push", "a tag and registry credentials"),
        ("networks.delete", "deletes by id"),
        ("networks.disconnect", "a container and a force flag"),
        ("networks.prune", "filters"),
        ("nodes.delete", "removal flags"),
        ("nodes.update", "swarm node spec: role, availability, labels"),
        ("plugins.delete", "removal flags"),
        ("plugins.disable", "a force flag"),
        ("plugins.enable", "a timeout"),
        ("plugins.push", "registry credentials"),
        ("secrets.create", "swarm secret data, stored by the manager"),
        ("secrets.delete", "deletes by id"),
        ("secrets.update", "swarm secret labels"),
        ("services.delete", "deletes by id"),
        ("session", "buildkit session stream, judged as an operation"),
        ("swarm.join", "join addresses and token"),
        ("swarm.leave", "a force flag"),
        ("swarm.unlock", "an unlock key"),
        ("system.auth", "registry credentials, checked by the engine"),
        ("volumes.delete", "removal flags"),
        ("volumes.prune", "filters"),
        ("volumes.update", "cluster volume availability"),
    ];

    #[test]
    fn every_operation_whose_request_can_reach_the_host_has_an_inspector() {
        let mut missing = Vec::new();
        for (method, template, operation, _) in crate::classify::typed_routes() {
            let carries = !matches!(method, "GET" | "HEAD" | "OPTIONS");
            let inspected = inspector(operation).is_some();
            let excused = UNREAD.iter().any(|(name, _)| *name == operation.name());
            assert!(!(inspected && excused), "{operation} is inspected and also listed as unread");
            if carries && !inspected && !excused {
                missing.push(format!("{method} {template} ({operation})"));
            }
        }
        assert!(missing.is_empty(), "no inspector and no reason to leave unread: {missing:#?}");
        for (name, _) in UNREAD {
            assert!(Operation::from_name(name).is_some(), "`{name}` is no operation");
        }
    }

    #[test]
    fn what_is_read_follows_the_inspector() {
        assert_eq!(reads(Operation::CONTAINERS_CREATE), Reads::Body);
        assert_eq!(reads(Operation::IMAGES_BUILD), Reads::Query);
        assert_eq!(reads(Operation::PLUGINS_SET), Reads::Nothing);
        assert!(inspector(Operation::PLUGINS_SET).is_some());
        assert_eq!(reads(Operation::CONTAINERS_LIST), Reads::Nothing);
    }
}
