/* lambdad: `serve` runs the server; every other verb is the CLI (src/cli). */
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <getopt.h>
#include <lambdad/cleanup.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "svc/lambda/api.h"
#include "auth/auth.h"
#include "base/clock.h"
#include "async/async.h"
#include "cli/cli.h"
#include "runtimes/hostrt.h"
#include "loop/pool.h"
#include "loop/reap.h"
#include "sandbox/sandbox.h"
#include "sched/sched.h"
#include "store/store.h"
#include "svc/sqs/sqs.h"

static void serve_usage(FILE *f)
{
	fprintf(f, "usage: lambdad serve [options]\n"
	           "Serves the AWS Lambda API and runs functions.\n\n"
	           "  --listen HOST:PORT          API address (default 127.0.0.1:4566; port 0: any free\n"
	           "                              port, see --port-file)\n"
	           "  --port-file PATH            once listening, write the port number there (atomically:\n"
	           "                              PATH appears complete or not at all)\n"
	           "  --data DIR                  data directory (default ./data)\n"
	           "  --keep-alive DURATION       idle environments are reaped after this (default 10m;\n"
	           "                              e.g. 500ms, 30s, 10m, 0 = never reuse)\n"
	           "  --account-concurrency N     invocations in flight at most (default 1000)\n"
	           "  --shutdown-grace DURATION   on SIGTERM or SIGINT, stop accepting and let invocations\n"
	           "                              in flight finish for up to this long, then stop every\n"
	           "                              environment (default 30s; 0 = stop at once); a second\n"
	           "                              signal stops at once\n"
	           "  --scaling-rate N            new environments per function per 10 s (default 1000)\n"
	           "  --async-retry-delays D1,D2  delays before the 1st and 2nd retry of a failed async\n"
	           "                              event (default 1m,2m)\n"
	           "  --max-memory SIZE|none      bound on the sum of MemorySize of live environments,\n"
	           "                              e.g. 8G or 4096M (default: total memory less 10%%,\n"
	           "                              at least 1G kept for the host)\n"
	           "  --region REGION             region in ARNs and AWS_REGION (default us-east-1)\n"
	           "  --account-id ID             the 12-digit account id in ARNs and messages\n"
	           "                              (default 000000000000)\n"
	           "  --isolation MODE            auto (default: the best this machine offers), strict\n"
	           "                              (namespaces, cgroups and seccomp or refuse to start)\n"
	           "                              or none (process groups, for development)\n"
	           "  --function-network MODE     none (default: loopback only inside each sandbox),\n"
	           "                              outbound (TCP and UDP out through slirp4netns, never\n"
	           "                              to the host's loopback), or outbound-with-api (the\n"
	           "                              same, and the API may listen on a reachable address)\n"
	           "  --cpu-limit MODE            weight (default: CPU in proportion to MemorySize only\n"
	           "                              when the machine is contended, never withheld when\n"
	           "                              idle) or quota (Lambda's strict MemorySize/1769 of a\n"
	           "                              CPU, from the end of init; init is never throttled)\n"
	           "  --function-host-port PORT   127.0.0.1:PORT inside each sandbox reaches 127.0.0.1:PORT\n"
	           "                              on the host (a database on this machine, say), relayed\n"
	           "                              by the server; repeatable, up to 16 ports\n"
	           "  --sandbox-pool N            blank sandboxes kept ready ahead of demand (default 4)\n"
	           "  --runtime-dir DIR           the managed runtimes (python, node), shown read-only at\n"
	           "                              /var/runtime (default: runtimes/ beside the build dir)\n"
	           "  --runtime-path ID=PATH      the interpreter of a managed runtime, e.g.\n"
	           "                              python3.12=/opt/py312/bin/python3 (repeatable; default\n"
	           "                              /usr/bin/python3 and /usr/bin/node); its directory is\n"
	           "                              shown read-only in the sandbox\n"
	           "  --runtime-paths FILE        the same, one ID=PATH a line (# comments)\n"
	           "  --auth MODE                 none (every request served unsigned: the default while\n"
	           "                              --listen is on loopback) or sigv4 (every request signed\n"
	           "                              with an access key of the data directory, as AWS's; the\n"
	           "                              root key is made on first start, in DIR/credentials)\n"
	           "  --i-know                    with --auth none, listen on a non-loopback address anyway\n"
	           "  --auth-test-credentials     also accept the access key test with the secret test\n"
	           "                              (CI, as LocalStack does)\n"
	           "  --log-level LEVEL           debug, info, warn or error (default info)\n"
	           "  -h, --help                  this help\n");
}

