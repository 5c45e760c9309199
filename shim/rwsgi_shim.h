/*
 * The C shim: the parts of the Apache/APR API that exist only as C macros
 * (logging with the module index, bucket-brigade ring operations, the http
 * scheme hook). Everything else is called directly from Rust through bindgen.
 */
#ifndef RWSGI_SHIM_H
#define RWSGI_SHIM_H

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_protocol.h"
#include "apr_buckets.h"

/* Logging through Apache's macros so that `LogLevel rwsgi:LEVEL` applies.
 * `msg` is always passed as a "%s" argument, never as a format. */
void rwsgi_log_error(const server_rec *s, int level, apr_status_t status, const char *msg);
void rwsgi_log_rerror(const request_rec *r, int level, apr_status_t status, const char *msg);
/* Whether a message at `level` would be written for this server/request. */
int rwsgi_server_log_enabled(const server_rec *s, int level);
int rwsgi_request_log_enabled(const request_rec *r, int level);

/* Brigade construction. Each appends one bucket to the tail of `bb`. */
void rwsgi_brigade_append_transient(apr_bucket_brigade *bb, const char *data, apr_size_t len);
void rwsgi_brigade_append_owned(apr_bucket_brigade *bb, char *data, apr_size_t len);
void rwsgi_brigade_append_flush(apr_bucket_brigade *bb);
void rwsgi_brigade_append_eos(apr_bucket_brigade *bb);
/* Inserts a file region whose buckets never mmap the file: a file that
 * shrinks while it is sent is then a read error, not SIGBUS. */
void rwsgi_brigade_insert_file_unmapped(apr_bucket_brigade *bb, apr_file_t *f, apr_off_t start, apr_off_t len, apr_pool_t *p);
int rwsgi_brigade_is_empty(apr_bucket_brigade *bb);

/* ap_http_scheme(r) is a macro over a hook. */
const char *rwsgi_http_scheme(request_rec *r);

/* Apache's scoreboard, flattened for mod_wsgi.server_metrics(). */
struct rwsgi_sb_limits {
    int server_limit;
    int thread_limit;
    int running_generation;
    apr_int64_t restart_time;
};
struct rwsgi_sb_process {
    int pid;
    int generation;
    int quiescing;
};
struct rwsgi_sb_worker {
    int thread_num;
    int generation;
    char status;
    unsigned long access_count;
    apr_off_t bytes_served;
    apr_int64_t start_time;
    apr_int64_t stop_time;
    apr_int64_t last_used;
    char client[40];
    char request[64];
    char vhost[32];
};
/* 0 when there is no scoreboard (not yet, or not in this process). */
int rwsgi_scoreboard_limits(struct rwsgi_sb_limits *out);
int rwsgi_scoreboard_process(int i, struct rwsgi_sb_process *out);
int rwsgi_scoreboard_worker(int i, int j, struct rwsgi_sb_worker *out);

#endif
