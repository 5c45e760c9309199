//! `start-server`: runs the generated server's Apache in the foreground,
//! passes signals on, and says when it is ready.

use std::io::{IsTerminal, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use crate::setup::Server;

/// The signals we take over while Apache runs, and what Apache receives for each.
const FORWARD: [(libc::c_int, libc::c_int); 4] = [
    (libc::SIGINT, libc::SIGTERM),  // Ctrl-C: stop
    (libc::SIGTERM, libc::SIGTERM), // stop
    (libc::SIGHUP, libc::SIGHUP),   // restart
    (libc::SIGUSR1, libc::SIGUSR1), // graceful restart
];

fn signal_set() -> libc::sigset_t {
    // SAFETY: sigset manipulation on a local.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for (s, _) in FORWARD {
            libc::sigaddset(&mut set, s);
        }
        libc::sigaddset(&mut set, libc::SIGCHLD);
        set
    }
}

/// Fails with a clear message when something already listens on a port we need.
fn check_ports(s: &Server) -> Result<(), String> {
    for (host, port) in &s.listen {
        let addrs: Vec<String> = match host {
            Some(h) if h.contains(':') => vec![format!("[{h}]:{port}")],
            Some(h) => vec![format!("{h}:{port}")],
            // Apache's `Listen PORT` takes [::]:PORT (both IPv4 and IPv6) when it can.
            None if TcpListener::bind(("::", 0)).is_ok() => vec![format!("[::]:{port}")],
            None => vec![format!("0.0.0.0:{port}")],
        };
        for a in addrs {
            let Ok(mut resolved) = a.to_socket_addrs() else { continue };
            let Some(addr) = resolved.next() else { continue };
            if let Err(e) = TcpListener::bind(addr) {
                return Err(match e.kind() {
                    std::io::ErrorKind::AddrInUse => format!(
                        "port {port} is already in use on {} (another server listens there); stop it or choose another port with --port/--https-port",
                        host.as_deref().unwrap_or("all interfaces")
                    ),
                    std::io::ErrorKind::AddrNotAvailable => {
                        format!("--host {}: not an address of this machine ({e})", host.as_deref().unwrap_or(""))
                    }
                    _ => format!("cannot listen on {a}: {e}"),
                });
            }
        }
    }
    Ok(())
}

fn can_connect(host: &str, port: u16) -> bool {
    let Ok(mut addrs) = (host, port).to_socket_addrs() else { return false };
    addrs.next().is_some_and(|a| TcpStream::connect_timeout(&a, Duration::from_millis(300)).is_ok())
}

fn log_tail(s: &Server, max_lines: usize) -> String {
    let Some(path) = &s.error_log else { return String::new() };
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(max_lines)..].join("\n")
}

pub fn start(s: &Server) -> Result<ExitCode, String> {
    check_ports(s)?;
    let on_terminal = std::io::stdin().is_terminal();
    let set = signal_set();
    // Block the signals we forward: they are collected with sigtimedwait below.
    // SAFETY: changing this (single-threaded) process's signal mask.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    let mut cmd = Command::new(&s.apachectl);
    cmd.args(["start", "-DFOREGROUND"]);
    // Apache must start with no signal blocked (a blocked mask survives exec).
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::pthread_sigmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            Ok(())
        });
    }
    if on_terminal {
        // Its own process group: Ctrl-C reaches us only, and we stop Apache in order.
        cmd.process_group(0);
    }
    let mut child = cmd.spawn().map_err(|e| format!("cannot run {}: {e}", s.apachectl.display()))?;
    let pid = child.id() as libc::pid_t;
    let started = Instant::now();
    let mut ready = false;
    let mut stopping = false;
    let mut warned = false;
    loop {
        let timeout = libc::timespec { tv_sec: 0, tv_nsec: 100_000_000 };
        // SAFETY: waiting for one of the blocked signals, with a timeout.
        let sig = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &timeout) };
        if let Some(&(_, to)) = FORWARD.iter().find(|(from, _)| *from == sig) {
            if sig == libc::SIGINT || sig == libc::SIGTERM {
                if !stopping {
                    eprintln!("rwsgi-express: stopping Apache (pid {pid})");
                }
                stopping = true;
            }
            // SAFETY: signalling our own child.
            unsafe { libc::kill(pid, to) };
        }
        match child.try_wait() {
            Ok(Some(status)) => {
                let code = status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
                if !ready && !stopping {
                    let tail = log_tail(s, 30);
                    eprintln!("rwsgi-express: Apache exited during start-up ({status})");
                    if s.error_log.as_ref().is_some_and(|l| !l.exists()) {
                        // Before its error log is open, Apache reports (e.g. a port taken
                        // since our check) on stderr only, which is this terminal's.
                        eprintln!("rwsgi-express: Apache stopped before opening its error log; its reason is above");
                    }
                    if tail.contains("Address already in use") {
                        eprintln!("rwsgi-express: error: a port is already in use; choose another with --port/--https-port");
                    }
                    if !tail.is_empty() {
                        eprintln!("--- last lines of {} ---\n{tail}", s.error_log.as_ref().unwrap().display());
                    }
                    return Ok(ExitCode::from(if code == 0 { 1 } else { code.clamp(1, 255) as u8 }));
                }
                return Ok(ExitCode::from(code.clamp(0, 255) as u8));
            }
            Ok(None) => {}
            Err(e) => return Err(format!("waiting for Apache: {e}")),
        }
        if !ready && !stopping && can_connect(&s.probe.0, s.probe.1) {
            ready = true;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "rwsgi-express: serving {} (Apache pid {pid}, server root {})", s.url, s.root.display());
            if let Some(u) = &s.https_url {
                let _ = writeln!(out, "rwsgi-express: serving {u}");
            }
            if let Some(l) = &s.error_log {
                let _ = writeln!(out, "rwsgi-express: error log {}", l.display());
            }
            let _ = writeln!(out, "rwsgi-express: {} stops the server", if on_terminal { "Ctrl-C" } else { "SIGTERM" });
            let _ = out.flush();
        }
        if !ready && !warned && started.elapsed() > Duration::from_secs(10) {
            warned = true;
            eprintln!("rwsgi-express: Apache (pid {pid}) is not accepting connections after 10 s; still waiting");
        }
    }
}
