//! Property tests for the parsers and the inspector. The request target normalizer and the
//! classifier never panic, accept only paths that dockerd routes exactly as they were classified,
//! and cannot be fooled by percent-encoding or dot segments. The body inspector reads every
//! spelling Go's `encoding/json` accepts (re-cased keys, `\u` escapes, `ſ` and the Kelvin sign, the
//! deprecated top-level HostConfig), refuses every duplicate key, and never panics.
//!
//! The properties live in `tests/properties/`, one file per subject: request targets, bodies (with
//! the JSON model and writer they share), host access as the engine reads it, and robustness.
//! Case counts are bounded so that the whole crate runs in seconds in a debug build. Failures are not
//! persisted by proptest: inputs worth keeping go into `tests/corpus/`, which `corpus.rs` replays.
//! Properties that once found a sockgate bug say so in their comments; they now guard the fix.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, reason = "a failing test panics")]

use http::{Method, Uri};
use proptest::prelude::*;
use proptest::sample::Index;
use sockgate::classify::{classify, Classified, ClassifyError};
use sockgate::inspect::{self, Finding, InspectError, JsonError, Kind};
use sockgate::normalize::{self, Target, TargetError};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// Go's `path.Clean` for a rooted path.
fn go_path_clean(path: &str) -> String {
    let mut stack: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                stack.pop();
            }
            s => stack.push(s),
        }
    }
    format!("/{}", stack.join("/"))
}

/// Inspects a JSON body sent for the operation `op`.
fn run(op: &str, body: &[u8]) -> Result<Vec<Finding>, InspectError> {
    let operation = sockgate::classify::Operation::from_name(op).unwrap();
    inspect::inspect(&inspect::Request {
        operation,
        query: None,
        content_type: Some(b"application/json"),
        body: Some(body),
        resource: None,
        resolved: None,
        tenancy: false,
    })
}

#[path = "properties/bodies.rs"]
mod bodies;
#[path = "properties/host.rs"]
mod host;
#[path = "properties/model.rs"]
mod model;
#[path = "properties/robustness.rs"]
mod robustness;
#[path = "properties/targets.rs"]
mod targets;
