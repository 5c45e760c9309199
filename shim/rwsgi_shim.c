#include "rwsgi_shim.h"

/* Defined in Rust (src/lib.rs); the log macros read its module_index. */
extern module AP_MODULE_DECLARE_DATA rwsgi_module;
APLOG_USE_MODULE(rwsgi);

void rwsgi_log_error(const server_rec *s, int level, apr_status_t status, const char *msg)
{
    ap_log_error(APLOG_MARK, level, status, s, "%s", msg);
}

void rwsgi_log_rerror(const request_rec *r, int level, apr_status_t status, const char *msg)
{
    ap_log_rerror(APLOG_MARK, level, status, r, "%s", msg);
}

int rwsgi_server_log_enabled(const server_rec *s, int level)
{
    return APLOG_IS_LEVEL(s, level);
}

int rwsgi_request_log_enabled(const request_rec *r, int level)
{
    return APLOG_R_IS_LEVEL(r, level);
}

void rwsgi_brigade_append_transient(apr_bucket_brigade *bb, const char *data, apr_size_t len)
{
    apr_bucket *b = apr_bucket_transient_create(data, len, bb->bucket_alloc);
    APR_BRIGADE_INSERT_TAIL(bb, b);
}

/* Takes ownership of `data`, which came from apr_bucket_alloc() with this
 * brigade's allocator: filters that keep it past the pass need not copy it. */
void rwsgi_brigade_append_owned(apr_bucket_brigade *bb, char *data, apr_size_t len)
{
    apr_bucket *b = apr_bucket_heap_create(data, len, apr_bucket_free, bb->bucket_alloc);
    APR_BRIGADE_INSERT_TAIL(bb, b);
}

void rwsgi_brigade_append_flush(apr_bucket_brigade *bb)
{
    apr_bucket *b = apr_bucket_flush_create(bb->bucket_alloc);
    APR_BRIGADE_INSERT_TAIL(bb, b);
}

void rwsgi_brigade_append_eos(apr_bucket_brigade *bb)
{
    apr_bucket *b = apr_bucket_eos_create(bb->bucket_alloc);
    APR_BRIGADE_INSERT_TAIL(bb, b);
}

void rwsgi_brigade_insert_file_unmapped(apr_bucket_brigade *bb, apr_file_t *f, apr_off_t start, apr_off_t len, apr_pool_t *p)
{
    /* The buckets inserted follow the brigade's current last one (the
     * sentinel when it is empty). */
    apr_bucket *last = APR_BRIGADE_LAST(bb);
    apr_bucket *b;
    apr_brigade_insert_file(bb, f, start, len, p);
    for (b = APR_BUCKET_NEXT(last); b != APR_BRIGADE_SENTINEL(bb); b = APR_BUCKET_NEXT(b)) {
        if (APR_BUCKET_IS_FILE(b)) {
            apr_bucket_file_enable_mmap(b, 0);
        }
    }
}

int rwsgi_brigade_is_empty(apr_bucket_brigade *bb)
{
    return APR_BRIGADE_EMPTY(bb);
}

const char *rwsgi_http_scheme(request_rec *r)
{
    return ap_http_scheme(r);
}

/* ------------------------------------------------------------------ */
/* The scoreboard (mod_wsgi.server_metrics()). */

#include "scoreboard.h"
#include "apr_strings.h"
#include "ap_mpm.h"

int rwsgi_scoreboard_limits(struct rwsgi_sb_limits *out)
{
    int server_limit = 0, thread_limit = 0, generation = 0;
    if (!ap_exists_scoreboard_image() || !ap_scoreboard_image)
        return 0;
    ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &server_limit);
    ap_mpm_query(AP_MPMQ_HARD_LIMIT_THREADS, &thread_limit);
    ap_mpm_query(AP_MPMQ_GENERATION, &generation);
    out->server_limit = server_limit;
    out->thread_limit = thread_limit;
    out->running_generation = generation;
    out->restart_time = ap_scoreboard_image->global->restart_time;
    return 1;
}

int rwsgi_scoreboard_process(int i, struct rwsgi_sb_process *out)
{
    process_score *ps;
    if (!ap_exists_scoreboard_image() || !ap_scoreboard_image)
        return 0;
    ps = ap_get_scoreboard_process(i);
    if (!ps)
        return 0;
    out->pid = ps->pid;
    out->generation = ps->generation;
    out->quiescing = ps->quiescing ? 1 : 0;
    return 1;
}

int rwsgi_scoreboard_worker(int i, int j, struct rwsgi_sb_worker *out)
{
    worker_score *ws;
    if (!ap_exists_scoreboard_image() || !ap_scoreboard_image)
        return 0;
    ws = ap_get_scoreboard_worker_from_indexes(i, j);
    if (!ws)
        return 0;
    out->thread_num = ws->thread_num;
    out->generation = ws->generation;
    switch (ws->status) {
    case SERVER_DEAD: out->status = '.'; break;
    case SERVER_STARTING: out->status = 'S'; break;
    case SERVER_READY: out->status = '_'; break;
    case SERVER_BUSY_READ: out->status = 'R'; break;
    case SERVER_BUSY_WRITE: out->status = 'W'; break;
    case SERVER_BUSY_KEEPALIVE: out->status = 'K'; break;
    case SERVER_BUSY_LOG: out->status = 'L'; break;
    case SERVER_BUSY_DNS: out->status = 'D'; break;
    case SERVER_CLOSING: out->status = 'C'; break;
    case SERVER_GRACEFUL: out->status = 'G'; break;
    case SERVER_IDLE_KILL: out->status = 'I'; break;
    default: out->status = '?'; break;
    }
    out->access_count = ws->access_count;
    out->bytes_served = ws->bytes_served;
    out->start_time = ws->start_time;
    out->stop_time = ws->stop_time;
    out->last_used = ws->last_used;
    apr_cpystrn(out->client, ws->client64, sizeof(out->client));
    apr_cpystrn(out->request, ws->request, sizeof(out->request));
    apr_cpystrn(out->vhost, ws->vhost, sizeof(out->vhost));
    return 1;
}
