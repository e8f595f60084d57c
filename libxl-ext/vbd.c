#include <stddef.h>

#include "vbd.h"

void xlmig_vbd_close(struct xlmig_vbd *v)
{
    if (v)
        v->ops->close(v);
}
