//! `rwsgi-daemon`: a mod_rwsgi daemon process. The Apache parent forks, drops
//! to the group's user and execs this program, so the daemon holds nothing of
//! Apache's memory; see `rwsgi_daemon::start`.

fn main() {
    rwsgi_daemon::start::main()
}
