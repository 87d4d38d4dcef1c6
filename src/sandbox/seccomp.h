/* The seccomp filter every execution environment runs under: built once in the server
 * with libseccomp, installed by the sandbox child right before execve. LINUX ONLY. */
#ifndef LAMBDAD_SANDBOX_SECCOMP_H
#define LAMBDAD_SANDBOX_SECCOMP_H

#include <lambdad/err.h>

#include <linux/filter.h>

/* Builds the filter (default allow; refuses what a default container profile refuses
 * an unprivileged container, see seccomp.c) and exports it as a classic BPF program
 * into *prog, which owns prog->filter afterwards; release it with sbx_seccomp_free().
 * Returns 0, or a negative errno with a message in *errp and *prog left empty. */
int sbx_seccomp_build(struct sock_fprog *prog, struct err *errp);

/* Frees what sbx_seccomp_build() put in *prog and leaves it empty. prog may be NULL,
 * and an empty or already freed prog is a no-op. */
void sbx_seccomp_free(struct sock_fprog *prog);

/* Sets PR_SET_NO_NEW_PRIVS and installs prog (borrowed) on the calling thread. Meant
 * for the sandbox child between fork and execve: async-signal-safe, no allocation, no
 * libseccomp. Returns 0 or a negative errno (then the filter is not installed, though
 * no_new_privs may already be set). */
int sbx_seccomp_install(const struct sock_fprog *prog);

#endif
