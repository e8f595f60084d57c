/* `xlmig jobinfo`'s text for one job (cli_jobinfo.c). */
#ifndef XLMIG_CLI_JOBINFO_H
#define XLMIG_CLI_JOBINFO_H

#include <stdio.h>

/* A job's value for key, NULL if it has none. */
typedef const char *cli_job_get(const void *job, const char *key);

void cli_jobinfo_print(FILE *f, const char *uuid, const char *role,
                       cli_job_get *get, const void *job);

#endif
