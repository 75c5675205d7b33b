//! Finds the docker container a local process runs in from its `/proc/<pid>/cgroup` file. It only
//! parses; it neither reads `/proc` nor asks the engine whether the container exists.

use crate::engine::container::is_id;

/// The docker container id in a `/proc/<pid>/cgroup` file. The cgroupfs driver puts a container
/// in `/docker/<id>`, the systemd driver in `/system.slice/docker-<id>.scope` (dockerd
/// daemon/oci_linux.go `getCgroupsPath`), on cgroup v1 (`N:controllers:path`) and v2 (`0::path`)
/// alike; the innermost such segment is the process's own container.
pub(crate) fn container_id_from_cgroup(cgroup: &str) -> Option<&str> {
    cgroup.lines().find_map(|line| {
        let path = line.splitn(3, ':').nth(2)?;
        path.rsplit('/').find_map(|segment| {
            let id = segment.strip_prefix("docker-").and_then(|s| s.strip_suffix(".scope")).unwrap_or(segment);
            is_id(id).then_some(id)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{ID, OTHER};
    use super::*;

    #[test]
    fn finds_the_container_id_in_cgroup_v1_and_v2_paths() {
        let cgroupfs_v1 = format!("12:pids:/docker/{ID}\n11:memory:/docker/{ID}\n0::/docker/{ID}\n");
        assert_eq!(container_id_from_cgroup(&cgroupfs_v1), Some(ID));
        let systemd_v2 = format!("0::/system.slice/docker-{ID}.scope\n");
        assert_eq!(container_id_from_cgroup(&systemd_v2), Some(ID));
        let systemd_v1 = format!("1:name=systemd:/system.slice/docker-{ID}.scope/init\n");
        assert_eq!(container_id_from_cgroup(&systemd_v1), Some(ID));
        // Docker in docker: the innermost container is the process's own.
        let nested = format!("0::/docker/{OTHER}/docker/{ID}\n");
        assert_eq!(container_id_from_cgroup(&nested), Some(ID));
    }

    #[test]
    fn finds_no_container_for_host_processes_or_look_alikes() {
        for cgroup in [
            "0::/user.slice/user-1000.slice/session-2.scope\n",
            "9:name=systemd:/\n4:memory:/process_api/0d8bac403dd2d9d25cf28722524ef110\n0::/\n",
            &format!("0::/docker/{}\n", ID.to_uppercase()),
            &format!("0::/docker/{ID}0\n"),
            &format!("0::/system.slice/containerd-{ID}.scope\n"),
            "",
            "garbage without colons",
        ] {
            assert_eq!(container_id_from_cgroup(cgroup), None, "{cgroup}");
        }
    }
}
