//! Shared helpers for the end-to-end tests: the real `docker` CLI talks to a real
//! `sockgate serve`, which talks to the real dockerd.
//!
//! Setup and verification go to dockerd directly (`/var/run/docker.sock`), never through the
//! gateway under test, so a gateway bug cannot hide behind its own answers. Every child process
//! wait is bounded: a hung gateway fails a test, it never hangs CI.

#![allow(dead_code, reason = "each test binary uses a different subset of these helpers")]

pub mod cli;
pub mod cli_image;
pub mod dockerd;
pub mod files;
pub mod gateway;
pub mod http;
pub mod image;
pub mod observe;
pub mod pki;
pub mod process;
pub mod scratch;
pub mod server;
pub mod sockgate_image;

// Short paths for the tests; each test binary uses only some of them, hence the allows.
#[allow(unused_imports)]
pub use cli::{docker, docker_command, docker_timeout, docker_with_stdin, CLI_TIMEOUT};
#[allow(unused_imports)]
pub use dockerd::{docker_ready, real_docker};
#[allow(unused_imports)]
pub use gateway::{Gateway, FULL_ACCESS, READ_ONLY};
#[allow(unused_imports)]
pub use image::TEST_IMAGE;
#[allow(unused_imports)]
pub use process::{run, CmdOutput, Streaming};
#[allow(unused_imports)]
pub use scratch::Scratch;
