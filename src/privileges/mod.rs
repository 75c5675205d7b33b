//! Gives up root before serving: started as root with a user to run as (`--user`, as the image
//! does), sockgate hands the sockets it created to that user, keeps the group of the engine's
//! socket as its only supplementary group, and becomes the user, so a container needs no
//! `group_add` for the socket it is given. It refuses to go on as root once told to drop, and
//! drops nothing when it was not started as root.

use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

mod proc;

use nix::unistd::{chown, getegid, geteuid, getgid, getuid, setgid, setgroups, setuid, Gid, Uid};

/// The numeric user and group to run as, `UID[:GID]` (the group defaults to the uid).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
}

impl FromStr for RunAs {
    type Err = String;

    fn from_str(text: &str) -> Result<RunAs, String> {
        let number = |part: &str| {
            part.parse::<u32>().map_err(|_| format!("`{text}` is not UID[:GID] with numeric ids (such as 65534:65534)"))
        };
        let (uid, gid) = match text.split_once(':') {
            Some((uid, gid)) => (number(uid)?, number(gid)?),
            None => (number(text)?, number(text)?),
        };
        if uid == 0 {
            return Err(format!("`{text}`: the user to run as cannot be root"));
        }
        Ok(RunAs { uid, gid })
    }
}

impl fmt::Display for RunAs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.uid, self.gid)
    }
}

/// What [`drop_to`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dropped {
    /// Not started as root: nothing to give up; sockgate runs as it was started.
    NotRoot,
    /// Now running as the user, with the engine socket's group when there is one.
    To { run_as: RunAs, socket_group: Option<u32> },
}

/// A file sockgate created as root that the user must own: a unix socket it listens on, given
/// the user's group unless a group was asked for (`keep_group`).
#[derive(Debug, Clone)]
pub struct Created {
    pub path: PathBuf,
    pub keep_group: bool,
}

/// Why root could not be given up; sockgate stops rather than serve as root.
#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    #[error("cannot read the group of the engine socket `{path}`: {source}")]
    Socket { path: PathBuf, source: std::io::Error },
    #[error("cannot give `{path}` to {run_as}: {source}")]
    Handover { path: PathBuf, run_as: RunAs, source: nix::Error },
    #[error("started as root, cannot become {run_as} with the engine socket's group{group}: {source}; {FIX}")]
    Switch { run_as: RunAs, group: String, source: nix::Error },
    #[error("started as root without the capabilities SETUID and SETGID, so it cannot become {run_as}; {FIX}")]
    Incapable { run_as: RunAs },
    #[error("still root after switching to {run_as} ({what}); refusing to serve")]
    Regained { run_as: RunAs, what: String },
}

/// How to get out of a failed switch.
const FIX: &str = "refusing to serve as root. Becoming the user needs the capabilities SETUID and SETGID \
    (`--cap-drop ALL`, or compose `cap_drop: [ALL]`, removes them): keep them, or start sockgate as the user \
    instead (`--user 65534:65534 --group-add <the socket's gid>`, or compose `user:` and `group_add:`)";

/// Before anything is bound: when running as root, whether it will be able to become `run_as`,
/// so that a container started without the capabilities for it is told so, not that some
/// directory is not writable for root.
pub fn check_can_drop(run_as: RunAs) -> Result<(), PrivilegeError> {
    if !geteuid().is_root() {
        return Ok(());
    }
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else { return Ok(()) };
    match proc::effective_capabilities(&status) {
        Some(caps) if caps & (1 << proc::CAP_SETGID) == 0 || caps & (1 << proc::CAP_SETUID) == 0 => {
            Err(PrivilegeError::Incapable { run_as })
        }
        _ => Ok(()),
    }
}

/// Becomes `run_as` if running as root: first gives it the files in `created`, then keeps the
/// group of `engine_socket` (a unix socket's path; `None` for a TCP engine) as the only
/// supplementary group. glibc's `setuid` and `setgid` apply to every thread of the process, so
/// threads already started switch too; the switch is checked on each of them.
pub fn drop_to(run_as: RunAs, engine_socket: Option<&Path>, created: &[Created]) -> Result<Dropped, PrivilegeError> {
    if !geteuid().is_root() {
        return Ok(Dropped::NotRoot);
    }
    let socket_group = match engine_socket {
        Some(path) => Some(
            std::fs::metadata(path)
                .map_err(|source| PrivilegeError::Socket { path: path.to_path_buf(), source })?
                .gid(),
        ),
        None => None,
    };
    for file in created {
        let group = (!file.keep_group).then_some(Gid::from_raw(run_as.gid));
        chown(&file.path, Some(Uid::from_raw(run_as.uid)), group).map_err(|source| PrivilegeError::Handover {
            path: file.path.clone(),
            run_as,
            source,
        })?;
    }
    let groups: Vec<Gid> = socket_group.map(Gid::from_raw).into_iter().collect();
    let group = socket_group.map(|g| format!(" ({g})")).unwrap_or_default();
    let switch = |source| PrivilegeError::Switch { run_as, group: group.clone(), source };
    // Groups first: once the user is no longer root it may not change them.
    setgroups(&groups).map_err(switch)?;
    setgid(Gid::from_raw(run_as.gid)).map_err(switch)?;
    setuid(Uid::from_raw(run_as.uid)).map_err(switch)?;
    let switched = getuid().as_raw() == run_as.uid
        && geteuid().as_raw() == run_as.uid
        && getgid().as_raw() == run_as.gid
        && getegid().as_raw() == run_as.gid;
    if !switched {
        return Err(PrivilegeError::Regained { run_as, what: "this thread kept its ids".into() });
    }
    if setuid(Uid::from_raw(0)).is_ok() {
        return Err(PrivilegeError::Regained { run_as, what: "it could become root again".into() });
    }
    if let Some(thread) = proc::thread_not_switched(run_as) {
        return Err(PrivilegeError::Regained { run_as, what: format!("thread {thread} kept its ids") });
    }
    Ok(Dropped::To { run_as, socket_group })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_as_reads_uid_and_gid() {
        assert_eq!("65534:65534".parse(), Ok(RunAs { uid: 65534, gid: 65534 }));
        assert_eq!("1000".parse(), Ok(RunAs { uid: 1000, gid: 1000 }));
        assert_eq!("1000:999".parse::<RunAs>().map(|r| r.to_string()), Ok("1000:999".to_owned()));
        for bad in ["", "nobody", "1000:", ":1000", "-1", "1000:x", "0", "0:0"] {
            assert!(bad.parse::<RunAs>().is_err(), "{bad}");
        }
    }

    #[test]
    fn not_root_drops_nothing() {
        if geteuid().is_root() {
            return;
        }
        let run_as = RunAs { uid: 65534, gid: 65534 };
        assert!(matches!(drop_to(run_as, Some(Path::new("/nonexistent")), &[]), Ok(Dropped::NotRoot)));
    }
}
