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
use crate::classify::{self, Classified};
use crate::decide::{self, Decision};
use crate::error::{self, GatewayError};
use crate::forward::{self, Upstream};
use crate::identify::containers::Directory;
use crate::identify::Identity;
use crate::inspect::{self, Finding, Inspection, Reads, Resolved};
use crate::lookup::EngineVersions;
use crate::normalize::{self, Target};
use crate::policy::Policy;
use crate::record::{self, Entry, Mode, Recorder};
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
        Gateway { upstream, max_body_bytes, recorder, versions: EngineVersions::new(min_api_version) }
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
        match self.route(policy, profile.as_ref(), &mut parts, &mut incoming, &mut entry).await {
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
        policy: &Policy,
        profile: Option<&Arc<str>>,
        parts: &mut Parts,
        incoming: &mut Option<Incoming>,
        entry: &mut Entry,
    ) -> Result<Response<Body>, GatewayError> {
        let (mut target, classified) = recognize(&parts.method, &parts.uri)?;
        let mut buffered = match inspect::reads(classified.operation) {
            Reads::Body => Some(self.read_body(incoming.take()).await?),
            Reads::Query | Reads::Nothing => None,
        };
        let content_type = parts.headers.get(header::CONTENT_TYPE).map(HeaderValue::as_bytes);
        let body = buffered.as_deref();
        let (mut inspection, mut decision) =
            judge(policy, &parts.method, &target, &classified, content_type, body, None)?;
        let mode = self.recorder.mode;
        // What the request refers to is asked of the engine only for a request that may be sent,
        // and the request is judged again with the answers (see `resolve`).
        let mut resolved = None;
        if !inspection.references.is_empty() && (decision.allowed || mode != Mode::Enforce) {
            let answers = resolve::resolve(&self.upstream, &inspection.references).await?;
            (inspection, decision) =
                judge(policy, &parts.method, &target, &classified, content_type, body, Some(&answers))?;
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
        if let Some(resolved) = &resolved {
            pin_resolved(&mut target, &classified, resolved)?;
        }
        if classified.operation.name() == "containers.create" {
            let amendments = amend::Create {
                private_cgroupns: !policy.constraints.host_namespaces,
                created_by: profile.map_or("", |p| &**p),
            };
            if let Some(amended) = amend::create(buffered.as_deref().unwrap_or_default(), amendments)? {
                buffered = Some(Bytes::from(amended));
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
        Ok(self.upstream.forward(parts, outgoing, &target, upgrade).await?)
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
fn pin_resolved(target: &mut Target, classified: &Classified, resolved: &Resolved) -> Result<(), GatewayError> {
    let name = classified.resource.as_deref().unwrap_or_default();
    match classified.operation.name() {
        "exec.create" => {
            let container = resolved.container(name).ok_or_else(|| GatewayError::NoSuchContainer(name.to_owned()))?;
            target.path = format!("/containers/{}/exec", container.id);
        }
        "networks.connect" => {
            if let Some(network) = resolved.network(name) {
                target.path = format!("/networks/{}/connect", network.id);
            }
        }
        _ => {}
    }
    Ok(())
}

/// Steps three and four: what the request asks for, and whether the policy allows it.
/// `resolved` is what the engine said of the objects the request refers to, once it was asked.
pub fn judge(
    policy: &Policy,
    method: &Method,
    target: &Target,
    classified: &Classified,
    content_type: Option<&[u8]>,
    body: Option<&[u8]>,
    resolved: Option<&Resolved>,
) -> Result<(Inspection, Decision), GatewayError> {
    let inspection = inspect::inspect_all(&inspect::Request {
        operation: classified.operation,
        query: target.query.as_deref(),
        content_type,
        body,
        resource: classified.resource.as_deref(),
        resolved,
    })?;
    let decision = decide::decide(
        policy,
        &decide::Request {
            operation: classified.operation,
            method: method.as_str(),
            path: &target.path,
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
    let (inspection, decision) = judge(policy, method, &target, &classified, content_type, body, None)?;
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
