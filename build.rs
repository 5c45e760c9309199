//! Generates the Apache/APR bindings and builds the C shim.
//!
//! Header locations come from the installed Apache build (`apxs -q INCLUDEDIR`)
//! and APR (`apr-1-config --includes --cppflags`, `apu-1-config --includes`),
//! so the structure layouts match the server the module is loaded into.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn tool_output(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{tool} {}`: {e} (install apache2-dev)", args.join(" ")));
    assert!(out.status.success(), "`{tool} {}` failed", args.join(" "));
    String::from_utf8(out.stdout).expect("tool output is not UTF-8").trim().to_string()
}

/// Splits compiler flags into include directories and `-D` definitions.
fn parse_flags(flags: &str, includes: &mut Vec<String>, defines: &mut Vec<String>) {
    for flag in flags.split_whitespace() {
        if let Some(dir) = flag.strip_prefix("-I") {
            if !includes.iter().any(|d| d == dir) {
                includes.push(dir.to_string());
            }
        } else if let Some(def) = flag.strip_prefix("-D") {
            if !defines.iter().any(|d| d == def) {
                defines.push(def.to_string());
            }
        }
    }
}

fn main() {
    let apxs = env::var("APXS").unwrap_or_else(|_| "apxs".to_string());
    let mut includes = vec![tool_output(&apxs, &["-q", "INCLUDEDIR"])];
    let mut defines = Vec::new();
    let apr_config = tool_output(&apxs, &["-q", "APR_CONFIG"]);
    let apu_config = tool_output(&apxs, &["-q", "APU_CONFIG"]);
    parse_flags(&tool_output(&apr_config, &["--includes", "--cppflags"]), &mut includes, &mut defines);
    parse_flags(&tool_output(&apu_config, &["--includes"]), &mut includes, &mut defines);

    println!("cargo:rerun-if-changed=shim/rwsgi_shim.c");
    println!("cargo:rerun-if-changed=shim/rwsgi_shim.h");
    println!("cargo:rerun-if-changed=shim/bindings.h");
    println!("cargo:rerun-if-env-changed=APXS");
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");

    // The interpreter the module is built against; Python's start-up uses it to
    // find the standard library and reports it as sys.executable.
    let python = env::var("PYO3_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".to_string());
    println!("cargo:rustc-env=RWSGI_BUILD_PYTHON={python}");

    let mut shim = cc::Build::new();
    shim.file("shim/rwsgi_shim.c").include("shim").warnings(true);
    for dir in &includes {
        shim.include(dir);
    }
    for def in &defines {
        match def.split_once('=') {
            Some((k, v)) => shim.define(k, v),
            None => shim.define(def, None),
        };
    }
    shim.compile("rwsgi_shim");

    let mut builder = bindgen::Builder::default()
        .header("shim/bindings.h")
        .clang_arg("-Ishim")
        .allowlist_function("ap_.*|apr_.*|rwsgi_.*")
        .allowlist_type("request_rec|server_rec|conn_rec|module|command_rec|cmd_parms|process_rec|apr_table_entry_t|ap_regmatch_t|ap_regex_t|apr_finfo_t|apr_bucket_brigade|apr_proc_t|unixd_config_rec")
        .allowlist_var(
            "OK|DECLINED|DONE|HTTP_.*|M_.*|APLOG_.*|OR_.*|ACCESS_CONF|RSRC_CONF|EXEC_ON_READ|GLOBAL_ONLY|NOT_IN_.*|REQUEST_CHUNKED_.*|REQUEST_NO_BODY|AP_MPMQ_.*|AP_SQ_.*|MODULE_MAGIC_.*|APR_HOOK_.*|APR_SUCCESS|APR_EOF|OPT_.*|AP_REQ_.*|AP_REG_.*|APR_FINFO_.*|APR_FOPEN_.*|APR_SENDFILE_ENABLED|AP_SERVER_.*VERSION.*|APR_OC_REASON_.*|APR_KILL_.*|APR_INCHILD|APR_INPARENT|AP_IOBUFSIZE|APR_OS_START_.*|ap_server_conf|ap_unixd_config",
        )
        // Only what the module uses: long-double helpers and the like stay out.
        .blocklist_function(".*v?printf.*|apr_.*_vformatter|apr_pvsprintf|apr_psprintf")
        .default_macro_constant_type(bindgen::MacroTypeVariation::Signed)
        .derive_default(true)
        .layout_tests(false)
        .generate_comments(false)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()));
    for dir in &includes {
        builder = builder.clang_arg(format!("-I{dir}"));
    }
    for def in &defines {
        builder = builder.clang_arg(format!("-D{def}"));
    }
    let bindings = builder.generate().expect("bindgen failed on the Apache/APR headers");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("apache_bindings.rs");
    bindings.write_to_file(out).expect("cannot write bindings");
}
