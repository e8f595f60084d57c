/* glibc reaches the real one through <errno.h>. */
#include_next <linux/errno.h>
#include "../kshim.h"
