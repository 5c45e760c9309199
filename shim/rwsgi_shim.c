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
