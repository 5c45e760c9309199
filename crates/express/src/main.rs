//! rwsgi-express: serve a WSGI application through Debian's Apache and
//! mod_rwsgi with one command, as mod_wsgi-express does for mod_wsgi.

mod locate;
mod options;
mod run;
mod setup;

use std::io::IsTerminal;
use std::process::ExitCode;

use options::Parsed;

const USAGE: &str = "\
usage: rwsgi-express COMMAND [OPTIONS] [ENTRY-POINT]

Serve a Python WSGI application through Apache (/usr/sbin/apache2) and
mod_rwsgi with one command. Option names and defaults follow mod_wsgi-express.

Commands:
  start-server [OPTIONS] [ENTRY-POINT]
        Write a server root (see setup-server), then run Apache in the
        foreground until Ctrl-C / SIGTERM. SIGHUP restarts it, SIGUSR1
        restarts it gracefully. Prints the URL once Apache accepts requests.
  setup-server [OPTIONS] [ENTRY-POINT]
        Only write the server root: httpd.conf, apachectl (start, stop,
        restart, graceful, configtest), envvars and logs; for systemd or cron.
  module-config [--module-path FILE] [--python-home DIR]
        Print the configuration lines that load mod_rwsgi into a system Apache.
  module-location [--module-path FILE]
        Print the path of mod_rwsgi.so.
  install-module [--module-path FILE]
        Copy mod_rwsgi.so into Apache's module directory (apxs -q LIBEXECDIR).
  help [COMMAND], --help, --version

ENTRY-POINT is a WSGI script file (default), a module name with
--application-type module ('pkg.module' or 'pkg.module:callable'), or a Paste
Deploy .ini file with --application-type paste.

Examples:
  rwsgi-express start-server app.wsgi
  rwsgi-express start-server --application-type module mysite.wsgi --python-home venv --port 8080
  rwsgi-express setup-server app.wsgi --server-root /srv/app/apache && /srv/app/apache/apachectl start
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match dispatch(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rwsgi-express: error: {e}");
            ExitCode::from(2)
        }
    }
}

fn dispatch(args: &[String]) -> Result<ExitCode, String> {
    let Some(command) = args.first() else {
        eprint!("{USAGE}");
        return Ok(ExitCode::from(2));
    };
    let rest = &args[1..];
    if rest.iter().any(|a| a == "--help" || a == "-h") {
        print_help(command);
        return Ok(ExitCode::SUCCESS);
    }
    match command.as_str() {
        "--help" | "-h" => {
            print!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        "help" => {
            match rest.first() {
                Some(c) => print_help(c),
                None => print!("{USAGE}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        "--version" | "version" => {
            println!("rwsgi-express {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        "setup-server" => {
            let o = Parsed::parse(rest)?;
            let s = setup::setup(&o, o.flag("--log-to-terminal"), false)?;
            println!("Server root    : {}", s.root.display());
            println!("Configuration  : {}", s.conf.display());
            println!("Control script : {}", s.apachectl.display());
            println!("Server URL     : {}", s.url);
            if let Some(u) = &s.https_url {
                println!("Server URL     : {u}");
            }
            if let Some(l) = &s.error_log {
                println!("Error log      : {}", l.display());
            }
            println!("Start it with  : {} start", s.apachectl.display());
            Ok(ExitCode::SUCCESS)
        }
        "start-server" => {
            let o = Parsed::parse(rest)?;
            let terminal = !o.flag("--log-to-files") && (o.flag("--log-to-terminal") || std::io::stderr().is_terminal());
            let s = setup::setup(&o, terminal, !o.flag("--setup-only"))?;
            if o.flag("--setup-only") {
                println!("Server root    : {}", s.root.display());
                println!("Control script : {}", s.apachectl.display());
                return Ok(ExitCode::SUCCESS);
            }
            run::start(&s)
        }
        "module-location" | "module-config" | "install-module" => {
            let o = Parsed::parse(rest)?;
            if !o.positional.is_empty() {
                return Err(format!("{command} takes no arguments, got: {}", o.positional.join(" ")));
            }
            let modules_dir = o.get("--modules-directory").unwrap_or_default();
            let module = locate::module(o.get("--module-path").as_deref(), &modules_dir)?;
            match command.as_str() {
                "module-location" => println!("{}", module.display()),
                "module-config" => {
                    println!("LoadModule rwsgi_module {}", module.display());
                    if let Some(h) = o.get("--python-home") {
                        let h = std::path::absolute(&h).map_err(|e| e.to_string())?;
                        if !h.join("pyvenv.cfg").is_file() {
                            return Err(format!("--python-home {}: no virtual environment there (no pyvenv.cfg)", h.display()));
                        }
                        println!("WSGIPythonHome {}", h.display());
                    }
                }
                _ => install_module(&module)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        other => Err(format!("unknown command '{other}'; commands: start-server, setup-server, module-config, module-location, install-module (see --help)")),
    }
}

fn print_help(command: &str) {
    match command {
        "start-server" | "setup-server" => {
            println!("usage: rwsgi-express {command} [OPTIONS] [ENTRY-POINT]");
            if command == "start-server" {
                println!(
                    "\nWrites the server root, then runs Apache in the foreground. On a terminal the\n\
                     logs go to the terminal (--log-to-files keeps them in files) and Ctrl-C stops\n\
                     the server; SIGTERM stops it, SIGHUP restarts it, SIGUSR1 restarts it\n\
                     gracefully. The URL is printed once Apache accepts connections."
                );
            } else {
                println!(
                    "\nWrites the server root (default /tmp/rwsgi-express-HOST:PORT:UID): httpd.conf,\n\
                     apachectl, envvars and the generated WSGI scripts. Control the server with\n\
                     SERVER-ROOT/apachectl start|stop|restart|graceful|configtest."
                );
            }
            print!("{}", options::help());
        }
        "module-config" => println!("usage: rwsgi-express module-config [--module-path FILE] [--python-home DIR]\n\nPrints the LoadModule line for mod_rwsgi (and WSGIPythonHome with --python-home)."),
        "module-location" => println!("usage: rwsgi-express module-location [--module-path FILE]\n\nPrints the path of the mod_rwsgi.so this program uses."),
        "install-module" => println!("usage: rwsgi-express install-module [--module-path FILE]\n\nCopies mod_rwsgi.so to `apxs -q LIBEXECDIR` (apxs comes with apache2-dev) and prints the LoadModule line."),
        _ => print!("{USAGE}"),
    }
}

fn install_module(module: &std::path::Path) -> Result<(), String> {
    let out = std::process::Command::new("apxs")
        .args(["-q", "LIBEXECDIR"])
        .output()
        .map_err(|e| format!("cannot run apxs ({e}); install the Debian package apache2-dev"))?;
    if !out.status.success() {
        return Err(format!("apxs -q LIBEXECDIR failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let dest = std::path::Path::new(&dir).join("mod_rwsgi.so");
    if dest.exists() && std::fs::canonicalize(&dest).ok() == std::fs::canonicalize(module).ok() {
        println!("LoadModule rwsgi_module {}", dest.display());
        return Ok(());
    }
    // Copy beside, then rename: a running Apache keeps its mapping of the old file.
    let tmp = dest.with_extension("so.new");
    std::fs::copy(module, &tmp).map_err(|e| format!("cannot copy {} to {}: {e}", module.display(), tmp.display()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644)).map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, &dest).map_err(|e| format!("cannot install {}: {e}", dest.display()))?;
    eprintln!("rwsgi-express: installed {}", dest.display());
    println!("LoadModule rwsgi_module {}", dest.display());
    Ok(())
}
