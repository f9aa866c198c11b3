//! The process's open-file limit. Every connection is a file descriptor, and the usual
//! soft limit (1,024) is far below what one server can serve; the hard limit, which an
//! unprivileged process may raise its soft limit to, is usually much higher.

/// Raises the soft open-file limit to the hard limit; returns the limit before and after.
#[cfg(unix)]
#[allow(clippy::unnecessary_cast)] // `rlim_t` is not u64 on every platform
pub fn raise_open_file_limit() -> std::io::Result<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit for the duration of the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let before = lim.rlim_cur;
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: `lim` is a valid rlimit; raising the soft limit up to the hard one is
        // allowed for any process.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok((before as u64, lim.rlim_cur as u64))
}

#[cfg(not(unix))]
pub fn raise_open_file_limit() -> std::io::Result<(u64, u64)> {
    Ok((0, 0))
}

#[cfg(all(test, unix))]
mod tests {
    /// nextest runs each test in its own process, so lowering the limit here touches no
    /// other test.
    #[test]
    #[allow(clippy::unnecessary_cast)]
    fn the_soft_limit_is_raised_to_the_hard_limit() {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
        let hard = lim.rlim_max;
        lim.rlim_cur = hard.min(256);
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
        let (before, after) = super::raise_open_file_limit().unwrap();
        assert_eq!(before, hard.min(256) as u64);
        assert_eq!(after, hard as u64);
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
        assert_eq!(lim.rlim_cur, hard);
    }
}
