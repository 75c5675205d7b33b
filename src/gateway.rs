//! Walks one request through the pipeline: normalize, classify, check the API version, inspect,
//! resolve what the request refers to, decide, amend, record, then forward or refuse. It owns no logic of its own beyond that order; each step lives in its module.
//! [`explain`] runs the same steps on a request given as data, for `sockgate policy`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use http::{header, HeaderValue, Method, Request, Response, Uri};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;

use crate::body::{self, Body};
use crate::classify::ObjectKind;
use crate::classify::{self, Classified};
use crate::decide::Mode;
use crate::decide::{self, Decision};
use crate::error::{self, GatewayError};
use crate::forward::{self, Upstream};
use crate::identify::containers::Directory;
use crate::identify::Identity;
use crate::inspect::{self, Finding, Inspection, Reads, Resolved};
use crate::lookup::EngineVersions;
use crate::normalize::{self, Target};
use crate::policy::Policy;
use crate::record::{self, Entry, Recorder};
use crate::tenancy::{self, Tenant};
use crate::{amend, resolve};

/// How much of an unread request body is read and dropped after a refusal, so the client can
/// finish sending and read the answer on a connection that stays usable (as Go's `net/http`
/// server does with `maxPostHandlerReadBytes`).
const DRAIN_BYTES: usize = 256 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// The shared state every connection serves requests with.
pub struct Gateway {
    upstream: Upstream,
    max_body_bytes: usize,
    recorder: Arc<Recorder>,
    versions: EngineVersions,
    owners: Owners,
}

/// Everything sockgate concluded about one request.
#[derive(Debug, Clone)]
pub struct Judgement {
    pub target: Target,
    pub classified: Classified,
    pub findings: Vec<Finding>,
    pub decision: Decision,
}

impl Gateway {
    pub fn new(
        upstream: Upstream,
        max_body_bytes: usize,
        recorder: Arc<Recorder>,
        min_api_version: crate::versions::ApiVersion,
    ) -> Gateway {
        Gateway {
            upstream,
            max_body_bytes,
            recorder,
            versions: EngineVersions::new(min_api_version),
            owners: Owners::default(),
        }
    }

    /// Asks the engine for its API versions now, so the first request does not wait for it.
    pub async fn learn_versions(&self) {
        self.versions.learn(&self.upstream).await;
    }

    /// Answers one request from `caller` under `policy` (chosen for this caller, by `profile` if
    /// one matched): the engine's response, or sockgate's JSON error.
    pub async fn handle(
        &self,
        caller: &Caller,
        profile: Option<Arc<str>>,
        policy: &Policy,
        request: Request<Incoming>,
    ) -> Response<Body> {
        let (mut parts, incoming) = request.into_parts();
        let mut incoming = Some(incoming);
        let identity = caller.identity();
        let mut entry = Entry::begin(&identity, caller.name(&identity, profile.clone()), &parts.method, &parts.uri);
        match self.route(&identity, policy, profile.as_ref(), &mut parts, &mut incoming, &mut entry).await {
            Ok(response) => record::finish(&self.recorder, entry, response, false),
            Err(e) => {
                entry.failed(&e);
                if let Some(unread) = incoming {
                    drain(unread).await;
                }
                let upstream_failed = matches!(e, GatewayError::Forward(_) | GatewayError::Lookup(_));
                if upstream_failed {
                    // The engine may come back as another version: ask it again.
                    self.versions.forget();
                }
                record::finish(&self.recorder, entry, error::rescue(&e), upstream_failed)
            }
        }
    }

