//! Dropping root: `--user NAME`.
//!
//! One start's path: rootward starts as root, binds port 53 and the control
//! socket (both need root), then calls [`drop_to_user`]: the user is looked
//! up in the password database, the process takes that user's
//! supplementary groups (`initgroups`), primary group (`setgid`) and user ID
//! (`setuid`), in that order — each step needs the privilege the next one
//! removes. Sockets already open keep working; nothing new can be bound
//! below port 1024 afterwards, which is why a reload cannot change the
//! listen addresses.
//!
//! glibc and musl apply `setuid`/`setgid`/`setgroups` to every thread of the
//! process, so this is safe to call after the async runtime has started.

use std::ffi::CString;

use nix::errno::Errno;
use nix::unistd::{Gid, Uid, User, initgroups, setgid, setuid};

/// Switches the whole process to user `name` and its groups for good.
/// Errors are one line naming the user: `unknown user 'x'`, or
/// `cannot switch to user 'x': Operation not permitted (start as root)`.
pub fn drop_to_user(name: &str) -> Result<(), String> {
    let user = match User::from_name(name) {
        Ok(Some(user)) => user,
        Ok(None) => return Err(unknown_user(name)),
        Err(e) => return Err(format!("cannot look up user '{name}': {}", e.desc())),
    };
    // from_name found the user, so the name has no NUL byte.
    let c_name = CString::new(name).map_err(|_| unknown_user(name))?;
    initgroups(&c_name, user.gid).map_err(|e| switch_error(name, e))?;
    setgid(user.gid).map_err(|e| switch_error(name, e))?;
    setuid(user.uid).map_err(|e| switch_error(name, e))?;
    // A switch that can be undone is no switch (e.g. a saved set-user-ID of
    // 0 left behind by an unusual libc): refuse to run like that.
    if !user.uid.is_root() && setuid(Uid::from_raw(0)).is_ok() {
        return Err(format!(
            "cannot switch to user '{name}': root could be regained afterwards"
        ));
    }
    if !user.uid.is_root() && user.gid != Gid::from_raw(0) && setgid(Gid::from_raw(0)).is_ok() {
        return Err(format!(
            "cannot switch to user '{name}': group root could be regained afterwards"
        ));
    }
    Ok(())
}

fn unknown_user(name: &str) -> String {
    format!("unknown user '{name}'")
}

/// The message for a failed `initgroups`/`setgid`/`setuid`.
fn switch_error(name: &str, errno: Errno) -> String {
    let hint = if errno == Errno::EPERM {
        " (start as root)"
    } else {
        ""
    };
    format!("cannot switch to user '{name}': {}{hint}", errno.desc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_user_is_named_in_the_error() {
        let name = "rootward-no-such-user-x7q";
        assert_eq!(
            drop_to_user(name),
            Err("unknown user 'rootward-no-such-user-x7q'".to_string())
        );
        assert_eq!(drop_to_user("a\0b"), Err("unknown user 'a\0b'".to_string()));
    }

    #[test]
    fn a_refused_switch_says_to_start_as_root() {
        assert_eq!(
            switch_error("rootward", Errno::EPERM),
            "cannot switch to user 'rootward': Operation not permitted (start as root)"
        );
        assert_eq!(
            switch_error("rootward", Errno::EINVAL),
            "cannot switch to user 'rootward': Invalid argument"
        );
    }
}
