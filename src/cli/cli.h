/* The command-line client: every verb but `serve` talks to a running lambdad over HTTP. */
#ifndef LAMBDAD_CLI_H
#define LAMBDAD_CLI_H

/* Runs one CLI verb (argv[0] is the verb); returns the process exit status:
 * 0 success, 1 an API or transport error (already reported on stderr), 2 bad usage. */
int cli_main(int argc, char **argv);

#endif
