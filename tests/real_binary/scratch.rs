//! Unique names for the containers, networks, volumes and images a test makes, and their
//! removal through the real socket when the test ends, passed or failed.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::dockerd::real_docker;

/// Every name starts with this, so leftovers are easy to spot (and to remove by hand).
pub const PREFIX: &str = "sockgate-e2e-";

/// A name no other test, test thread or test process uses: prefix, pid, counter, label.
pub fn unique_name(label: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    format!("{PREFIX}{}-{}-{label}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// The objects a test owns; dropping it removes them all from dockerd directly.
#[derive(Default)]
pub struct Scratch {
    containers: Vec<String>,
    networks: Vec<String>,
    volumes: Vec<String>,
    images: Vec<String>,
}

impl Scratch {
    pub fn new() -> Self {
        Self::default()
    }

    /// A fresh container name, removed (forcibly) at the end of the test.
    pub fn container(&mut self, label: &str) -> String {
        let name = unique_name(label);
        self.containers.push(name.clone());
        name
    }

    /// Takes a container name made some other way, to remove it at the end of the test too.
    pub fn adopt_container(&mut self, name: &str) {
        self.containers.push(name.to_owned());
    }

    pub fn network(&mut self, label: &str) -> String {
        let name = unique_name(label);
        self.networks.push(name.clone());
        name
    }

    pub fn volume(&mut self, label: &str) -> String {
        let name = unique_name(label);
        self.volumes.push(name.clone());
        name
    }

    /// A fresh image reference (`<name>:latest`).
    pub fn image(&mut self, label: &str) -> String {
        let reference = format!("{}:latest", unique_name(label));
        self.images.push(reference.clone());
        reference
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Containers first: they hold networks, volumes and images.
        let steps: [(&[&str], &Vec<String>); 4] = [
            (&["rm", "-f", "-v"], &self.containers),
            (&["network", "rm"], &self.networks),
            (&["volume", "rm", "-f"], &self.volumes),
            (&["rmi", "-f"], &self.images),
        ];
        for (command, names) in steps {
            if names.is_empty() {
                continue;
            }
            let mut args = command.to_vec();
            args.extend(names.iter().map(String::as_str));
            // Failures are expected for objects the test never got to create.
            let _ = real_docker(&args);
        }
    }
}
