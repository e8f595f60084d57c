/*
 * xlmig sim report|verify|stop SOCKET...: ask simulated guests how they
 * fared.  `verify` stops the workload and checks every block against the
 * model; the exit status says whether every guest passed.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "sim/sim_client.h"

int cmd_sim(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "";
    int status = 0;

    if (argc < 3 || (strcmp(what, "report") && strcmp(what, "verify") &&
                     strcmp(what, "stop"))) {
        fprintf(stderr, "usage: xlmig sim report|verify|stop SOCKET...\n");
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        struct xlmig_sim_report rep;
        char text[4096];
        struct xlmig_error e;
        struct xlmig_vbd *v;
        int rc;

        if (xlmig_vbd_sim_open(argv[i], &v, &e) < 0) {
            status = cli_error("%s: %s", argv[i], e.msg);
            continue;
        }
        if (!strcmp(what, "stop")) {
            rc = xlmig_sim_shutdown(v);
        } else {
            memset(&rep, 0, sizeof(rep));
            rc = !strcmp(what, "verify")
                     ? xlmig_sim_guest_stop_and_verify(v, &rep)
                     : xlmig_sim_guest_report(v, &rep);
            if (!rc) {
                xlmig_sim_report_format(&rep, text, sizeof(text));
                printf("%s:\n%s\n", argv[i], text);
                if (!xlmig_sim_report_ok(&rep))
                    status = 1;
            }
        }
        if (rc)
            status = cli_error("%s: %s", argv[i], xlmig_vbd_error(v));
        xlmig_vbd_close(v);
    }
    return status;
}