/* Parses "8G", "4096M", a bare number of MB, or "none" (0: no bound); -1 if malformed. */
static int64_t parse_size_mb(const char *s)
{
	if (strcmp(s, "none") == 0)
		return 0;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || v < 1)
		return -1;
	if (strcmp(end, "G") == 0 || strcmp(end, "GB") == 0 || strcmp(end, "GiB") == 0)
		v *= 1024;
	else if (strcmp(end, "T") == 0 || strcmp(end, "TB") == 0 || strcmp(end, "TiB") == 0)
		v *= 1024 * 1024;
	else if (*end && strcmp(end, "M") != 0 && strcmp(end, "MB") != 0 && strcmp(end, "MiB") != 0)
		return -1;
	return (int64_t)v;
}

/* Most of the machine: its memory less 10%, and at least 1 GiB left to the host. */
static int64_t default_max_memory_mb(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
	if (pages <= 0 || psize <= 0)
		return 0;
	int64_t total = (int64_t)pages * psize / (1024 * 1024);
	int64_t keep = total / 10 > 1024 ? total / 10 : 1024;
	return total > keep + 128 ? total - keep : 128;
}

/* How often the drain looks at the invocations still in flight. */
#define DRAIN_TICK_MS 20

/* Shutdown. The first SIGTERM or SIGINT closes the listener and lets the invocations
 * in flight finish for up to grace_ms; when none is left, the grace period is over or a
 * second signal comes, the loop ends and serve() tears everything down. */
struct drain {
	struct event_base *base;
	struct api *api;
	struct sched *sched;
	int64_t grace_ms;
	unsigned signals;    /* SIGTERM and SIGINT received */
	bool stopped;        /* the loop was told to end */
	struct event *tick;  /* every DRAIN_TICK_MS while draining */
	struct event *grace; /* once, when the grace period is over */
};

static void drain_stop(struct drain *d)
{
	d->stopped = true;
	event_del(d->tick);
	event_del(d->grace);
	event_base_loopexit(d->base, NULL);
}

static void drain_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct drain *d = arg;
	if (sched_inflight(d->sched) > 0 || api_deploys_in_flight(d->api) > 0)
		return;
	log_info("lambdad: every invocation in flight has finished, stopping");
	drain_stop(d);
}

static void drain_grace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct drain *d = arg;
	log_warn("lambdad: shutdown grace period over, stopping now; invocations cut short: %u "
	         "(answered ServiceException)",
	         sched_inflight(d->sched));
	drain_stop(d);
}

static void stop_cb(evutil_socket_t sig, short what, void *arg)
{
	struct drain *d = arg;
	const char *name = sig == SIGINT ? "SIGINT" : "SIGTERM";
	if (d->stopped) {
		log_info("lambdad: %s, already stopping", name);
		return;
	}
	uint32_t n = sched_inflight(d->sched);
	if (++d->signals > 1) {
		log_warn(
		    "lambdad: %s again, stopping now; invocations cut short: %u (answered ServiceException)",
		    name, n);
		drain_stop(d);
		return;
	}
	api_stop_accepting(d->api);
	unsigned deploys = api_deploys_in_flight(d->api);
	if (deploys > 0)
		log_info("lambdad: %s: deploys in flight: %u", name, deploys);
	if (n == 0 && deploys == 0) {
		log_info("lambdad: %s, stopping: no invocation in flight", name);
		drain_stop(d);
	} else if (d->grace_ms == 0) {
		log_warn("lambdad: %s, stopping now (--shutdown-grace 0); invocations cut short: %u "
		         "(answered ServiceException)",
		         name, n);
		drain_stop(d);
	} else {
		log_info("lambdad: %s, stopping: new connections are refused; waiting up to %lld ms for the "
		         "invocations in flight: %u (a second signal stops at once)",
		         name, (long long)d->grace_ms, n);
		struct timeval tick = {0, DRAIN_TICK_MS * 1000};
		struct timeval grace = {(time_t)(d->grace_ms / 1000),
		                        (suseconds_t)(d->grace_ms % 1000 * 1000)};
		evtimer_add(d->tick, &tick);
		evtimer_add(d->grace, &grace);
	}
}

