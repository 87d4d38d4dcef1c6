/* The seccomp filter of every execution environment: allow by default and refuse what
 * Docker's default profile (moby/profiles seccomp/default.json) refuses an unprivileged
 * container, plus a few calls container runtimes have refused since. LINUX ONLY. */
#include "sandbox/seccomp.h"

#include <errno.h>
#include <lambdad/cleanup.h>
#include <lambdad/xmalloc.h>
#include <sched.h>
#include <seccomp.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <linux/seccomp.h>

/* A call refused whatever its arguments. nr is its number for a call newer than the
 * libseccomp we build against (0: none); since Linux 5.1 new calls have the same
 * number on every architecture but alpha and the MIPS ABIs. */
struct refusal {
	const char *name;
	int nr;
	int err;
};

#if defined(__x86_64__) || defined(__aarch64__)
#define NEW_NR(n) (n)
#else
#define NEW_NR(n) 0
#endif

/* Docker's profile is an allowlist; this is its complement for what Linux offers
 * today, each group with the reason the kernel's own checks are not enough or the
 * capability Docker requires for it (lambdad's functions never hold one). */
static const struct refusal refusals[] = {
    /* The mount table: a function must not change what it sees or escape its root
     * (Docker: CAP_SYS_ADMIN, CAP_SYS_CHROOT; pivot_root never). */
    {"mount", 0, EPERM},
    {"umount", 0, EPERM},
    {"umount2", 0, EPERM},
    {"pivot_root", 0, EPERM},
    {"chroot", 0, EPERM},
    {"fsopen", 0, EPERM},
    {"fsconfig", 0, EPERM},
    {"fsmount", 0, EPERM},
    {"fspick", 0, EPERM},
    {"move_mount", 0, EPERM},
    {"open_tree", 0, EPERM},
    {"mount_setattr", 0, EPERM},
    /* Namespaces: new ones are the way to most user-namespace kernel bugs, and
     * joining one is a way out (Docker: CAP_SYS_ADMIN). clone is filtered on its
     * flags below; clone3 passes its flags in memory, which seccomp cannot read. */
    {"unshare", 0, EPERM},
    {"setns", 0, EPERM},
    /* Other processes' memory and files (Docker: CAP_SYS_PTRACE). */
    {"ptrace", 0, EPERM},
    {"process_vm_readv", 0, EPERM},
    {"process_vm_writev", 0, EPERM},
    {"process_madvise", 0, EPERM},
    {"pidfd_getfd", 0, EPERM},
    {"kcmp", 0, EPERM},
    /* The kernel itself: replacing it, loading code into it (Docker: CAP_SYS_BOOT,
     * CAP_SYS_MODULE; the rest are gone from Linux or never were on this ABI). */
    {"kexec_load", 0, EPERM},
    {"kexec_file_load", 0, EPERM},
    {"init_module", 0, EPERM},
    {"finit_module", 0, EPERM},
    {"delete_module", 0, EPERM},
    {"create_module", 0, EPERM},
    {"query_module", 0, EPERM},
    {"get_kernel_syms", 0, EPERM},
    {"reboot", 0, EPERM},
    /* Large attack surfaces with a history of privilege escalations: eBPF and perf
     * events (Docker: CAP_BPF, CAP_PERFMON), the keyrings, which are not namespaced
     * (Docker: never), io_uring (Docker since 25.0, after CVE-2022-2602 and
     * CVE-2023-2598), and userfaultfd, used to win kernel races (Docker: never). */
    {"bpf", 0, EPERM},
    {"perf_event_open", 0, EPERM},
    {"keyctl", 0, EPERM},
    {"add_key", 0, EPERM},
    {"request_key", 0, EPERM},
    {"io_uring_setup", 0, EPERM},
    {"io_uring_enter", 0, EPERM},
    {"io_uring_register", 0, EPERM},
    {"userfaultfd", 0, EPERM},
    /* Machine-wide state: swap, process accounting, quotas, the clock (Docker:
     * CAP_SYS_ADMIN, CAP_SYS_PACCT, CAP_SYS_TIME; adjtimex and clock_adjtime are read
     * and write in one call, and a function has no use for either), the kernel log
     * (CAP_SYSLOG), the terminal (CAP_SYS_TTY_CONFIG), the host and domain names
     * (CAP_SYS_ADMIN, even inside its own UTS namespace). */
    {"swapon", 0, EPERM},
    {"swapoff", 0, EPERM},
    {"acct", 0, EPERM},
    {"quotactl", 0, EPERM},
    {"quotactl_fd", 0, EPERM},
    {"settimeofday", 0, EPERM},
    {"stime", 0, EPERM},
    {"clock_settime", 0, EPERM},
    {"clock_settime64", 0, EPERM},
    {"adjtimex", 0, EPERM},
    {"clock_adjtime", 0, EPERM},
    {"clock_adjtime64", 0, EPERM},
    {"syslog", 0, EPERM},
    {"vhangup", 0, EPERM},
    {"sethostname", 0, EPERM},
    {"setdomainname", 0, EPERM},
    /* File handles bypass the mount namespace and the path checks: the 2014 "shocker"
     * container escape (Docker: CAP_DAC_READ_SEARCH for open_by_handle_at). */
    {"open_by_handle_at", 0, EPERM},
    {"name_to_handle_at", 0, EPERM},
    /* Whole-filesystem notification and security module attributes (Docker:
     * CAP_SYS_ADMIN). */
    {"fanotify_init", 0, EPERM},
    {"lsm_get_self_attr", NEW_NR(459), EPERM},
    {"lsm_set_self_attr", NEW_NR(460), EPERM},
    {"lsm_list_modules", NEW_NR(461), EPERM},
    /* NUMA placement reaches other processes' memory (Docker: CAP_SYS_NICE;
     * migrate_pages never). */
    {"mbind", 0, EPERM},
    {"set_mempolicy", 0, EPERM},
    {"get_mempolicy", 0, EPERM},
    {"set_mempolicy_home_node", NEW_NR(450), EPERM},
    {"move_pages", 0, EPERM},
    {"migrate_pages", 0, EPERM},
    /* Raw I/O ports (Docker: CAP_SYS_RAWIO). */
    {"iopl", 0, EPERM},
    {"ioperm", 0, EPERM},
    /* Obsolete calls, most of them gone from Linux; refused so that an old kernel
     * does not offer them (Docker: never). */
    {"sysfs", 0, EPERM},
    {"_sysctl", 0, EPERM},
    {"uselib", 0, EPERM},
    {"ustat", 0, EPERM},
    {"vm86", 0, EPERM},
    {"vm86old", 0, EPERM},
    {"lookup_dcookie", 0, EPERM},
    {"nfsservctl", 0, EPERM},
    /* clone3 is refused as "not implemented" so that the C library falls back to
     * clone (glibc 2.34 and later do), whose flags the filter can check (Docker). */
    {"clone3", 0, ENOSYS},
};

