/* The command-line client: every verb but `serve` talks to a running lambdad over HTTP. */
#ifndef LAMBDAD_CLI_H
#define LAMBDAD_CLI_H

#include <stdio.h>

/* Runs one CLI verb (argv[0] is the verb); returns the process exit status:
 * 0 success, 1 an API or transport error (already reported on stderr), 2 bad usage. */
int cli_main(int argc, char **argv);
/* Every verb, serve included, with what it does. */
void cli_usage(FILE *f);

#endif