/* Writes "PORT\n" to path through a temporary file renamed over it, so a reader polling
 * for path sees the whole number or nothing. */
static int write_port_file(const char *path, uint16_t port, struct err *errp)
{
	autofree char *tmp = xasprintf("%s.%ld.tmp", path, (long)getpid());
	FILE *f = fopen(tmp, "w");
	if (!f)
		return err_make(errp, errno, "--port-file: cannot create %s: %s", tmp, strerror(errno));
	bool ok = fprintf(f, "%u\n", port) > 0;
	ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp, path) < 0) {
		int saved = errno ? errno : EIO;
		unlink(tmp);
		return err_make(errp, saved, "--port-file: cannot write %s: %s", path, strerror(saved));
	}
	return 0;
}

/* One server per data directory: an exclusive flock on DIR/lambdad.lock, held by the
 * returned descriptor (close-on-exec) for the life of the process. The kernel drops a
 * flock with the last descriptor of its open file, so a server killed with SIGKILL
 * leaves no stale lock. The file holds the holder's pid, for the next one's message.
 * Returns the descriptor; -EWOULDBLOCK when another process holds it (*holder: its pid,
 * 0 when unknown), or another negative errno; both with a message. */
static int lock_data_dir(const char *dir, long *holder, struct err *errp)
{
	*holder = 0;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return err_make(errp, errno, "cannot create data directory %s: %s", dir, strerror(errno));
	autofree char *path = xasprintf("%s/lambdad.lock", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return err_make(errp, errno, "cannot open %s: %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		char buf[32] = {0};
		if (e == EWOULDBLOCK && pread(fd, buf, sizeof(buf) - 1, 0) > 0)
			*holder = strtol(buf, NULL, 10);
		close(fd);
		if (e != EWOULDBLOCK)
			return err_make(errp, e, "cannot lock %s: %s", path, strerror(e));
		if (*holder > 0)
			return err_make(errp, e,
			                "data directory %s is in use by another lambdad (pid %ld holds %s); "
			                "stop it or pass another --data",
			                dir, *holder, path);
		return err_make(errp, e,
		                "data directory %s is in use by another lambdad (it holds %s); stop it or "
		                "pass another --data",
		                dir, path);
	}
	char pid[32];
	int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
		log_warn("lambdad: cannot write the pid to %s: %s", path, strerror(errno));
	return fd;
}

/* Each environment holds a few descriptors (listener, connection, output pipe): lift
 * the soft limit to the hard one so hundreds of environments fit. */
static void raise_nofile_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_warn("lambdad: cannot raise the open-file limit: %s", strerror(errno));
	}
}