/* The CLONE_NEW* flags clone(2) takes (CLONE_NEWTIME only exists for clone3 and
 * unshare; in clone's flags 0x80 is part of the exit signal). */
static const uint32_t clone_new_flags[] = {
    CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
};

/* Socket families Docker's profile does not allow (it allows 0-11, 13-18, 21, 22, 24,
 * 26-33, 35, 36, 39, 41-45): AF_DECnet, AF_ECONET, AF_ATMSVC, AF_IRDA, AF_WANPIPE,
 * AF_IUCV, AF_CAIF, AF_ALG, AF_VSOCK, and everything from 46 on. Old, rarely used
 * protocol code is where socket CVEs live. */
static const uint32_t socket_families_refused[] = {12, 19, 20, 23, 25, 34, 37, 38, 40};
#define SOCKET_FAMILY_FIRST_UNKNOWN 46

/* personality(2) values Docker allows: PER_LINUX, PER_LINUX32, UNAME26, PER_LINUX32 |
 * UNAME26, and 0xffffffff, which only queries. Others switch on ADDR_NO_RANDOMIZE,
 * READ_IMPLIES_EXEC and friends, which weaken the process's own defences. The four
 * values are exactly the words whose only bits are among PERSONA_FREE_BITS. */
#define PERSONA_FREE_BITS 0x20008u

