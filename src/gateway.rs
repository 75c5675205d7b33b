//! Walks one request through the pipeline: normalize, classify, check the API version, inspect,
//! resolve what the request refers to, decide and amend ([`Gateway::admit`]), record, then
//! forward or refuse. It owns no logic of its own beyond that order; each step lives in its module.
//! [`explain`] runs the same steps on a request given as data, for `sockgate policy`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use http::{Method, Response, Uri};
use http_body_util::{BodyExt, Limited};

use crate::body::{self, Body};
use crate::classify::{Classified, Operation};
use crate::decide::Mode;
use crate::error::{self, GatewayError};
use crate::forward::{self, Relay, Upstream};
use crate::http1::{self, Fields, Incoming, OnUpgrade};
use crate::identify::Identity;
use crate::inspect::{self, Reads, Resolved};
use crate::judge;
pub use crate::judge::{judge, recognize, Judged, Judgement};

mod caller;
mod owners;

use crate::lookup::EngineVersions;
use crate::policy::Policy;
use crate::record::{self, Entry, Recorder};
use crate::tenancy::{self, Tenant};
use crate::{amend, resolve};
pub use caller::{Caller, Judging};
use owners::{pin_resolved, scoped_df, Owners};

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

    /// Where requests are recorded; each connection's [`Caller`] takes a handle on it.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// Asks the engine for its API versions now, so the first request does not wait for it.
    pub async fn learn_versions(&self) {
        self.versions.learn(&self.upstream).await;
    }

    /// Answers one request from `caller`, judged as `judging` says: the engine's response, or
    /// sockgate's JSON error.
    pub fn handle<'a>(
        &'a self,
        caller: &'a Caller,
        judging: &'a Judging,
        request: http1::Request,
    ) -> impl Future<Output = Response<Body>> + Send + 'a {
        // Taken apart before the future is made: what it holds is the request's parts, not the
        // request beside a copy of them, as an `async fn`'s arguments would be.
        let http1::Request { mut parts, fields, body } = request;
        let mut unsent = Unsent { fields, incoming: Some(body) };
        let Judging { identity, name, profile, policy } = judging;
        let mut entry = Entry::begin(identity, name.clone(), &parts.method, &parts.uri);
        async move {
            // Admitted, then relayed: the two steps' states take turns in this future rather than
            // one holding the other.
            let answered =
                match self.admit(identity, policy, profile.as_ref(), &mut parts, &mut unsent, &mut entry).await {
                    Ok(Admitted { relay, scope_df: None }) => relay.await.map_err(GatewayError::from),
                    // Boxed, as the other rare steps: its state would make every request's larger.
                    Ok(Admitted { relay, scope_df: Some(tenant) }) => {
                        Box::pin(async move { scoped_df(relay.await?, &tenant).await }).await
                    }
                    Err(e) => Err(e),
                };
            match answered {
                Ok(mut response) => {
                    record::finish(caller.recorder(), entry, &mut response, false);
                    response
                }
                Err(e) => {
                    entry.failed(&e);
                    if let Some(unread) = unsent.incoming {
                        drain(unread).await;
                    }
                    let upstream_failed = matches!(e, GatewayError::Forward(_) | GatewayError::Lookup(_));
                    if upstream_failed {
                        // The engine may come back as another version: ask it again.
                        self.versions.forget();
                    }
                    let mut response = error::rescue(&e);
                    record::finish(caller.recorder(), entry, &mut response, upstream_failed);
                    response
                }
            }
        }
    }

    /// Answers a request refused before it is judged (its caller is over a limit), recorded as
    /// every other answer is: in the audit log and in `sockgate_requests_total`.
    pub fn refuse(
        &self,
        caller: &Caller,
        judging: &Judging,
        request: &http1::Request,
        refusal: &GatewayError,
    ) -> Response<Body> {
        let parts = &request.parts;
        let mut entry = Entry::begin(&judging.identity, judging.name.clone(), &parts.method, &parts.uri);
        entry.failed(refusal);
        let mut response = error::rescue(refusal);
        record::finish(caller.recorder(), entry, &mut response, false);
        response
    }

    /// Judges the request as the engine would read it, and amends what is allowed: the request
    /// made ready to go to the engine, or why not.
    async fn admit(
        &self,
        identity: &Identity,
        policy: &Policy,
        profile: Option<&Arc<str>>,
        parts: &mut Parts,
        unsent: &mut Unsent,
        entry: &mut Entry,
    ) -> Result<Admitted<'_>, GatewayError> {
        let Unsent { fields, incoming } = unsent;
        let (mut target, classified) = recognize(&parts.method, &parts.uri)?;
        // Under ownership the caller has an owner name, and reaches only what carries it.
        let tenant = match &policy.ownership {
            Some(ownership) => {
                tenancy::admits(classified.operation)?;
                let tenant = Tenant::of(ownership, identity)?;
                entry.owner = Some(tenant.owner.clone());
                Some(tenant)
            }
            None => None,
        };
        let mut buffered = match inspect::reads(classified.operation) {
            Reads::Body => Some(self.read_body(incoming.take()).await?),
            Reads::Query | Reads::Nothing => None,
        };
        // As dockerd's `r.Header.Get`: the first field so named, in any case.
        let content_type = fields.get("content-type");
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
            // Boxed, as the other rare steps below: their state would otherwise make every request's
            // future as large as the largest of them.
            let answers = Box::pin(resolve::resolve(&self.upstream, &asked)).await?;
            self.owners.remember(&answers);
            (inspection, decision) = judge(&request, Some(&answers))?;
            inspection.references.retain(|r| !owned_already.contains(r));
            resolved = Some(answers);
        }
        decision.client = Some(entry.client.clone());
        entry.decided(&target, &classified, inspection.findings, &mut decision, mode);
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
                if classified.operation == Operation::CONTAINERS_CREATE {
                    GatewayError::Tenancy(tenancy::TenancyError::Foreign(missing.describe()))
                } else {
                    GatewayError::NotFound(missing)
                }
            })?;
            Box::pin(self.create_missing_volumes(tenant, &classified, &inspection.references, resolved)).await?;
        }
        if let Some(resolved) = &resolved {
            pin_resolved(&mut target, &classified, resolved, tenant.is_some())?;
        }
        let operation = classified.operation;
        if operation == Operation::CONTAINERS_CREATE {
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
                Operation::VOLUMES_CREATE | Operation::NETWORKS_CREATE => {
                    buffered = Some(Bytes::from(amend::owned(buffered.as_deref().unwrap_or_default(), tenant)?));
                }
                Operation::IMAGES_BUILD => {
                    target.query = Some(amend::owned_build_query(target.query.as_deref(), tenant)?)
                }
                _ if tenancy::scoped_by_filter(classified.operation) => {
                    target.query = Some(tenant.scope_query(target.query.as_deref())?);
                }
                _ => {}
            }
        }
        // The server hands the connection over only to a request whose head asked to switch
        // protocols (see `crate::http1::request`).
        let upgrade = if classified.operation.may_upgrade() { parts.extensions.remove::<OnUpgrade>() } else { None };
        let outgoing = match (buffered, incoming.take()) {
            (Some(bytes), _) => {
                // Exactly the bytes that were inspected, framed by length whatever the client used
                // (the engine's client frames a body by its own size, see `crate::forward`).
                entry.read_whole_in = bytes.len() as u64;
                body::full(bytes)
            }
            // Most requests have no body: nothing to stream or count.
            (None, Some(streamed)) if http_body::Body::is_end_stream(&streamed) => body::full(Bytes::new()),
            (None, Some(mut streamed)) => {
                // Its first frame is read before the request goes out, so a body malformed from
                // its start is refused as the client's error and the engine sees nothing of it.
                // A later failure cuts the forwarded body short (`ForwardError::ClientBody`).
                let first = streamed.frame().await.transpose();
                // A client's body carries no trailers (see `crate::http1::Incoming`): data only.
                let first = first
                    .map_err(|e| GatewayError::BodyRead(forward::error_chain(&e)))?
                    .and_then(|frame| frame.into_data().ok());
                body::request(first, streamed).counted(entry.streamed_in())
            }
            (None, None) => body::full(Bytes::new()),
        };
        let relay = self.upstream.relay(parts, fields, outgoing, &target, upgrade)?;
        let scope_df = tenant.filter(|_| operation == Operation::SYSTEM_DF);
        Ok(Admitted { relay, scope_df })
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
        if classified.operation != Operation::CONTAINERS_CREATE {
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

/// A request allowed and amended, made ready to go to the engine.
struct Admitted<'a> {
    relay: Relay<'a>,
    /// The caller whose objects alone a `GET /system/df` answer shows.
    scope_df: Option<Tenant>,
}

/// What of a request is yet to be forwarded: its header fields and its body, until read.
struct Unsent {
    fields: Fields,
    incoming: Option<Incoming>,
}

/// [`judge::explain`], with its refusals as the gateway answers them, for callers that render a
/// refusal's status.
pub fn explain(
    policy: &Policy,
    method: &Method,
    uri: &Uri,
    content_type: Option<&[u8]>,
    body: Option<&[u8]>,
) -> Result<Judgement, GatewayError> {
    Ok(judge::explain(policy, method, uri, content_type, body)?)
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
