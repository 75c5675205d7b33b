//! The real docker CLI through `sockgate serve` under `policies/full-access.toml`, against the
//! real dockerd: each command must have the effect it has without the gateway, checked on
//! dockerd directly where the CLI's own report could hide a difference.

#[path = "../real_binary/mod.rs"]
mod real_binary;

mod objects;
mod queries;
mod streams;
mod tcp;
mod transfer;

use anyhow::Result;
use real_binary::{Gateway, FULL_ACCESS};

/// A gateway that allows everything, so any failure is the gateway's, not the policy's.
fn full_access() -> Result<Gateway> {
    Gateway::start(Some(FULL_ACCESS))
}
