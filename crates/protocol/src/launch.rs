//! The launch message: everything the Apache parent tells a daemon process
//! that it starts by fork plus exec of `rwsgi-daemon`. The new program image
//! holds nothing of Apache's memory; what it knows of its group arrives here,
//! in a memfd inherited as descriptor [`LAUNCH_FD`] (the group's listening
//! socket is [`LISTENER_FD`]).
//!
//! The sender is the root parent and the reader is the daemon, so the
//! direction is trusted; the decoder still rejects every malformed input
//! without panicking (it is fuzzed), so a damaged message is a clear error.
//!
//! Layout: the magic `RWSGI-LAUNCH`, the version, then the fields in the
//! order of [`Launch`], each a little-endian integer, a length-prefixed
//! string, or a count-prefixed list of those; nothing may follow.

/// Descriptor number of the launch message in a new daemon process.
pub const LAUNCH_FD: i32 = 3;
/// Descriptor number of the group's listening socket in a new daemon process.
pub const LISTENER_FD: i32 = 4;
/// The group's metrics region (a sealed-size memfd), when the launch says so.
pub const METRICS_FD: i32 = 5;

pub use rwsgi_config::{HashSeed, InterpreterOptions, PythonSettings};

const MAGIC: &[u8] = b"RWSGI-LAUNCH";
const VERSION: u16 = 2;
/// A launch message is a few kilobytes; refuse anything absurd before reading it.
pub const MAX_LAUNCH: usize = 1 << 20;
/// Length of the per-group connection secret (see [`Launch::secret`]).
pub const SECRET_LEN: usize = 32;

/// `WSGIImportScript` for this group.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Import {
    pub path: String,
    pub process_group: String,
    pub application_group: String,
}

/// script-user= / script-group=.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScriptOwner {
    User(u32),
    Group(u32),
}

/// What a new daemon process is told.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Launch {
    /// The group's index in the generation, and this process's index in the group.
    pub group_id: u32,
    pub index: u32,
    /// The `WSGIDaemonProcess` arguments as written (name first); the daemon
    /// parses them again with the same parser the directive used.
    pub arguments: Vec<String>,
    pub virtual_host: Option<String>,
    pub socket_path: String,
    /// The identity the parent switched to before the exec (the daemon checks it).
    pub uid: u32,
    pub gid: u32,
    pub groups: Option<Vec<u32>>,
    pub user_name: Option<String>,
    pub home: Option<String>,
    /// The interpreter settings of the group's processes (the server's, with
    /// the group's python-home= and python-path= applied).
    pub python: PythonSettings,
    pub imports: Vec<Import>,
    /// What the running Apache reports about itself (for `apache.version` and
    /// the `apache` module).
    pub server: ServerInfo,
    /// The main server's `Timeout`, in milliseconds (the default socket-timeout).
    pub apache_timeout_ms: u64,
    pub socket_uid: u32,
    pub script_owner: Option<ScriptOwner>,
    /// `LogLevel rwsgi:` of the main server, as Apache numbers levels (0 emerg … 7 debug, 8+ trace).
    pub log_level: u8,
    /// The secret an Apache child sends first on each connection to this group
    /// (empty: no secret is required).
    pub secret: Vec<u8>,
    /// The script locations the configuration routes to this group (glob
    /// patterns, see `rwsgi_config::scripts`); `None`: not restricted.
    pub scripts: Option<Vec<String>>,
    /// The group's metrics memfd is on [`METRICS_FD`] (see rwsgi-metrics).
    pub metrics_fd: bool,
    /// WSGISlowRequests, in microseconds (0: off).
    pub slow_requests_us: u64,
}

/// The Apache facts a daemon reports to its applications.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerInfo {
    pub version: (u32, u32, u32),
    pub description: String,
    pub mpm_name: String,
    pub build_date: String,
    pub maximum_processes: i64,
    pub threads_per_process: i64,
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    put_u32(out, s.len() as u32);
    out.extend_from_slice(s);
}