    async fn route(
        &self,
        identity: &Identity,
        policy: &Policy,
        profile: Option<&Arc<str>>,
        parts: &mut Parts,
        incoming: &mut Option<Incoming>,
        entry: &mut Entry,
    ) -> Result<Response<Body>, GatewayError> {
        let (mut target, classified) = recognize(&parts.method, &parts.uri)?;
        // Under ownership the caller has an owner name, and reaches only what carries it.
        let tenant = match &policy.ownership {
            Some(ownership) => {
                tenancy::admits(classified.operation)?;
                let tenant = ownership.owner(identity)?;
                entry.owner = Some(tenant.owner.clone());
                Some(tenant)
            }
            None => None,
        };
        let mut buffered = match inspect::reads(classified.operation) {
            Reads::Body => Some(self.read_body(incoming.take()).await?),
            Reads::Query | Reads::Nothing => None,
        };
        let content_type = parts.headers.get(header::CONTENT_TYPE).map(HeaderValue::as_bytes);
        let body = buffered.as_deref();
        let request = Judged {
            policy,
            method: &parts.method,
            target: &target,
            classified: &classified,
            content_type,
            body,
            tenancy: tenant.is_some(),
        };
        let (mut inspection, mut decision) = judge(&request, None)?;
        let mode = self.recorder.mode;
        // What the request refers to is asked of the engine only for a request that may be sent,
        // and the request is judged again with the answers (see `resolve`).
        let mut resolved = None;
        if !inspection.references.is_empty() && (decision.allowed || mode != Mode::Enforce) {
            let known = tenant.as_ref().map(|t| self.owners.known(t, &classified, &inspection.references));
            let (asked, owned_already) = match known {
                Some(known) => known?,
                None => (inspection.references.clone(), Vec::new()),
            };
            let answers = resolve::resolve(&self.upstream, &asked).await?;
            self.owners.remember(&answers);
            (inspection, decision) = judge(&request, Some(&answers))?;
            inspection.references.retain(|r| !owned_already.contains(r));
            resolved = Some(answers);
        }
        decision.client = Some(entry.client.clone());
        entry.decided(&target, &classified, inspection.findings, &decision, mode);
        // In audit and learn modes a denial is recorded but not enforced.
        if !decision.allowed && mode == Mode::Enforce {
            return Err(GatewayError::Denied(Box::new(decision)));
        }
        // Only a request that will be sent is held to the versions the engine and the
        // configuration accept; a denied caller learns nothing from it.
        self.versions.check(&self.upstream, target.version.as_deref()).await?;
        if let (Some(tenant), Some(resolved)) = (&tenant, &resolved) {
            // What a create names in its body is no object the client asked about by name: a 404
            // there would make the docker CLI look for the image instead.
            tenancy::check(tenant, &inspection.references, resolved).map_err(|missing| {
                if classified.operation.name() == "containers.create" {
                    GatewayError::Tenancy(tenancy::TenancyError::Foreign(missing.describe()))
                } else {
                    GatewayError::NotFound(missing)
                }
            })?;
            self.create_missing_volumes(tenant, &classified, &inspection.references, resolved).await?;
        }
        if let Some(resolved) = &resolved {
            pin_resolved(&mut target, &classified, resolved, tenant.is_some())?;
        }
        let operation = classified.operation.name();
        if operation == "containers.create" {
            let amendments = amend::Create {
                private_cgroupns: !policy.constraints.host_namespaces,
                created_by: profile.map_or("", |p| &**p),
                tenant: tenant.as_ref(),
            };
            if let Some(amended) = amend::create(buffered.as_deref().unwrap_or_default(), amendments)? {
                buffered = Some(Bytes::from(amended));
            }
        }
        if let Some(tenant) = &tenant {
            match operation {
                "volumes.create" | "networks.create" => {
                    buffered = Some(Bytes::from(amend::owned(buffered.as_deref().unwrap_or_default(), tenant)?));
                }
                "images.build" => target.query = Some(amend::owned_build_query(target.query.as_deref(), tenant)?),
                _ if tenancy::scoped_by_filter(classified.operation) => {
                    target.query = Some(tenant.scope_query(target.query.as_deref())?);
                }
                _ => {}
            }
        }
        let upgrade = if classified.operation.may_upgrade() && asks_for_upgrade(&parts.headers) {
            parts.extensions.remove::<OnUpgrade>()
        } else {
            None
        };
        let outgoing = match (buffered, incoming.take()) {
            (Some(bytes), _) => {
                // Exactly the bytes that were inspected, framed by length whatever the client used.
                parts.headers.remove(header::TRANSFER_ENCODING);
                parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
                entry.bytes_in.fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
                body::full(bytes)
            }
            (None, Some(mut streamed)) => {
                // Its first frame is read before the request goes out, so a body malformed from
                // its start is refused as the client's error and the engine sees nothing of it.
                // A later failure cuts the forwarded body short (`ForwardError::ClientBody`).
                let first = if http_body::Body::is_end_stream(&streamed) {
                    None
                } else {
                    streamed.frame().await.transpose().map_err(|e| GatewayError::BodyRead(forward::error_chain(&e)))?
                };
                body::request(first, streamed).counted(entry.bytes_in.clone())
            }
            (None, None) => body::full(Bytes::new()),
        };
        let response = self.upstream.forward(parts, outgoing, &target, upgrade).await?;
        match &tenant {
            Some(tenant) if operation == "system.df" => Ok(scoped_df(response, tenant).await?),
            _ => Ok(response),
        }
    }

