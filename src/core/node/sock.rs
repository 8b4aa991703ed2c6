//! The few socket calls the driver does not offer, made on a connection's descriptor (the
//! driver exposes it as `AsRawFd`). Linux and other Unixes only.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

/// Ends a connection another thread is blocked on: its read or write returns at once. With
/// `SO_LINGER` 0 the close that follows resets the connection and drops whatever the kernel
/// still holds to send, so a statement stuck behind a network cut is never delivered after
/// the cut heals (TCP would otherwise retransmit it, and it could commit late).
///
/// The caller must guarantee `fd` is still the connection's: the watchdog calls this only
/// while the statement is registered, and the statement's thread unregisters it under the
/// same lock before its connection can be closed.
pub fn abort(fd: RawFd) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: plain syscalls on a descriptor the caller guarantees open; errors are harmless
    // (the connection is being thrown away either way).
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
        libc::shutdown(fd, libc::SHUT_RDWR);
    }
}

/// Sets (or with `None` clears) the receive timeout of a connection: pooled connections wait
/// for a statement's reply as long as it takes (the watchdog judges the node), but a ping of an
/// idle connection must not outlast the failure-detection time.
pub fn set_read_timeout(fd: RawFd, timeout: Option<Duration>) -> io::Result<()> {
    let t = timeout.unwrap_or(Duration::ZERO);
    let tv = libc::timeval {
        tv_sec: t.as_secs() as libc::time_t,
        // At least 1 µs: a zero timeval would mean "no timeout".
        tv_usec: match (timeout, t.subsec_micros()) {
            (Some(_), 0) if t.as_secs() == 0 => 1,
            (_, us) => us as libc::suseconds_t,
        },
    };
    // SAFETY: a plain syscall on an open descriptor owned by the caller's connection.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsRawFd;
    use std::time::Instant;

    #[test]
    fn abort_wakes_a_blocked_reader() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let _server = listener.accept().unwrap();
        let fd = client.as_raw_fd();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            abort(fd);
        });
        let started = Instant::now();
        let mut buf = [0u8; 8];
        let n = client.read(&mut buf).unwrap_or(0);
        assert_eq!(n, 0, "EOF after shutdown");
        assert!(started.elapsed() < Duration::from_secs(5));
        t.join().unwrap();
    }

    #[test]
    fn read_timeout_bounds_and_clears() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let _server = listener.accept().unwrap();
        set_read_timeout(client.as_raw_fd(), Some(Duration::from_millis(50))).unwrap();
        let mut buf = [0u8; 8];
        let e = client.read(&mut buf).unwrap_err();
        assert!(matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ));
        set_read_timeout(client.as_raw_fd(), None).unwrap();
        assert_eq!(client.read_timeout().unwrap(), None);
    }
}