/* ioctls that push characters into a terminal's input: a process that shares a
 * terminal with its parent can type commands into it (CVE-2017-5226, bubblewrap). */
static const uint32_t ioctls_refused[] = {0x5412 /* TIOCSTI */, 0x541C /* TIOCLINUX */};

/* All of a 32-bit argument (the kernel truncates int arguments, so the upper half of
 * the register must not hide a refused value: CVE-2019-10063, flatpak). */
#define LOW32 0xffffffffu

static int add_rule(scmp_filter_ctx ctx, int err, int nr, const char *name, unsigned n,
                    const struct scmp_arg_cmp *cmp, struct err *errp)
{
	int r = seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(err), nr, n, cmp);
	if (r < 0)
		return err_make(errp, -r, "seccomp rule for %s", name);
	return 0;
}

/* Refuses personality(2) outside the safe values: the complement of the allowed set as
 * a union of (mask, value) patterns on the low 32 bits, since a libseccomp rule can
 * compare an argument only once. */
static int add_personality_rules(scmp_filter_ctx ctx, struct err *errp)
{
	int nr = seccomp_syscall_resolve_name("personality");
	int r;
	for (unsigned k = 0; k < 31; k++) {
		/* Bit 31 set but not every bit (0xffffffff only queries): bits 31..k+1 set, bit k clear. */
		uint32_t mask = ~((1u << k) - 1);
		struct scmp_arg_cmp c = SCMP_A0(SCMP_CMP_MASKED_EQ, mask, mask & ~(1u << k));
		if ((r = add_rule(ctx, EPERM, nr, "personality", 1, &c, errp)) < 0)
			return r;
		if ((1u << k) & PERSONA_FREE_BITS)
			continue;
		/* Bit 31 clear and bit k the highest one set outside PERSONA_FREE_BITS. */
		uint32_t mask0 = ~((1u << k) - 1) & ~PERSONA_FREE_BITS;
		struct scmp_arg_cmp c0 = SCMP_A0(SCMP_CMP_MASKED_EQ, mask0, 1u << k);
		if ((r = add_rule(ctx, EPERM, nr, "personality", 1, &c0, errp)) < 0)
			return r;
	}
	return 0;
}

static int add_arg_rules(scmp_filter_ctx ctx, struct err *errp)
{
	int r;
	int nr = seccomp_syscall_resolve_name("clone");
	for (size_t i = 0; i < ARRAY_SIZE(clone_new_flags); i++) {
		uint32_t f = clone_new_flags[i];
#if defined(__s390__) || defined(__s390x__)
		struct scmp_arg_cmp c = SCMP_A1(SCMP_CMP_MASKED_EQ, f, f); /* s390 swaps the first two */
#else
		struct scmp_arg_cmp c = SCMP_A0(SCMP_CMP_MASKED_EQ, f, f);
#endif
		if ((r = add_rule(ctx, EPERM, nr, "clone", 1, &c, errp)) < 0)
			return r;
	}

	nr = seccomp_syscall_resolve_name("socket");
	for (size_t i = 0; i < ARRAY_SIZE(socket_families_refused); i++) {
		struct scmp_arg_cmp c = SCMP_A0(SCMP_CMP_MASKED_EQ, LOW32, socket_families_refused[i]);
		if ((r = add_rule(ctx, EPERM, nr, "socket", 1, &c, errp)) < 0)
			return r;
	}
	/* Compared on all 64 bits: garbage in the upper half is refused too, which no
	 * real caller passes. */
	/* SCMP_A0 with one datum leaves datum_b to the compiler, which clang -Wextra flags. */
	struct scmp_arg_cmp fam = {
	    .arg = 0, .op = SCMP_CMP_GE, .datum_a = SOCKET_FAMILY_FIRST_UNKNOWN, .datum_b = 0};
	if ((r = add_rule(ctx, EPERM, nr, "socket", 1, &fam, errp)) < 0)
		return r;

	nr = seccomp_syscall_resolve_name("ioctl");
	for (size_t i = 0; i < ARRAY_SIZE(ioctls_refused); i++) {
		struct scmp_arg_cmp c = SCMP_A1(SCMP_CMP_MASKED_EQ, LOW32, ioctls_refused[i]);
		if ((r = add_rule(ctx, EPERM, nr, "ioctl", 1, &c, errp)) < 0)
			return r;
	}
	return add_personality_rules(ctx, errp);
}