    /// Under ownership, a named volume a create would make implicitly is made first, with the
    /// caller's owner label, so it is the caller's like every volume it makes explicitly.
    async fn create_missing_volumes(
        &self,
        tenant: &Tenant,
        classified: &Classified,
        references: &[inspect::Reference],
        resolved: &Resolved,
    ) -> Result<(), GatewayError> {
        if classified.operation.name() != "containers.create" {
            return Ok(());
        }
        for reference in references {
            if let inspect::Reference::Volume(name) = reference {
                if resolved.volume(name).is_none() {
                    crate::lookup::create_volume(&self.upstream, name, &tenant.label, &tenant.owner).await?;
                }
            }
        }
        Ok(())
    }

    async fn read_body(&self, incoming: Option<Incoming>) -> Result<Bytes, GatewayError> {
        let Some(incoming) = incoming else {
            return Ok(Bytes::new());
        };
        match Limited::new(incoming, self.max_body_bytes).collect().await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                Err(GatewayError::BodyTooLarge(self.max_body_bytes))
            }
            Err(e) => Err(GatewayError::BodyRead(forward::error_chain(&*e))),
        }
    }
}

/// Who is asking on one connection, and how messages and logs name them. The name is made once
/// per identity and profile, not per request. A caller that is a container is identified again
/// whenever the engine's containers change, so its requests are judged as what it is now, never
/// on a stale answer kept for the connection's lifetime.
pub struct Caller {
    identity: std::sync::Mutex<Arc<Identity>>,
    /// The directory's generation the identity was resolved under.
    resolved_at: std::sync::atomic::AtomicU64,
    named: std::sync::Mutex<(Option<Arc<str>>, Arc<str>)>,
}

impl Caller {
    /// A caller whose identity was resolved when the directory was at `generation`.
    pub fn new(identity: Arc<Identity>, generation: u64) -> Caller {
        let name = Arc::from(identity.to_string());
        Caller {
            identity: std::sync::Mutex::new(identity),
            resolved_at: std::sync::atomic::AtomicU64::new(generation),
            named: std::sync::Mutex::new((None, name)),
        }
    }