fn put_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => {
            out.push(1);
            put_str(out, s.as_bytes());
        }
        None => out.push(0),
    }
}

fn put_strs(out: &mut Vec<u8>, list: &[String]) {
    put_u32(out, list.len() as u32);
    for s in list {
        put_str(out, s.as_bytes());
    }
}

fn put_opt_f64(out: &mut Vec<u8>, v: Option<f64>) {
    match v {
        Some(x) => {
            out.push(1);
            out.extend_from_slice(&x.to_le_bytes());
        }
        None => out.push(0),
    }
}

fn put_opt_bool(out: &mut Vec<u8>, v: Option<bool>) {
    out.push(match v {
        None => 0,
        Some(false) => 1,
        Some(true) => 2,
    });
}

impl Launch {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4096);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        put_u32(&mut out, self.group_id);
        put_u32(&mut out, self.index);
        put_strs(&mut out, &self.arguments);
        put_opt_str(&mut out, self.virtual_host.as_deref());
        put_str(&mut out, self.socket_path.as_bytes());
        put_u32(&mut out, self.uid);
        put_u32(&mut out, self.gid);
        match &self.groups {
            Some(list) => {
                out.push(1);
                put_u32(&mut out, list.len() as u32);
                list.iter().for_each(|g| put_u32(&mut out, *g));
            }
            None => out.push(0),
        }
        put_opt_str(&mut out, self.user_name.as_deref());
        put_opt_str(&mut out, self.home.as_deref());
        let p = &self.python;
        put_opt_str(&mut out, p.home.as_deref());
        put_strs(&mut out, &p.paths);
        match p.optimize {
            Some(level) => out.extend_from_slice(&[1, level]),
            None => out.push(0),
        }
        match p.hash_seed {
            None => out.push(0),
            Some(HashSeed::Random) => out.push(1),
            Some(HashSeed::Fixed(seed)) => {
                out.push(2);
                put_u32(&mut out, seed);
            }
        }
        for v in [p.dont_write_bytecode, p.restrict_stdin, p.restrict_stdout, p.restrict_signal, p.destroy_interpreter] {
            put_opt_bool(&mut out, v);
        }
        put_strs(&mut out, &p.warnings);
        put_opt_str(&mut out, p.eggs.as_deref());
        put_opt_f64(&mut out, p.switch_interval);
        put_u32(&mut out, p.interpreter_options.len() as u32);
        for o in &p.interpreter_options {
            put_opt_str(&mut out, o.process_group.as_deref());
            put_opt_str(&mut out, o.application_group.as_deref());
            put_strs(&mut out, &o.paths);
            put_opt_f64(&mut out, o.switch_interval);
            for v in [o.restrict_stdin, o.restrict_stdout, o.restrict_signal, o.per_interpreter_gil] {
                put_opt_bool(&mut out, v);
            }
        }
        put_u32(&mut out, self.imports.len() as u32);
        for i in &self.imports {
            for s in [&i.path, &i.process_group, &i.application_group] {
                put_str(&mut out, s.as_bytes());
            }
        }
        let si = &self.server;
        let (major, minor, patch) = si.version;
        for v in [major, minor, patch] {
            put_u32(&mut out, v);
        }
        for text in [&si.description, &si.mpm_name, &si.build_date] {
            put_str(&mut out, text.as_bytes());
        }
        out.extend_from_slice(&si.maximum_processes.to_le_bytes());
        out.extend_from_slice(&si.threads_per_process.to_le_bytes());
        out.extend_from_slice(&self.apache_timeout_ms.to_le_bytes());
        put_u32(&mut out, self.socket_uid);
        match self.script_owner {
            None => out.push(0),
            Some(ScriptOwner::User(uid)) => {
                out.push(1);
                put_u32(&mut out, uid);
            }
            Some(ScriptOwner::Group(gid)) => {
                out.push(2);
                put_u32(&mut out, gid);
            }
        }
        out.push(self.log_level);
        put_str(&mut out, &self.secret);
        match &self.scripts {
            Some(list) => {
                out.push(1);
                put_strs(&mut out, list);
            }
            None => out.push(0),
        }
        out.push(u8::from(self.metrics_fd));
        out.extend_from_slice(&self.slow_requests_us.to_le_bytes());
        out
    }

    pub fn decode(data: &[u8]) -> Result<Launch, String> {
        if data.len() > MAX_LAUNCH {
            return Err(format!("launch message of {} bytes is larger than {MAX_LAUNCH}", data.len()));
        }
        let mut r = Reader { data };
        if r.take(MAGIC.len())? != MAGIC {
            return Err("not a launch message (bad magic)".into());
        }
        let version = u16::from_le_bytes(r.take(2)?.try_into().expect("2 bytes"));
        if version != VERSION {
            return Err(format!("launch message version {version}, expected {VERSION}"));
        }
        let group_id = r.u32()?;
        let index = r.u32()?;
        let arguments = r.strs()?;
        let virtual_host = r.opt_str()?;
        let socket_path = r.string()?;
        let uid = r.u32()?;
        let gid = r.u32()?;
        let groups = match r.tag(1)? {
            0 => None,
            _ => {
                let n = r.count(4)?;
                Some((0..n).map(|_| r.u32()).collect::<Result<_, _>>()?)
            }
        };
        let user_name = r.opt_str()?;
        let home = r.opt_str()?;
        let python = PythonSettings {
            home: r.opt_str()?,
            paths: r.strs()?,
            optimize: match r.tag(1)? {
                0 => None,
                _ => Some(r.u8()?),
            },
            hash_seed: match r.tag(2)? {
                0 => None,
                1 => Some(HashSeed::Random),
                _ => Some(HashSeed::Fixed(r.u32()?)),
            },
            dont_write_bytecode: r.opt_bool()?,
            restrict_stdin: r.opt_bool()?,
            restrict_stdout: r.opt_bool()?,
            restrict_signal: r.opt_bool()?,
            destroy_interpreter: r.opt_bool()?,
            warnings: r.strs()?,
            eggs: r.opt_str()?,
            switch_interval: r.opt_f64()?,
            interpreter_options: {
                let n = r.count(11)?;
                let mut list = Vec::with_capacity(n);
                for _ in 0..n {
                    list.push(InterpreterOptions {
                        process_group: r.opt_str()?,
                        application_group: r.opt_str()?,
                        paths: r.strs()?,
                        switch_interval: r.opt_f64()?,
                        restrict_stdin: r.opt_bool()?,
                        restrict_stdout: r.opt_bool()?,
                        restrict_signal: r.opt_bool()?,
                        per_interpreter_gil: r.opt_bool()?,
                    });
                }
                list
            },
        };
        let n = r.count(12)?;
        let mut imports = Vec::with_capacity(n);
        for _ in 0..n {
            imports.push(Import { path: r.string()?, process_group: r.string()?, application_group: r.string()? });
        }
        let server = ServerInfo {
            version: (r.u32()?, r.u32()?, r.u32()?),
            description: r.string()?,
            mpm_name: r.string()?,
            build_date: r.string()?,
            maximum_processes: i64::from_le_bytes(r.take(8)?.try_into().expect("8 bytes")),
            threads_per_process: i64::from_le_bytes(r.take(8)?.try_into().expect("8 bytes")),
        };
        let apache_timeout_ms = u64::from_le_bytes(r.take(8)?.try_into().expect("8 bytes"));
        let socket_uid = r.u32()?;
        let script_owner = match r.tag(2)? {
            0 => None,
            1 => Some(ScriptOwner::User(r.u32()?)),
            _ => Some(ScriptOwner::Group(r.u32()?)),
        };
        let log_level = r.u8()?;
        let secret = r.bytes()?.to_vec();
        if !secret.is_empty() && secret.len() != SECRET_LEN {
            return Err(format!("the connection secret has {} bytes, expected {SECRET_LEN}", secret.len()));
        }
        let scripts = match r.tag(1)? {
            0 => None,
            _ => Some(r.strs()?),
        };
        let metrics_fd = r.tag(1)? == 1;
        let slow_requests_us = u64::from_le_bytes(r.take(8)?.try_into().expect("8 bytes"));
        if !r.data.is_empty() {
            return Err(format!("{} unexpected bytes after the launch message", r.data.len()));
        }
        if arguments.is_empty() {
            return Err("the launch message names no WSGIDaemonProcess arguments".into());
        }
        Ok(Launch {
            group_id,
            index,
            arguments,
            virtual_host,
            socket_path,
            uid,
            gid,
            groups,
            user_name,
            home,
            python,
            imports,
            server,
            apache_timeout_ms,
            socket_uid,
            script_owner,
            log_level,
            secret,
            scripts,
            metrics_fd,
            slow_requests_us,
        })
    }
}