/* Writes the filter to a memfd (libseccomp 2.5 exports only to a descriptor) and reads
 * it back into prog. */
static int export_bpf(scmp_filter_ctx ctx, struct sock_fprog *prog, struct err *errp)
{
	autoclose int fd = memfd_create("lambdad-seccomp", MFD_CLOEXEC);
	if (fd < 0)
		return err_make(errp, errno, "memfd_create");
	int r = seccomp_export_bpf(ctx, fd);
	if (r < 0)
		return err_make(errp, -r, "seccomp_export_bpf");
	off_t size = lseek(fd, 0, SEEK_END);
	if (size < 0)
		return err_make(errp, errno, "lseek on the exported filter");
	if (size == 0 || size % (off_t)sizeof(struct sock_filter) != 0)
		return err_make(errp, EINVAL, "exported filter has %lld bytes", (long long)size);
	if (size / (off_t)sizeof(struct sock_filter) > BPF_MAXINSNS)
		return err_make(errp, E2BIG, "filter has %lld instructions, more than the kernel's %d",
		                (long long)(size / (off_t)sizeof(struct sock_filter)), BPF_MAXINSNS);

	autofree struct sock_filter *insns = xmalloc((size_t)size);
	for (off_t done = 0; done < size;) {
		ssize_t n = pread(fd, (char *)insns + done, (size_t)(size - done), done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return err_make(errp, n < 0 ? errno : EIO, "reading the exported filter back");
		done += n;
	}
	prog->len = (unsigned short)(size / (off_t)sizeof(struct sock_filter));
	prog->filter = steal_ptr(&insns);
	return 0;
}

int sbx_seccomp_build(struct sock_fprog *prog, struct err *errp)
{
	prog->len = 0;
	prog->filter = NULL;

	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx)
		return err_make(errp, ENOMEM, "seccomp_init");
	int r;
	/* Only the native ABI: a foreign one (i386 through int 0x80, or x32 on x86-64,
	 * whose calls libseccomp sends to this action as well) has other numbers for the
	 * same calls and would slip past every rule. */
	if ((r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS)) < 0) {
		r = err_make(errp, -r, "seccomp: bad-architecture action");
		goto out;
	}
	/* A binary search over the rules rather than a list: every allowed call pays. */
	(void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);

	for (size_t i = 0; i < ARRAY_SIZE(refusals); i++) {
		const struct refusal *f = &refusals[i];
		int nr = seccomp_syscall_resolve_name(f->name);
		if (nr == __NR_SCMP_ERROR) {
			if (!f->nr)
				continue; /* unknown to libseccomp and too old to be universal */
			nr = f->nr;
		}
		if (nr < 0)
			continue; /* a pseudo-number: not a call of this architecture */
		if ((r = add_rule(ctx, f->err, nr, f->name, 0, NULL, errp)) < 0)
			goto out;
	}
	if ((r = add_arg_rules(ctx, errp)) < 0)
		goto out;
	r = export_bpf(ctx, prog, errp);
out:
	seccomp_release(ctx);
	return r;
}

void sbx_seccomp_free(struct sock_fprog *prog)
{
	if (!prog)
		return;
	free(prog->filter);
	prog->filter = NULL;
	prog->len = 0;
}

int sbx_seccomp_install(const struct sock_fprog *prog)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog) == 0)
		return 0;
	if (errno != ENOSYS)
		return -errno;
	/* Before Linux 3.17 only prctl installs a filter. */
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, prog, 0, 0) < 0)
		return -errno;
	return 0;
}
