#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vbd.h"

void xlmig_vbd_close(struct xlmig_vbd *v)
{
    if (v)
        v->ops->close(v);
}

const char *xlmig_vbd_data_path(const struct xlmig_vbd *v)
{
    return v->data_path;
}

int xlmig_vbd_set_data_path(struct xlmig_vbd *v, const char *path)
{
    char *n = strdup(path);

    if (!n)
        return xlmig_fail(&v->err, ENOMEM, "out of memory");
    free(v->data_path);
    v->data_path = n;
    return 0;
}

const char *xlmig_vbd_error(const struct xlmig_vbd *v)
{
    return v->err.msg;
}
