/* The Runtime API's state machine: which calls are valid when, as HTTP statuses. */
#include <string.h>

#include "rtapi/rtapi.h"

void rtapi_sm_init(struct rtapi_sm *sm)
{
	memset(sm, 0, sizeof(*sm));
	sm->state = RTAPI_INIT;
}

int rtapi_sm_next(struct rtapi_sm *sm)
{
	if (sm->parked || sm->state == RTAPI_FAILED)
		return 400;
	sm->parked = true;
	return 0;
}

int rtapi_sm_deliver(struct rtapi_sm *sm, const char *request_id)
{
	/* One invocation at a time: a /next parked while one is in flight (BUSY) waits
	 * for its response. An id that is empty or does not fit whole is refused, as a
	 * truncated copy would turn away the real id and accept its prefix. */
	size_t n = strnlen(request_id, sizeof(sm->request_id));
	if (!rtapi_sm_ready(sm) || n == 0 || n == sizeof(sm->request_id))
		return -1;
	sm->parked = false;
	/* The extensions registered for INVOKE get it too, and work on it until they ask
	 * for their next event. */
	for (unsigned i = 0; i < sm->n_ext; i++)
		if (sm->ext[i].events & RTAPI_EXT_INVOKE) {
			sm->ext[i].parked = false;
			sm->ext[i].busy = true;
		}
	sm->state = RTAPI_BUSY;
	memcpy(sm->request_id, request_id, n + 1);
	return 0;
}

void rtapi_sm_unpark(struct rtapi_sm *sm)
{
	sm->parked = false;
}

int rtapi_sm_complete(struct rtapi_sm *sm, const char *request_id)
{
	if (sm->state != RTAPI_BUSY || sm->streaming || strcmp(sm->request_id, request_id) != 0)
		return 403;
	sm->state = RTAPI_BETWEEN;
	sm->request_id[0] = 0;
	return 202;
}

int rtapi_sm_stream_begin(struct rtapi_sm *sm, const char *request_id)
{
	if (sm->state != RTAPI_BUSY || sm->streaming || strcmp(sm->request_id, request_id) != 0)
		return 403;
	sm->streaming = true;
	return 202;
}

void rtapi_sm_stream_end(struct rtapi_sm *sm)
{
	if (!sm->streaming)
		return;
	sm->streaming = false;
	sm->state = RTAPI_BETWEEN;
	sm->request_id[0] = 0;
}

int rtapi_sm_init_error(struct rtapi_sm *sm)
{
	if (sm->state != RTAPI_INIT)
		return 403;
	sm->state = RTAPI_FAILED;
	return 202;
}

/* ---- extensions ---- */

int rtapi_sm_ext_register(struct rtapi_sm *sm, const char *name, unsigned events, const char *id)
{
	size_t n = strnlen(name, sizeof(sm->ext[0].name));
	size_t idn = strnlen(id, sizeof(sm->ext[0].id));
	if (n == 0 || n == sizeof(sm->ext[0].name) || idn == 0 || idn == sizeof(sm->ext[0].id))
		return 400;
	if (sm->state != RTAPI_INIT || sm->shutdown || sm->n_ext >= RTAPI_EXT_MAX)
		return 403;
	for (unsigned i = 0; i < sm->n_ext; i++)
		if (strcmp(sm->ext[i].name, name) == 0)
			return 403;
	struct rtapi_ext *x = &sm->ext[sm->n_ext++];
	memset(x, 0, sizeof(*x));
	memcpy(x->name, name, n + 1);
	memcpy(x->id, id, idn + 1);
	x->events = events & (RTAPI_EXT_INVOKE | RTAPI_EXT_SHUTDOWN);
	return 200;
}

int rtapi_sm_ext_find(const struct rtapi_sm *sm, const char *id)
{
	for (unsigned i = 0; id && i < sm->n_ext; i++)
		if (strcmp(sm->ext[i].id, id) == 0)
			return (int)i;
	return -1;
}

int rtapi_sm_ext_next(struct rtapi_sm *sm, int i)
{
	struct rtapi_ext *x = &sm->ext[i];
	if (x->parked)
		return 400;
	if (x->owed) {
		x->owed = false;
		x->busy = true;
		return 1;
	}
	x->busy = false;
	x->parked = true;
	return 0;
}

void rtapi_sm_ext_unpark(struct rtapi_sm *sm, int i)
{
	sm->ext[i].parked = false;
}

int rtapi_sm_ext_init_error(struct rtapi_sm *sm, int i)
{
	if (sm->state != RTAPI_INIT)
		return 403;
	sm->ext[i].failed = true;
	sm->state = RTAPI_FAILED;
	return 202;
}

int rtapi_sm_ext_exit_error(struct rtapi_sm *sm, int i)
{
	sm->ext[i].failed = true;
	return 202;
}

bool rtapi_sm_ready(const struct rtapi_sm *sm)
{
	if (!sm->parked || sm->shutdown || (sm->state != RTAPI_INIT && sm->state != RTAPI_BETWEEN) ||
	    sm->n_ext < sm->ext_expected)
		return false;
	for (unsigned i = 0; i < sm->n_ext; i++)
		if (!sm->ext[i].parked && !sm->ext[i].gone)
			return false;
	return true;
}

bool rtapi_sm_ext_busy(const struct rtapi_sm *sm)
{
	for (unsigned i = 0; i < sm->n_ext; i++)
		if (sm->ext[i].busy && !sm->ext[i].gone)
			return true;
	return false;
}

bool rtapi_sm_wants_shutdown(const struct rtapi_sm *sm)
{
	for (unsigned i = 0; i < sm->n_ext; i++)
		if ((sm->ext[i].events & RTAPI_EXT_SHUTDOWN) && !sm->ext[i].gone)
			return true;
	return false;
}

unsigned rtapi_sm_shutdown(struct rtapi_sm *sm)
{
	unsigned n = 0;
	sm->shutdown = true;
	for (unsigned i = 0; i < sm->n_ext; i++) {
		struct rtapi_ext *x = &sm->ext[i];
		x->owed = x->busy = (x->events & RTAPI_EXT_SHUTDOWN) != 0 && !x->gone;
		n += x->owed;
	}
	return n;
}

int rtapi_sm_ext_take_shutdown(struct rtapi_sm *sm, int i)
{
	struct rtapi_ext *x = &sm->ext[i];
	if (!x->owed || !x->parked)
		return -1;
	x->owed = false;
	x->parked = false;
	return 0;
}

void rtapi_sm_ext_gone(struct rtapi_sm *sm, int i)
{
	struct rtapi_ext *x = &sm->ext[i];
	x->gone = true;
	x->busy = x->owed = x->parked = false;
}
