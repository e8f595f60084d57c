/*
 * Just enough of libxenctrl and libxenstore for libxl_ctx_alloc to succeed
 * on a machine without Xen, so that unit tests can use libxl's own JSON
 * parser (libxl_domain_config_from_json needs a context).  These
 * definitions in the test executable take precedence over the shared
 * libraries' for libxenlight's calls.  Nothing else may be called.
 */
#include <stdlib.h>

static char fake_handle[4096];

void *xc_interface_open(void *logger, void *dombuild_logger, unsigned flags);
int xc_interface_close(void *xch);
void *xs_open(unsigned long flags);
void xs_close(void *xsh);

void *xc_interface_open(void *logger, void *dombuild_logger, unsigned flags)
{
    (void)logger;
    (void)dombuild_logger;
    (void)flags;
    return fake_handle;
}

int xc_interface_close(void *xch)
{
    (void)xch;
    return 0;
}

void *xs_open(unsigned long flags)
{
    (void)flags;
    return fake_handle + 64;
}

void xs_close(void *xsh)
{
    (void)xsh;
}