static int serve(int argc, char **argv)
{
	const char *listen = "127.0.0.1:4566", *data = "./data", *region = "us-east-1";
	const char *account = "000000000000";
	int64_t keep_alive_ms = 10 * 60 * 1000;
	int64_t grace_ms = 30 * 1000;
	long concurrency = 1000, pool = 4, scaling_rate = 1000;
	int64_t max_memory_mb = default_max_memory_mb();
	int64_t async_delays[2] = {0, 0};
	const char *runtime_dir = NULL, *port_file = NULL;
	enum sandbox_isolation isolation = SANDBOX_AUTO;
	enum sandbox_network network = SANDBOX_NET_NONE;
	enum sandbox_cpu_limit cpu_limit = SANDBOX_CPU_WEIGHT;
	bool network_api = false;
	uint16_t host_ports[16];
	unsigned nhost_ports = 0;
	const char *auth_mode = NULL;
	bool auth_i_know = false, auth_test = false;
	static const struct option opts[] = {
	    {"auth", required_argument, NULL, 'U'},
	    {"i-know", no_argument, NULL, 'K'},
	    {"auth-test-credentials", no_argument, NULL, 'T'},
	    {"function-host-port", required_argument, NULL, 'H'},
	    {"isolation", required_argument, NULL, 'i'},
	    {"function-network", required_argument, NULL, 'n'},
	    {"cpu-limit", required_argument, NULL, 'C'},
	    {"sandbox-pool", required_argument, NULL, 'p'},
	    {"runtime-dir", required_argument, NULL, 'R'},
	    {"listen", required_argument, NULL, 'l'},
	    {"port-file", required_argument, NULL, 'P'},
	    {"data", required_argument, NULL, 'd'},
	    {"keep-alive", required_argument, NULL, 'k'},
	    {"account-concurrency", required_argument, NULL, 'c'},
	    {"shutdown-grace", required_argument, NULL, 'g'},
	    {"scaling-rate", required_argument, NULL, 'S'},
	    {"async-retry-delays", required_argument, NULL, 'A'},
	    {"max-memory", required_argument, NULL, 'M'},
	    {"region", required_argument, NULL, 'r'},
	    {"account-id", required_argument, NULL, 'a'},
	    {"log-level", required_argument, NULL, 'v'},
	    {"runtime-path", required_argument, NULL, 'I'},
	    {"runtime-paths", required_argument, NULL, 'F'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'U':
			if (strcmp(optarg, "none") != 0 && strcmp(optarg, "sigv4") != 0) {
				fprintf(stderr, "lambdad: --auth: none or sigv4, not %s\n", optarg);
				return 2;
			}
			auth_mode = optarg;
			break;
		case 'K':
			auth_i_know = true;
			break;
		case 'T':
			auth_test = true;
			break;
		case 'l':
			listen = optarg;
			break;
		case 'P':
			port_file = optarg;
			break;
		case 'd':
			data = optarg;
			break;
		case 'r':
			region = optarg;
			break;
		case 'a':
			/* AWS account ids are exactly 12 digits; ARNs and queue URLs carry them. */
			if (strlen(optarg) != 12 || strspn(optarg, "0123456789") != 12) {
				fprintf(stderr, "lambdad: --account-id: not 12 digits: %s\n", optarg);
				return 2;
			}
			account = optarg;
			break;
		case 'k':
			if ((keep_alive_ms = clock_parse_duration_ms(optarg, strlen(optarg))) < 0) {
				fprintf(stderr, "lambdad: --keep-alive: not a duration: %s\n", optarg);
				return 2;
			}
			break;
		case 'g':
			if ((grace_ms = clock_parse_duration_ms(optarg, strlen(optarg))) < 0) {
				fprintf(stderr, "lambdad: --shutdown-grace: not a duration: %s\n", optarg);
				return 2;
			}
			break;
		case 'c': {
			char *end;
			concurrency = strtol(optarg, &end, 10);
			if (*end || concurrency < 1 || concurrency > 1000000) {
				fprintf(stderr, "lambdad: --account-concurrency: not a count from 1: %s\n",
				        optarg);
				return 2;
			}
			break;
		}
		case 'S': {
			char *end;
			scaling_rate = strtol(optarg, &end, 10);
			if (*end || scaling_rate < 1 || scaling_rate > 1000000) {
				fprintf(stderr, "lambdad: --scaling-rate: not a count from 1: %s\n", optarg);
				return 2;
			}
			break;
		}
		case 'A':
			if (async_parse_delays(optarg, async_delays) < 0) {
				fprintf(stderr,
				        "lambdad: --async-retry-delays: two durations, e.g. 1s,2s: %s\n",
				        optarg);
				return 2;
			}
			break;
		case 'M':
			if ((max_memory_mb = parse_size_mb(optarg)) < 0) {
				fprintf(stderr,
				        "lambdad: --max-memory: not a size (e.g. 8G, 4096M or none): %s\n",
				        optarg);
				return 2;
			}
			break;
		case 'i':
			if (strcmp(optarg, "auto") == 0)
				isolation = SANDBOX_AUTO;
			else if (strcmp(optarg, "strict") == 0)
				isolation = SANDBOX_STRICT;
			else if (strcmp(optarg, "none") == 0)
				isolation = SANDBOX_NONE;
			else {
				fprintf(stderr, "lambdad: --isolation: auto, strict or none\n");
				return 2;
			}
			break;
		case 'n':
			if (strcmp(optarg, "none") == 0)
				network = SANDBOX_NET_NONE;
			else if (strcmp(optarg, "outbound") == 0)
				network = SANDBOX_NET_OUTBOUND;
			else if (strcmp(optarg, "outbound-with-api") == 0)
				network = SANDBOX_NET_OUTBOUND, network_api = true;
			else {
				fprintf(stderr,
				        "lambdad: --function-network: none, outbound or outbound-with-api\n");
				return 2;
			}
			break;
		case 'C':
			if (strcmp(optarg, "weight") == 0)
				cpu_limit = SANDBOX_CPU_WEIGHT;
			else if (strcmp(optarg, "quota") == 0)
				cpu_limit = SANDBOX_CPU_QUOTA;
			else {
				fprintf(stderr, "lambdad: --cpu-limit: weight or quota: %s\n", optarg);
				return 2;
			}
			break;
		case 'H': {
			char *end;
			long hp = strtol(optarg, &end, 10);
			/* 9001 and 4566 inside are the Runtime API's and lambdad's own. */
			if (*end || end == optarg || hp < 1 || hp > 65535 || hp == 9001 || hp == 4566) {
				fprintf(stderr,
				        "lambdad: --function-host-port: a TCP port from 1 to 65535, not "
				        "9001 or 4566 (the Runtime API's and lambdad's inside): %s\n",
				        optarg);
				return 2;
			}
			if (nhost_ports == sizeof(host_ports) / sizeof(host_ports[0])) {
				fprintf(stderr, "lambdad: --function-host-port: at most 16 ports\n");
				return 2;
			}
			host_ports[nhost_ports++] = (uint16_t)hp;
			break;
		}
		case 'p': {
			char *end;
			pool = strtol(optarg, &end, 10);
			if (*end || pool < 0 || pool > 64) {
				fprintf(stderr, "lambdad: --sandbox-pool: a count from 0 to 64: %s\n",
				        optarg);
				return 2;
			}
			break;
		}
		case 'R':
			runtime_dir = optarg;
			break;
		case 'I':
		case 'F': {
			struct err me = {0};
			if ((ch == 'I' ? hostrt_map(optarg, &me) : hostrt_map_file(optarg, &me)) < 0) {
				fprintf(stderr, "lambdad: %s\n", me.msg);
				return 2;
			}
			break;
		}
		case 'v':
			if (strcmp(optarg, "debug") == 0)
				log_set_level(LOG_DEBUG);
			else if (strcmp(optarg, "info") == 0)
				log_set_level(LOG_INFO);
			else if (strcmp(optarg, "warn") == 0)
				log_set_level(LOG_WARN);
			else if (strcmp(optarg, "error") == 0)
				log_set_level(LOG_ERROR);
			else {
				fprintf(stderr, "lambdad: --log-level: debug, info, warn or error\n");
				return 2;
			}
			break;
		case 'h':
			serve_usage(stdout);
			return 0;
		default:
			serve_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		serve_usage(stderr);
		return 2;
	}
	char host[256];
	const char *colon = strrchr(listen, ':');
	char *end;
	long port = colon ? strtol(colon + 1, &end, 10) : -1;
	if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof(host) || *end || port < 0 ||
	    port > 65535) {
		fprintf(stderr, "lambdad: --listen wants HOST:PORT, got %s\n", listen);
		return 2;
	}
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = 0;
	/* Outbound functions reach every host address but loopback: an API listening
	 * elsewhere would be theirs to call unless the operator says so. */
	if (network == SANDBOX_NET_OUTBOUND && !network_api && strncmp(host, "127.", 4) != 0 &&
	    strcmp(host, "localhost") != 0 && strcmp(host, "[::1]") != 0 && strcmp(host, "::1") != 0) {
		fprintf(stderr,
		        "lambdad: with --function-network outbound, functions could reach the API on %s: "
		        "listen on 127.0.0.1, or pass --function-network outbound-with-api\n",
		        host);
		return 2;
	}

	/* Unsigned requests are served only where no one else can send them. */
	bool loopback = strncmp(host, "127.", 4) == 0 || strcmp(host, "localhost") == 0 ||
	                strcmp(host, "[::1]") == 0 || strcmp(host, "::1") == 0;
	bool sigv4 = auth_mode && strcmp(auth_mode, "sigv4") == 0;
	if (!loopback && !sigv4 && !(auth_mode && auth_i_know)) {
		fprintf(
		    stderr,
		    "lambdad: --listen %s is not a loopback address: anyone who reaches it could call the "
		    "API unsigned; pass --auth sigv4, or --auth none --i-know to serve it unsigned anyway\n",
		    listen);
		return 2;
	}
	if (auth_test && !sigv4) {
		fprintf(stderr, "lambdad: --auth-test-credentials needs --auth sigv4\n");
		return 2;
	}

	struct err lock_err = {0};
	long holder;
	autoclose int lock_fd = lock_data_dir(data, &holder, &lock_err);
	if (lock_fd < 0) {
		fprintf(stderr, "lambdad: %s\n", lock_err.msg);
		return 2;
	}
	struct err he = {0};
	if (hostrt_detect(&he) < 0) {
		fprintf(stderr, "lambdad: %s\n", he.msg);
		return 2;
	}
	const char *interp_dirs[16] = {NULL};
	hostrt_extra_dirs(interp_dirs, ARRAY_SIZE(interp_dirs) - 1);
	/* The project's runtimes: beside the binary's directory (build/lambdad -> runtimes/). */
	autofree char *default_rt = NULL;
	if (!runtime_dir) {
		char self[4096];
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n > 0) {
			self[n] = 0;
			char *slash = strrchr(self, '/');
			if (slash)
				*slash = 0;
			default_rt = xasprintf("%s/../runtimes", self);
			if (access(default_rt, R_OK | X_OK) == 0)
				runtime_dir = default_rt;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	raise_nofile_limit();
	struct event_base *base = event_base_new();
	if (!base) {
		fprintf(stderr, "lambdad: cannot create the event loop\n");
		return 1;
	}
	struct err e = {0};
	struct store *st = NULL;
	struct pool *workers = NULL;
	struct sched *sc = NULL;
	struct reap *reap = NULL;
	struct api *api = NULL;
	struct sqs *sqs = NULL;
	struct auth *auth = NULL;
	struct event *sigterm = NULL, *sigint = NULL;
	struct drain drain = {.base = base, .grace_ms = grace_ms};
	int rc = 1;
	autofree char *logs_dir = NULL;
	autofree char *host_url = NULL;
	bool sandbox_up = false;
	if (reap_new(base, &reap, &e) < 0)
		goto out;
	if (store_new(data, &st, &e) < 0 || pool_new(base, 2, &workers, &e) < 0)
		goto out;
	/* The store's fsyncs run on the pool (two threads: a checkpoint never holds up a
	 * group's fdatasync); its completions come back to this loop. */
	store_set_loop(st, base, workers);
	struct auth_config aucfg = {
	    .mode = sigv4 ? AUTH_SIGV4 : AUTH_NONE, .test_credentials = auth_test, .account = account};
	if (auth_new(st, workers, &aucfg, &auth, &e) < 0)
		goto out;
	log_info("lambdad: --auth %s; root access key %s (its secret is in %s)", sigv4 ? "sigv4" : "none",
	         auth_root_key_id(auth), auth_root_file(auth));
	logs_dir = xasprintf("%s/logs", store_data_dir(st));
	struct sandbox_options sopt = {.isolation = isolation,
	                               .network = network,
	                               .cpu_limit = cpu_limit,
	                               .state_dir = store_data_dir(st),
	                               .runtime_dir = runtime_dir,
	                               .ro_dirs = interp_dirs,
	                               .pool_size = (unsigned)pool,
	                               .base = base,
	                               .reap = reap,
	                               .host_ports = host_ports,
	                               .nhost_ports = nhost_ports};
	if (sandbox_init(&sopt, &e) < 0)
		goto out;
	sandbox_up = true;
	log_info("lambdad: environments run in %s", sandbox_describe());
	struct sched_config scfg = {
	    .logs_dir = logs_dir,
	    .keep_alive_ms = keep_alive_ms,
	    .account_concurrency = (uint32_t)concurrency,
	    .scale_per_10s = (uint32_t)scaling_rate,
	    .max_memory_mb = (uint64_t)max_memory_mb,
	    .init_timeout_ms = 10000,
	    .region = region,
	    .account = account,
	    .access_key_id = sigv4 ? auth_root_key_id(auth) : NULL,
	    .secret_access_key = sigv4 ? auth_root_secret(auth) : NULL,
	};
	if (sched_new(base, st, &scfg, &sc, &e) < 0)
		goto out;
	struct api_config acfg = {.region = region,
	                          .account = account,
	                          .logs_dir = logs_dir,
	                          .account_concurrency = (uint32_t)concurrency,
	                          .async_retry_delays_ms = {async_delays[0], async_delays[1]},
	                          .verify = sigv4 ? auth_front_verify : NULL,
	                          .verify_arg = auth};
	if (api_new(base, st, sc, &acfg, &api, &e) < 0)
		goto out;
	struct sqs_config qcfg = {.region = region, .account = account};
	if (sqs_new(base, st, &qcfg, &sqs, &e) < 0)
		goto out;
	sqs_attach(sqs, api_front(api), api_metrics(api));
	if (api_listen(api, host, (uint16_t)port, &e) < 0)
		goto out;
	port = api_port(api);
	/* Functions reach the API: inside a sandbox on its own 127.0.0.1:4566, served as
	 * this port is; on the host (isolation none) at this address. */
	host_url =
	    xasprintf("http://%s:%ld", strcmp(host, "0.0.0.0") == 0 || !host[0] ? "127.0.0.1" : host, port);
	struct sandbox_api sapi = {
	    .serve = api_serve_listener, .unserve = api_unserve_listener, .arg = api, .host_url = host_url};
	sandbox_set_api(&sapi);
	if (port_file && write_port_file(port_file, (uint16_t)port, &e) < 0)
		goto out;
	drain.api = api;
	drain.sched = sc;
	drain.tick = event_new(base, -1, EV_PERSIST, drain_tick_cb, &drain);
	drain.grace = evtimer_new(base, drain_grace_cb, &drain);
	sigterm = evsignal_new(base, SIGTERM, stop_cb, &drain);
	sigint = evsignal_new(base, SIGINT, stop_cb, &drain);
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);
	log_info("lambdad: serving the Lambda API on http://%s:%ld, data in %s", host, port, data);
	event_base_dispatch(base);
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "lambdad: %s\n", e.msg);
	/* Stop, then free in the reverse order of creation. */
	if (api)
		api_stop_accepting(api);
	sched_stop(sc);
	sqs_free(sqs); /* answers its waiting receives while the transport is up */
	api_free(api);
	sched_free(sc);
	if (sandbox_up)
		sandbox_fini();
	auth_free(auth);
	store_free(st);
	pool_free(workers);
	reap_free(reap);
	/* The signal events live until here, so a signal during the teardown is absorbed
	 * instead of killing the process halfway. */
	if (sigterm)
		event_free(sigterm);
	if (sigint)
		event_free(sigint);
	if (drain.tick)
		event_free(drain.tick);
	if (drain.grace)
		event_free(drain.grace);
	event_base_free(base);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		cli_usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		cli_usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "serve") == 0)
		return serve(argc - 1, argv + 1);
	return cli_main(argc - 1, argv + 1);
}
