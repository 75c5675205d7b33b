//! Walks one request through the pipeline: normalize, classify, decide, record, then forward or
//! refuse. It owns no logic of its own beyond that order; each step lives in its module.

use std::sync::{Arc, RwLock};

use http::{header, Request, Response};
use hyper::body::Incoming;

use crate::body::Body;
use crate::classify;
use crate::decide;
use crate::error::{self, GatewayError};
use crate::forward::Upstream;
use crate::identify::Identity;
use crate::normalize;
use crate::policy::Policy;
use crate::record;

/// The shared state every connection serves requests with.
pub struct Gateway {
    policy: RwLock<Arc<Policy>>,
    upstream: Upstream,
}

impl Gateway {
    pub fn new(policy: Policy, upstream: Upstream) -> Gateway {
        Gateway {
            policy: RwLock::new(Arc::new(policy)),
            upstream,
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> Arc<Policy> {
        match self.policy.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Answers one request: the engine's response, or sockgate's JSON error.
    pub async fn handle(&self, identity: &Identity, request: Request<Incoming>) -> Response<Body> {
        let method = request.method().clone();
        let uri = request.uri().clone();
        match self.route(identity, request).await {
            Ok(response) => response,
            Err(e) => {
                record::failure(identity, &method, &uri, &e);
                error::rescue(&e)
            }
        }
    }

    async fn route(
        &self,
        identity: &Identity,
        mut request: Request<Incoming>,
    ) -> Result<Response<Body>, GatewayError> {
        let target = normalize::target(request.uri())?;
        let classified = classify::classify(request.method(), &target.path)?;
        let decision = decide::decide(&self.policy(), &classified);
        record::decision(identity, request.method(), &target, &classified, &decision);
        if !decision.allowed {
            return Err(GatewayError::Denied(Box::new(decision)));
        }
        let upgrade = (classified.operation.may_upgrade() && asks_for_upgrade(&request))
            .then(|| hyper::upgrade::on(&mut request));
        Ok(self.upstream.forward(request, &target, upgrade).await?)
    }
}

/// True when the request asks to switch protocols (`Connection: Upgrade` and an `Upgrade` header).
fn asks_for_upgrade<B>(request: &Request<B>) -> bool {
    request.headers().contains_key(header::UPGRADE)
        && request
            .headers()
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
}