/// Reads the launch message's fields; every read checks what is left.
struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.data.len() < n {
            return Err(format!("launch message truncated: needed {n} more bytes, {} left", self.data.len()));
        }
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
    /// A tag byte no larger than `max`.
    fn tag(&mut self, max: u8) -> Result<u8, String> {
        let t = self.u8()?;
        if t > max {
            return Err(format!("launch message: tag {t} where at most {max} is defined"));
        }
        Ok(t)
    }
    /// A count of items of at least `min_item` bytes each, checked against what is left.
    fn count(&mut self, min_item: usize) -> Result<usize, String> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_item) > self.data.len() {
            return Err(format!("launch message: count {n} exceeds the message"));
        }
        Ok(n)
    }
    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn string(&mut self) -> Result<String, String> {
        let b = self.bytes()?;
        if b.contains(&0) {
            return Err("launch message: a string contains a NUL".into());
        }
        String::from_utf8(b.to_vec()).map_err(|_| "launch message: a string is not UTF-8".to_string())
    }
    fn opt_str(&mut self) -> Result<Option<String>, String> {
        match self.tag(1)? {
            0 => Ok(None),
            _ => self.string().map(Some),
        }
    }
    fn strs(&mut self) -> Result<Vec<String>, String> {
        let n = self.count(4)?;
        (0..n).map(|_| self.string()).collect()
    }
    fn opt_f64(&mut self) -> Result<Option<f64>, String> {
        Ok(match self.tag(1)? {
            0 => None,
            _ => Some(f64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes"))),
        })
    }

    fn opt_bool(&mut self) -> Result<Option<bool>, String> {
        Ok(match self.tag(2)? {
            0 => None,
            1 => Some(false),
            _ => Some(true),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> Launch {
        Launch {
            group_id: 3,
            index: 1,
            arguments: vec!["site".into(), "user=alice".into(), "display-name=%{GROUP}".into(), "python-path=/a:/b".into()],
            virtual_host: Some("www.example.com".into()),
            socket_path: "/run/apache2/rwsgi/wsgi.12.0.3.sock".into(),
            uid: 1001,
            gid: 1002,
            groups: Some(vec![4, 27, 1002]),
            user_name: Some("alice".into()),
            home: Some("/home/alice".into()),
            python: PythonSettings {
                home: Some("/srv/venv".into()),
                paths: vec!["/srv/lib".into(), "/srv/site".into()],
                optimize: Some(2),
                hash_seed: Some(HashSeed::Fixed(42)),
                dont_write_bytecode: Some(true),
                restrict_stdin: Some(false),
                restrict_stdout: None,
                restrict_signal: Some(true),
                destroy_interpreter: Some(false),
                warnings: vec!["ignore::DeprecationWarning".into()],
                eggs: Some("/tmp/eggs".into()),
                switch_interval: Some(0.005),
                interpreter_options: vec![InterpreterOptions {
                    process_group: Some(String::new()),
                    application_group: Some("site".into()),
                    paths: vec!["/srv/layer".into()],
                    switch_interval: Some(0.01),
                    restrict_stdout: Some(true),
                    per_interpreter_gil: Some(true),
                    ..Default::default()
                }],
            },
            imports: vec![Import { path: "/srv/app.wsgi".into(), process_group: "site".into(), application_group: "%{GLOBAL}".into() }],
            server: ServerInfo { version: (2, 4, 62), description: "Apache/2.4.62 (Debian)".into(), mpm_name: "event".into(), build_date: "today".into(), maximum_processes: 2, threads_per_process: 16 },
            apache_timeout_ms: 300_000,
            socket_uid: 33,
            script_owner: Some(ScriptOwner::Group(1002)),
            log_level: 7,
            secret: vec![7; SECRET_LEN],
            scripts: Some(vec!["/srv/app.wsgi".into(), "/srv/apps/*.wsgi".into()]),
            metrics_fd: true,
            slow_requests_us: 2_500_000,
        }
    }

    #[test]
    fn round_trips_every_field() {
        let l = full();
        assert_eq!(Launch::decode(&l.encode()).unwrap(), l);
        let minimal = Launch { arguments: vec!["g".into()], ..Default::default() };
        assert_eq!(Launch::decode(&minimal.encode()).unwrap(), minimal);
        let other = Launch {
            python: PythonSettings { hash_seed: Some(HashSeed::Random), optimize: None, ..Default::default() },
            script_owner: Some(ScriptOwner::User(5)),
            groups: None,
            scripts: Some(vec![]),
            ..full()
        };
        assert_eq!(Launch::decode(&other.encode()).unwrap(), other);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = full().encode();
        for n in 0..bytes.len() {
            assert!(Launch::decode(&bytes[..n]).is_err(), "prefix of {n} bytes decoded");
        }
    }

    #[test]
    fn rejects_trailing_bytes_bad_magic_version_and_tags() {
        let mut bytes = full().encode();
        bytes.push(0);
        assert!(Launch::decode(&bytes).unwrap_err().contains("unexpected bytes"));
        let mut bytes = full().encode();
        bytes[0] = b'X';
        assert!(Launch::decode(&bytes).unwrap_err().contains("magic"));
        let mut bytes = full().encode();
        bytes[MAGIC.len()] = 9;
        assert!(Launch::decode(&bytes).unwrap_err().contains("version"));
        // The virtual-host tag follows group_id, index and the arguments.
        let minimal = Launch { arguments: vec!["g".into()], ..Default::default() }.encode();
        let tag_at = MAGIC.len() + 2 + 4 + 4 + 4 + 4 + 1;
        let mut bytes = minimal.clone();
        bytes[tag_at] = 7;
        assert!(Launch::decode(&bytes).unwrap_err().contains("tag 7"));
    }

    #[test]
    fn rejects_hostile_counts_nul_and_bad_secret() {
        let minimal = Launch { arguments: vec!["g".into()], ..Default::default() }.encode();
        let mut bytes = minimal.clone();
        let count_at = MAGIC.len() + 2 + 8;
        bytes[count_at..count_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Launch::decode(&bytes).unwrap_err().contains("exceeds"));
        let nul = Launch { arguments: vec!["a\0b".into()], ..Default::default() };
        assert!(Launch::decode(&nul.encode()).unwrap_err().contains("NUL"));
        let short = Launch { secret: vec![1, 2, 3], ..full() };
        assert!(Launch::decode(&short.encode()).unwrap_err().contains("secret"));
        let none = Launch { arguments: vec![], ..Default::default() };
        assert!(Launch::decode(&none.encode()).unwrap_err().contains("arguments"));
        assert!(Launch::decode(&vec![0; MAX_LAUNCH + 1]).unwrap_err().contains("larger"));
    }
}
