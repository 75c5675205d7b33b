//! The engine's answers as dockerd writes them: serde types for the parts of its JSON that
//! sockgate reads (container inspect and list, networks, volumes, exec inspect, version, events),
//! one set that every reader shares. Field names follow API 1.41 (dockerd `api/types`). A field
//! some reader can do without is an `Option`, and a reader that needs it says so where it reads.
//! It does no I/O and judges nothing: what an answer means is up to its reader.

pub mod container;
pub mod event;
pub mod exec;
pub mod network;
pub mod version;
pub mod volume;
