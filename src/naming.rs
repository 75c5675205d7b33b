//! Docker's naming rules, shared by inspection and policy: image references and the pins
//! profiles hold them to, clean host paths, and plain driver names. Pure text in, text out; it
//! knows nothing of requests, policies or the engine.

pub mod driver;
pub mod image;
pub mod path;

pub use driver::{check_driver_name, DriverKind};
pub use image::{normalize, pin, Pin, Reference, ReferenceError};
pub use path::clean_path;
