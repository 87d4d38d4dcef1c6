/* The managed runtimes (python3.x, nodejsNN.x) run on the host's interpreters: which
 * versions the host has, and whether a runtime identifier can run here. */
#ifndef LAMBDAD_RUNTIMES_HOSTRT_H
#define LAMBDAD_RUNTIMES_HOSTRT_H

#include <lambdad/err.h>

/* Finds the host's python3 and node (in /usr/bin, the sandbox sees /usr) and their
 * versions. Call once at start; what is missing is only logged. */
void hostrt_detect(void);
/* 0 if runtime can run on this host, or -22 (InvalidParameterValue) with a message
 * naming what to install. provided* always can. */
int hostrt_check(const char *runtime, struct err *errp);
/* For tests: pretend the host has these versions ("3.11", "20.20.2"; NULL = missing). */
void hostrt_set(const char *python, const char *node);

#endif
