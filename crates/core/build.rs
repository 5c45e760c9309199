//! The interpreter the core is built against (PYO3_PYTHON at build time):
//! Python's start-up uses it to find the standard library and reports it as
//! sys.executable.

fn main() {
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    let python = std::env::var("PYO3_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".to_string());
    println!("cargo:rustc-env=RWSGI_BUILD_PYTHON={python}");
}
