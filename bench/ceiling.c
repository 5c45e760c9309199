/* The benchmark's ceiling: the least an Apache content handler can do. It
 * writes the hello body (handler bench-hello) or the same 1 MiB as big.wsgi
 * (bench-big) from static memory. bench/run.py builds it with apxs. */
#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"

static char big[1 << 20];

static int ceiling_handler(request_rec *r)
{
    int is_big = r->handler && !strcmp(r->handler, "bench-big");
    if (!r->handler || (!is_big && strcmp(r->handler, "bench-hello")))
        return DECLINED;
    ap_set_content_type(r, is_big ? "application/octet-stream" : "text/plain");
    ap_set_content_length(r, is_big ? sizeof(big) : 14);
    if (!r->header_only)
        ap_rwrite(is_big ? big : "Hello, world!\n", is_big ? sizeof(big) : 14, r);
    return OK;
}

static void ceiling_hooks(apr_pool_t *p)
{
    for (int i = 0; i < (int)sizeof(big); i++)
        big[i] = (char)(i & 0xff);
    ap_hook_handler(ceiling_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

module AP_MODULE_DECLARE_DATA ceiling_module = {
    STANDARD20_MODULE_STUFF, NULL, NULL, NULL, NULL, NULL, ceiling_hooks
};
