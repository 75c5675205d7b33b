//! sockgate: a Docker socket proxy and access-control gateway.
//!
//! A request walks through the modules in this order:
//!
//! - [`listen`]: binds the unix and TCP listeners and accepts connections within bounds;
//! - [`http1`]: reads each request head strictly and frames each answer, HTTP/1.1 without I/O,
//!   for the server in [`serve`] and the engine's client in [`forward`];
//! - [`identify`]: tells who is on the other end of a connection (peer, certificate, container);
//! - [`profile`]: picks the policy that applies to that caller;
//! - [`normalize`]: turns the request target into the exact path dockerd would route, or refuses it;
//! - [`classify`]: names the Docker Engine API operation and the resource the path addresses;
//! - [`versions`]: holds the request's API version to the configured minimum and the engine's range;
//! - [`inspect`]: reads what the body and query ask of the host, exactly as dockerd reads them,
//!   and names the objects the request refers to ([`references`]);
//! - [`resolve`]: asks the engine about those objects (through [`lookup`], which reads the
//!   engine's answers as the [`engine`] types), so inspection judges them as the engine will use
//!   them: an exec's container, named volumes, networks;
//! - [`policy`]: loads and checks policy files (the data [`decide`] evaluates);
//! - [`decide`]: evaluates the policy for one request into a [`decide::Decision`];
//! - [`amend`]: sets what the engine would otherwise default to more than the policy allows,
//!   and stamps what the caller creates with its profile and, under [`tenancy`], its owner;
//! - [`forward`]: sends allowed requests to the real engine, streams and hijacked connections included;
//! - [`record`]: logs every decision.
//!
//! [`naming`] holds Docker's naming rules (image references, clean paths, driver names) that
//! [`inspect`] and [`policy`] share.
//!
//! [`judge`] runs the pure steps (normalize to decide) for one request given as data, and
//! [`gateway`] wires all the steps together for one request, and [`error`] is the only place where a
//! failure becomes an HTTP response. [`serve`] runs the whole server until it is told to stop, as
//! [`config`] describes it, each connection on one of the [`workers`], a single-threaded runtime
//! per core, until its client leaves ([`hangup`]), client and engine connections alike being
//! [`socket`]s the runtime watches for reading only; [`tls`] builds its TLS configurations,
//! [`body`] is the one body type, and [`logging`] sets up sockgate's own log, where [`announce`]
//! writes the start-up line. [`address`] is how listeners, the engine and networks are written.
//! Before it serves, [`serve`] gives up root when told to ([`privileges`]), and its drop-in
//! listener admits only the networks of sockgate's own interfaces ([`interfaces`]).
//!
//! Beside the stages: [`glob`] matches the names policies and profiles are written in,
//! [`diagnostics`] says where a problem in a policy or configuration file is (and what was
//! probably meant), [`cases`] runs a policy's test cases through the gateway, and [`tools`] is what
//! the command-line tools report; `main.rs` only parses the command line and prints it.

pub mod address;
pub mod admin;
pub mod allocator;
pub mod amend;
pub mod announce;
pub mod body;
pub mod cases;
pub mod classify;
pub mod clock;
pub mod config;
pub mod decide;
pub mod diagnostics;
pub mod engine;
pub mod error;
pub mod forward;
pub mod gateway;
pub mod glob;
pub mod hangup;
pub mod http1;
pub mod identify;
pub mod inspect;
pub mod interfaces;
pub mod judge;
pub mod listen;
pub mod logging;
pub mod lookup;
pub mod naming;
pub mod normalize;
pub mod policy;
pub mod privileges;
pub mod profile;
pub mod record;
pub mod references;
pub mod resolve;
pub mod serve;
pub mod socket;
pub mod tenancy;
pub mod tls;
pub mod tools;
pub mod versions;
pub mod workers;
