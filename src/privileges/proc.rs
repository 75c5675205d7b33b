//! What the kernel says of this process's privileges, read from `/proc`: its effective
//! capabilities and the ids each of its threads runs with. It changes nothing.

use super::RunAs;

/// `CAP_SETGID` and `CAP_SETUID` (linux/capability.h).
pub(super) const CAP_SETGID: u32 = 6;
pub(super) const CAP_SETUID: u32 = 7;

/// The effective capability set of a `/proc/*/status`.
pub(super) fn effective_capabilities(status: &str) -> Option<u64> {
    let hex = status.lines().find_map(|line| line.strip_prefix("CapEff:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

/// A thread of this process whose real, effective, saved or file-system ids are not `run_as`'s,
/// as `/proc/self/task/*/status` tells them (where `/proc` is not mounted, the process-wide
/// switch glibc makes is all there is to go by).
pub(super) fn thread_not_switched(run_as: RunAs) -> Option<String> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    for task in tasks.flatten() {
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else { continue };
        if !ids_are(&status, "Uid:", run_as.uid) || !ids_are(&status, "Gid:", run_as.gid) {
            return Some(task.file_name().to_string_lossy().into_owned());
        }
    }
    None
}

/// Whether the `Uid:` or `Gid:` line of a task's status holds `id` in all four places.
fn ids_are(status: &str, key: &str, id: u32) -> bool {
    status.lines().find_map(|line| line.strip_prefix(key)).is_some_and(|ids| {
        let ids: Vec<&str> = ids.split_whitespace().collect();
        ids.len() == 4 && ids.iter().all(|i| i.parse() == Ok(id))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_of_a_thread_is_checked() {
        let status = "Name:\tsockgate\nUid:\t65534\t65534\t65534\t65534\nGid:\t65534\t65534\t65534\t65534\n";
        assert!(ids_are(status, "Uid:", 65534) && ids_are(status, "Gid:", 65534));
        let saved_root = "Uid:\t65534\t65534\t0\t65534\n";
        assert!(!ids_are(saved_root, "Uid:", 65534));
        assert!(!ids_are("Name:\tx\n", "Uid:", 65534));
    }

    #[test]
    fn capabilities_are_read_from_the_status() {
        assert_eq!(effective_capabilities("CapPrm:\t0\nCapEff:\t00000000a80425fb\n"), Some(0xa804_25fb));
        let docker_default = effective_capabilities("CapEff:\t00000000a80425fb\n").unwrap_or(0);
        assert!(docker_default & (1 << CAP_SETUID) != 0 && docker_default & (1 << CAP_SETGID) != 0);
        assert_eq!(effective_capabilities("CapEff:\t0000000000000000\n"), Some(0));
        assert_eq!(effective_capabilities("Name:\tx\n"), None);
    }
}
