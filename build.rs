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

/// The Apache/APR (and shim) functions the module calls.
const FUNCTIONS: &[&str] = &[
    "ap_add_cgi_vars", "ap_add_common_vars", "ap_add_version_component", "ap_allow_options", "ap_check_cmd_context",
    "ap_close_listeners", "ap_get_client_block", "ap_get_conn_socket", "ap_get_limit_req_body", "ap_get_server_description",
    "ap_get_server_module_loglevel", "ap_get_server_port", "ap_hook_child_init", "ap_hook_handler", "ap_hook_monitor", "ap_hook_pre_mpm", "ap_hook_post_config", "ap_hook_pre_config",
    "ap_hook_translate_name", "ap_mpm_query", "ap_pass_brigade", "ap_pregcomp", "ap_pregsub", "ap_regexec",
    "ap_run_generate_log_id", "ap_runtime_dir_relative", "ap_server_root_relative", "ap_set_content_length",
    "ap_set_content_type", "ap_setup_client_block", "ap_should_client_block", "ap_state_query",
    "apr_brigade_cleanup", "apr_brigade_create", "apr_brigade_insert_file", "apr_bucket_alloc", "apr_bucket_free",
    "apr_file_dup", "apr_os_file_put", "apr_palloc", "apr_pool_cleanup_null", "apr_pool_cleanup_register",
    "apr_pool_note_subprocess", "apr_proc_fork", "apr_proc_other_child_register", "apr_proc_other_child_unregister",
    "apr_pstrmemdup", "apr_pool_userdata_get", "apr_pool_userdata_set", "apr_socket_timeout_set", "apr_table_addn", "apr_table_elts", "apr_table_get", "apr_table_setn", "apr_table_unset", "ap_show_mpm", "ap_get_server_built",
    "rwsgi_.*",
    // The script hooks: auth providers, the access checker, and what they read.
    "ap_register_auth_provider", "ap_hook_access_checker", "ap_getword_conf", "ap_get_remote_host", "ap_satisfies",
    "ap_some_auth_required", "apr_table_make", "apr_dynamic_fn_retrieve",
];

/// The constants and globals it reads.
const VARIABLES: &[&str] = &[
    "OK", "DECLINED", "HTTP_.*", "APLOG_.*", "OR_FILEINFO", "OR_AUTHCFG", "ACCESS_CONF", "RSRC_CONF", "GLOBAL_ONLY",
    "REQUEST_CHUNKED_.*", "AP_MPMQ_.*", "AP_SQ_.*", "MODULE_MAGIC_.*", "APR_HOOK_MIDDLE", "APR_HOOK_REALLY_FIRST", "APR_HOOK_REALLY_LAST", "APR_SUCCESS", "OPT_EXECCGI",
    "AP_REQ_REJECT_PATH_INFO", "AP_REG_.*", "APR_FOPEN_READ", "APR_FOPEN_SENDFILE_ENABLED", "APR_OC_REASON_.*",
    "APR_INCHILD", "APR_INPARENT", "ap_server_conf", "ap_unixd_config", "ap_conftree",
    "AUTHN_PROVIDER_.*", "AUTHZ_PROVIDER_.*", "AP_AUTH_INTERNAL_PER_CONF", "SATISFY_ANY", "REMOTE_HOST",
];

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

    // Export the module record under mod_wsgi's symbol too (`LoadModule
    // wsgi_module …/mod_rwsgi.so`): an alias of `rwsgi_module`, made global by a
    // second version script (rustc's own script keeps unlisted symbols local;
    // GNU ld merges the two).
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    let exports = out_dir.join("wsgi_module.map");
    std::fs::write(&exports, "{ global: wsgi_module; };\n").expect("cannot write the export map");
    println!("cargo:rustc-cdylib-link-arg=-Wl,--defsym=wsgi_module=rwsgi_module");
    println!("cargo:rustc-cdylib-link-arg=-Wl,--version-script={}", exports.display());


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
        // Exactly what the module calls or reads: a new use is added here, so the
        // bindings (and their layout tests) stay small.
        .allowlist_function(FUNCTIONS.join("|"))
        .allowlist_type("request_rec|server_rec|conn_rec|module|command_rec|cmd_parms|process_rec|apr_table_entry_t|ap_regmatch_t|ap_regex_t|apr_bucket_brigade|apr_proc_t|unixd_config_rec|authn_provider|authz_provider")
        .allowlist_var(VARIABLES.join("|"))
        .default_macro_constant_type(bindgen::MacroTypeVariation::Signed)
        .derive_default(true)
        // Checks, in `cargo test`, that each struct's size, alignment and field
        // offsets match the installed headers.
        .layout_tests(true)
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