    /// Who the caller is, as last resolved.
    pub fn identity(&self) -> Arc<Identity> {
        self.identity.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Identifies the caller again if the engine's containers changed since it last was.
    pub async fn refresh(&self, directory: &Directory) {
        use std::sync::atomic::Ordering;
        let now = directory.generation();
        if self.resolved_at.load(Ordering::Acquire) == now {
            return;
        }
        let current = self.identity();
        let fresh = current.rediscover(directory).await;
        self.resolved_at.store(now, Ordering::Release);
        if fresh.container != current.container {
            tracing::info!(was = %current, now = %fresh, "the caller's container changed; its next requests are judged as it is now");
            let name = Arc::from(fresh.to_string());
            *self.identity.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(fresh);
            *self.named.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = (None, name);
        }
    }

    /// The caller's name, with the profile that chose its policy.
    fn name(&self, identity: &Identity, profile: Option<Arc<str>>) -> Arc<str> {
        let mut named = self.named.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if named.0 != profile {
            let name = match &profile {
                Some(profile) => format!("{identity}, profile `{profile}`"),
                None => identity.to_string(),
            };
            *named = (profile, Arc::from(name));
        }
        named.1.clone()
    }
}

/// Steps one and two: the exact path dockerd will route, and what it names.
pub fn recognize(method: &Method, uri: &Uri) -> Result<(Target, Classified), GatewayError> {
    let target = normalize::target(uri)?;
    let classified = classify::classify(method, &target.path)?;
    Ok((target, classified))
}

/// Sends the request to the objects the engine named when it was asked: an exec to its
/// container's full id (one the engine does not know is answered 404 here, so no container that
/// takes the name later gets an exec judged for another), a connect to its network's full id.
fn pin_resolved(
    target: &mut Target,
    classified: &Classified,
    resolved: &Resolved,
    owned: bool,
) -> Result<(), GatewayError> {
    let name = classified.resource.as_deref().unwrap_or_default();
    let not_found = || GatewayError::NotFound(tenancy::NotFound::Container(name.to_owned()));
    match (classified.operation.name(), classified.operation.object()) {
        ("exec.create", _) => {
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
async fn scoped_df(response: Response<Body>, tenant: &Tenant) -> Result<Response<Body>, GatewayError> {
    const MAX_DF: usize = 64 << 20;
    let (mut parts, body) = response.into_parts();
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
    Ok(Response::from_parts(parts, body::full(bytes)))
}

/// Containers' owners by full id: labels never change after create, so a request that names a
/// container by its full id is checked without asking the engine again. Bounded; ids are never
/// reused, so a removed container's entry is only dead weight until the map is cleared.
#[derive(Default)]
struct Owners {
    by_id: std::sync::Mutex<std::collections::HashMap<String, Option<String>>>,
    label: std::sync::Mutex<Option<String>>,
}

const OWNERS_KEPT: usize = 65_536;

impl Owners {
    /// Splits `references` into those the engine must be asked about and those already known to
    /// be `tenant`'s; a reference known to be another's is answered as missing at once.
    fn known(
        &self,
        tenant: &Tenant,
        classified: &Classified,
        references: &[inspect::Reference],
    ) -> Result<(Vec<inspect::Reference>, Vec<inspect::Reference>), GatewayError> {
        // An exec is judged by its container's user and privileges: always asked.
        if classified.operation.name() == "exec.create" {
            return Ok((references.to_vec(), Vec::new()));
        }
        *self.label.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(tenant.label.clone());
        let by_id = self.by_id.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
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
    fn remember(&self, resolved: &Resolved) {
        let Some(label) = self.label.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone() else {
            return;
        };
        let mut by_id = self.by_id.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
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

/// A request as it is judged.
pub struct Judged<'a> {
    pub policy: &'a Policy,
    pub method: &'a Method,
    pub target: &'a Target,
    pub classified: &'a Classified,
    pub content_type: Option<&'a [u8]>,
    pub body: Option<&'a [u8]>,
    /// Ownership is on for this caller.
    pub tenancy: bool,
}

/// Steps three and four: what the request asks for, and whether the policy allows it.
/// `resolved` is what the engine said of the objects the request refers to, once it was asked.
pub fn judge(request: &Judged<'_>, resolved: Option<&Resolved>) -> Result<(Inspection, Decision), GatewayError> {
    let inspection = inspect::inspect_all(&inspect::Request {
        operation: request.classified.operation,
        query: request.target.query.as_deref(),
        content_type: request.content_type,
        body: request.body,
        resource: request.classified.resource.as_deref(),
        resolved,
        tenancy: request.tenancy,
    })?;
    let decision = decide::decide(
        request.policy,
        &decide::Request {
            operation: request.classified.operation,
            method: request.method.as_str(),
            path: &request.target.path,
            findings: &inspection.findings,
        },
    );
    Ok((inspection, decision))
}

/// All steps for a request given as data, as `sockgate policy explain` and policy tests use them.
pub fn explain(
    policy: &Policy,
    method: &Method,
    uri: &Uri,
    content_type: Option<&[u8]>,
    body: Option<&[u8]>,
) -> Result<Judgement, GatewayError> {
    let (target, classified) = recognize(method, uri)?;
    let body = match inspect::reads(classified.operation) {
        Reads::Body => Some(body.unwrap_or_default()),
        _ => None,
    };
    let request =
        Judged { policy, method, target: &target, classified: &classified, content_type, body, tenancy: false };
    let (inspection, decision) = judge(&request, None)?;
    if decision.allowed {
        // The configured minimum is a serving option; explain holds requests to the default one.
        let minimum = crate::versions::ApiVersion::default_minimum();
        crate::versions::check(&minimum, None, target.version.as_deref())?;
    }
    Ok(Judgement { target, classified, findings: inspection.findings, decision })
}

/// True when the request asks to switch protocols (`Connection: Upgrade` and an `Upgrade` header).
fn asks_for_upgrade(headers: &http::HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && forward::connection_options(headers).any(|option| option.eq_ignore_ascii_case("upgrade"))
}

/// Reads and drops what is left of a refused request's body, within bounds.
async fn drain(mut incoming: Incoming) {
    let mut read = 0usize;
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        while read <= DRAIN_BYTES {
            match incoming.frame().await {
                Some(Ok(frame)) => read += frame.data_ref().map_or(0, Bytes::len),
                _ => break,
            }
        }
    })
    .await;
}
